package relay

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestFailedRequestsAreLoggedBounded: a request no upstream served gets an
// error log row (status, code, channel tried, elapsed), and a flood of them
// from one key gets at most failureLogsPerMinute rows a minute.
func TestFailedRequestsAreLoggedBounded(t *testing.T) {
	b := setup(t)
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"error":{"message":"overloaded","type":"server_error","code":"overloaded"}}`)
	})
	chID := b.channel(up.URL, channelOpts{})
	key := b.token(tokenOpts{})
	res := b.post("/v1/chat/completions", key, chatBody)
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d", res.StatusCode)
	}
	var content string
	var channel, elapsed int64
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := b.pool.QueryRow(context.Background(), "SELECT content, channel_id, elapsed_ms FROM logs WHERE type = $1", LogTypeError).Scan(&content, &channel, &elapsed)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no error log row: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(content, "status 503") || !strings.Contains(content, "overloaded") || channel != chID || elapsed < 0 {
		t.Fatalf("error row: %q channel %d elapsed %d", content, channel, elapsed)
	}
	if n := b.scalar("SELECT count(*) FROM logs WHERE type = 2"); n != 0 {
		t.Fatalf("%d consumption rows for a failed request", n)
	}
	for i := 0; i < failureLogsPerMinute+20; i++ {
		res := b.post("/v1/chat/completions", key, chatBody)
		res.Body.Close()
	}
	b.settled(0)
	time.Sleep(2 * settleEvery)
	if n := b.scalar("SELECT count(*) FROM logs WHERE type = $1", LogTypeError); n != failureLogsPerMinute {
		t.Fatalf("%d error rows for a flood, want the bound %d", n, failureLogsPerMinute)
	}
}
