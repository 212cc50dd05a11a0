package jobs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"oneapi/queries/dbtest"
)

// TestClusterPromptLabelMoves: a label moved through node A's API is what
// node B's relay serves as soon as B's memory has it — a NOTIFY away, no
// database read on B's request path — and so is a label moved by hand in
// SQL. The time from A's answer to B resolving the new version is logged
// (the benchmark, not this test, is where speed is judged).
func TestClusterPromptLabelMoves(t *testing.T) {
	dsn := dbtest.DSN(t)
	u := newUpstream(t, 0)
	f := seed(t, dsn, u, 1)

	// An upstream that says which system message it got.
	var mu sync.Mutex
	var served string
	rec := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Messages []struct {
				Content string `json:"content"`
			} `json:"messages"`
		}
		body, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(body, &req)
		mu.Lock()
		if len(req.Messages) > 0 {
			served = req.Messages[0].Content
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"c","object":"chat.completion","created":1,"model":"`+model+`","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}`)
	}))
	defer rec.Close()

	a := startNode(t, dsn, "a", nodeOpts{noRiver: true})
	b := startNode(t, dsn, "b", nodeOpts{noRiver: true})
	if _, err := a.pool.Exec(context.Background(), "UPDATE channels SET base_url = $1 WHERE id = $2", rec.URL, f.channels[0]); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "B routes to the recording upstream", func() bool { return b.st.Routes().Channel(f.channels[0]).BaseURL == rec.URL })

	servedOnB := func() string {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, b.srv.URL+"/v1/chat/completions",
			strings.NewReader(`{"prompt_id":"greet","messages":[{"role":"user","content":"hi"}]}`))
		req.Header.Set("Authorization", "Bearer "+f.keys[0])
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("chat on B = %d %s", res.StatusCode, body)
		}
		mu.Lock()
		defer mu.Unlock()
		return served
	}
	version := func(n int) map[string]any {
		return map[string]any{"name": "greet", "messages": []map[string]string{{"role": "system", "content": fmt.Sprintf("v%d", n)}},
			"parameters": map[string]any{"model": model}}
	}
	a.api(t, http.MethodPost, "/api/prompt/", version(1), nil)
	a.api(t, http.MethodPost, "/api/prompt/greet/versions", version(2), nil)
	waitUntil(t, "B has both versions", func() bool { p := b.st.Prompt("greet"); return p != nil && p.Latest == 2 })
	if got := servedOnB(); got != "v1" {
		t.Fatalf("B serves %q, want production (v1)", got)
	}

	var lat []time.Duration
	for i := range 20 {
		want := 2 - i%2
		start := time.Now()
		a.api(t, http.MethodPut, "/api/prompt/greet/labels/production", map[string]any{"version": want}, nil)
		waitUntil(t, "B resolves the moved label", func() bool {
			v, err := b.st.Prompt("greet").Resolve("")
			return err == nil && v.Version == want
		})
		lat = append(lat, time.Since(start))
		if got := servedOnB(); got != fmt.Sprintf("v%d", want) {
			t.Fatalf("move %d: B serves %q, want v%d", i, got, want)
		}
	}
	slices.Sort(lat)
	t.Logf("label moved on A until B serves it: p50 %s, max %s over %d moves", lat[len(lat)/2], lat[len(lat)-1], len(lat))

	if _, err := a.pool.Exec(context.Background(),
		"UPDATE prompt_labels SET version = 2 WHERE label = 'production' AND prompt_id = (SELECT id FROM prompts WHERE name = 'greet')"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "B applies a label moved by hand", func() bool { return servedOnB() == "v2" })

	a.api(t, http.MethodDelete, "/api/prompt/greet", nil, nil)
	waitUntil(t, "B forgets the deleted prompt", func() bool { return b.st.Prompt("greet") == nil })
}
