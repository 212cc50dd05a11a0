package relay

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// reasoningUpstream behaves as OpenAI does for the o-series: a request for
// "o3-mini" with max_tokens fails with 400 unsupported_parameter; other
// models answer either way. It records the last body it got.
func reasoningUpstream(t *testing.T) (*httptest.Server, *map[string]any) {
	t.Helper()
	var got map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = nil
		_ = json.Unmarshal(b, &got)
		w.Header().Set("Content-Type", "application/json")
		if _, has := got["max_tokens"]; has && got["model"] == "o3-mini" {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error":{"message":"Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.","type":"invalid_request_error","param":"max_tokens","code":"unsupported_parameter"}}`)
			return
		}
		_, _ = io.WriteString(w, `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m",
			"choices":[{"index":0,"message":{"role":"assistant","content":""},"finish_reason":"length"}],
			"usage":{"prompt_tokens":8,"completion_tokens":1,"total_tokens":9}}`)
	}))
	t.Cleanup(srv.Close)
	return srv, &got
}

// TestProbeReasoningModels: reasoning models get max_completion_tokens (an
// upstream that refuses max_tokens for o3-mini passes the test), every other
// model keeps max_tokens, which OpenAI-compatible vendors all accept.
func TestProbeReasoningModels(t *testing.T) {
	srv, got := reasoningUpstream(t)
	tests := []struct {
		model         string
		mapping       map[string]string
		wantField     string // the field carrying the 1-token limit
		wantNotSent   string
		wantUpstreamM string
	}{
		{model: "o3-mini", wantField: "max_completion_tokens", wantNotSent: "max_tokens"},
		{model: "o1", wantField: "max_completion_tokens", wantNotSent: "max_tokens"},
		{model: "o4-mini-2025-04-16", wantField: "max_completion_tokens", wantNotSent: "max_tokens"},
		{model: "gpt-5-mini", wantField: "max_completion_tokens", wantNotSent: "max_tokens"},
		{model: "gpt-5.1", wantField: "max_completion_tokens", wantNotSent: "max_tokens"},
		{model: "openai/o3-mini", wantField: "max_completion_tokens", wantNotSent: "max_tokens"},
		// The upstream model decides: an alias mapped to o3-mini is one.
		{model: "thinker", mapping: map[string]string{"thinker": "o3-mini"}, wantField: "max_completion_tokens", wantNotSent: "max_tokens", wantUpstreamM: "o3-mini"},
		{model: "gpt-4o-mini", wantField: "max_tokens", wantNotSent: "max_completion_tokens"},
		{model: "omni-moderation-latest", wantField: "max_tokens", wantNotSent: "max_completion_tokens"},
		{model: "deepseek-reasoner", wantField: "max_tokens", wantNotSent: "max_completion_tokens"},
		{model: "gpt-50", wantField: "max_tokens", wantNotSent: "max_completion_tokens"},
	}
	for _, tt := range tests {
		t.Run(tt.model, func(t *testing.T) {
			ch := probeChannel(srv.URL)
			ch.ModelMapping = tt.mapping
			if _, err := Probe(context.Background(), srv.Client(), ch, tt.model); err != nil {
				t.Fatalf("Probe: %v", err)
			}
			body := *got
			if body[tt.wantField] != float64(1) {
				t.Errorf("%s = %v, want 1 (body %v)", tt.wantField, body[tt.wantField], body)
			}
			if _, sent := body[tt.wantNotSent]; sent {
				t.Errorf("%s sent too: %v", tt.wantNotSent, body)
			}
			if want := tt.wantUpstreamM; want != "" && body["model"] != want {
				t.Errorf("model = %v, want %s", body["model"], want)
			}
		})
	}

	// The stand-in does refuse max_tokens for o3-mini, so the cases above
	// prove the switch rather than a lenient upstream.
	resp, err := srv.Client().Post(srv.URL+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"o3-mini","messages":[{"role":"user","content":"hi"}],"max_tokens":1}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("stand-in answered %d to max_tokens for o3-mini, want 400", resp.StatusCode)
	}
}
