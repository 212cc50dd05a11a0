package relay

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"oneapi/state"
	"oneapi/successrate"
)

// TestSuccessRateDisablesFailingChannel covers ENABLE_METRIC: a channel
// whose last attempts fail more often than the threshold allows is disabled
// automatically, while client-caused failures never count against it.
func TestSuccessRateDisablesFailingChannel(t *testing.T) {
	b := setup(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := httptest.NewServer(NewServer(b.st, b.meter, NewClient(nil), log, Config{SuccessRate: successrate.New(4, 0.5)}))
	t.Cleanup(srv.Close)
	post := func(key, model string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/chat/completions",
			strings.NewReader(`{"model":"`+model+`","messages":[{"role":"user","content":"hi"}]}`))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	status := func(id int64) int64 { return b.scalar("SELECT status FROM channels WHERE id = $1", id) }
	key := b.token(tokenOpts{})

	// The client's fault: upstream refuses the request as malformed. Many
	// of them leave the channel alone.
	badReq := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":{"message":"bad request","type":"invalid_request_error"}}`)
	})
	clientCh := b.channel(badReq.URL, channelOpts{models: "client-model"})
	for i := 0; i < 8; i++ {
		if code := post(key, "client-model"); code != http.StatusBadRequest {
			t.Fatalf("client error relayed as %d", code)
		}
	}
	if s := status(clientCh); s != state.StatusEnabled {
		t.Errorf("client-caused failures disabled the channel (status %d)", s)
	}

	// The channel's fault: 503s. One success in the window, then failures
	// until the rate is under 50% over the last four.
	var fail atomic.Bool
	flaky := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		if fail.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		okChat(w, r, body)
	})
	ch := b.channel(flaky.URL, channelOpts{})
	if code := post(key, "gpt-4o-mini"); code != http.StatusOK {
		t.Fatalf("first request = %d", code)
	}
	fail.Store(true)
	for i := 0; i < 2; i++ {
		post(key, "gpt-4o-mini")
		if s := status(ch); s != state.StatusEnabled {
			t.Fatalf("disabled after %d failures, before the window of 4 was full", i+1)
		}
	}
	post(key, "gpt-4o-mini") // 1 of 4 succeeded: 25% < 50%
	if s := status(ch); s != state.StatusAutoDisabled {
		t.Fatalf("channel status %d after 3 of 4 failed, want %d (auto-disabled)", s, state.StatusAutoDisabled)
	}
	if n := b.scalar("SELECT count(*) FROM logs WHERE type = 4 AND channel_id = $1 AND content LIKE '%success rate 25%'", ch); n != 1 {
		t.Errorf("%d system log rows giving the success rate, want 1", n)
	}
	if routed := b.st.Routes().Channel(ch); routed == nil || routed.Status != state.StatusAutoDisabled {
		t.Error("routing state still has the channel enabled")
	}
}

// TestSuccessRateOffByDefault: without ENABLE_METRIC, retryable failures
// do not disable a channel.
func TestSuccessRateOffByDefault(t *testing.T) {
	b := setup(t)
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	ch := b.channel(up.URL, channelOpts{})
	key := b.token(tokenOpts{})
	for i := 0; i < 12; i++ {
		res := b.post("/v1/chat/completions", key, chatBody)
		res.Body.Close()
	}
	if s := b.scalar("SELECT status FROM channels WHERE id = $1", ch); s != state.StatusEnabled {
		t.Errorf("status %d without ENABLE_METRIC", s)
	}
}
