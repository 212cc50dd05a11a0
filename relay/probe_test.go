package relay

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"oneapi/relay/adaptor"
	"oneapi/state"
)

// probeUpstream answers one chat completion the way a real OpenAI-compatible
// server would, or with reply when set. It records the request it got.
type probeUpstream struct {
	*httptest.Server
	gotAuth string
	gotBody map[string]any
	reply   func(w http.ResponseWriter)
}

func newProbeUpstream(t *testing.T, reply func(w http.ResponseWriter)) *probeUpstream {
	t.Helper()
	u := &probeUpstream{reply: reply}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
			http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusNotFound)
			return
		}
		u.gotAuth = r.Header.Get("Authorization")
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &u.gotBody)
		w.Header().Set("Content-Type", "application/json")
		if u.reply != nil {
			u.reply(w)
			return
		}
		_, _ = io.WriteString(w, `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m",
			"choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"length"}],
			"usage":{"prompt_tokens":8,"completion_tokens":1,"total_tokens":9}}`)
	}))
	t.Cleanup(u.Close)
	return u
}

const probeKey = "sk-probe-test-key-0123456789abcdefXYZ"

func probeChannel(baseURL string) *state.Channel {
	return &state.Channel{
		Channel: adaptor.Channel{ID: 7, Type: adaptor.TypeOpenAI, Name: "test", Key: probeKey, BaseURL: baseURL},
		Models:  []string{"gpt-4o", "gpt-4o-mini"},
	}
}

func TestProbeModel(t *testing.T) {
	ch := probeChannel("")
	tests := []struct {
		name, testModel, model, want string
		models                       []string
	}{
		{"explicit", "gpt-4o-mini", " o3 ", "o3", ch.Models},
		{"test model", "gpt-4o-mini", "", "gpt-4o-mini", ch.Models},
		{"first model", "", "", "gpt-4o", ch.Models},
		{"nothing", "", "", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := *ch
			c.TestModel, c.Models = tt.testModel, tt.models
			if got := ProbeModel(&c, tt.model); got != tt.want {
				t.Errorf("ProbeModel = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestProbeSuccess(t *testing.T) {
	up := newProbeUpstream(t, nil)
	ch := probeChannel(up.URL)
	ch.ModelMapping = map[string]string{"gpt-4o": "gpt-4o-2024-08-06"}
	elapsed, err := Probe(context.Background(), up.Client(), ch, "gpt-4o")
	if err != nil {
		t.Fatal(err)
	}
	if elapsed <= 0 {
		t.Errorf("elapsed = %v", elapsed)
	}
	if up.gotAuth != "Bearer "+probeKey {
		t.Errorf("Authorization = %q", up.gotAuth)
	}
	// One API's test request: "hi", one output token, mapping applied.
	msgs, _ := up.gotBody["messages"].([]any)
	if up.gotBody["model"] != "gpt-4o-2024-08-06" || up.gotBody["max_tokens"] != float64(1) || len(msgs) != 1 ||
		msgs[0].(map[string]any)["content"] != "hi" || up.gotBody["stream"] != nil {
		t.Errorf("upstream got %v", up.gotBody)
	}
}

func TestProbeFailures(t *testing.T) {
	tests := []struct {
		name      string
		reply     func(w http.ResponseWriter)
		wantMsg   string
		wantClass adaptor.ErrorClass
	}{
		{
			name: "dead key echoed back",
			reply: func(w http.ResponseWriter) {
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = io.WriteString(w, `{"error":{"message":"Incorrect API key provided: `+probeKey+`. Find yours at platform.openai.com.","type":"invalid_request_error","code":"invalid_api_key"}}`)
			},
			wantMsg: "Incorrect API key provided", wantClass: adaptor.ClassDisable,
		},
		{
			name: "rate limited",
			reply: func(w http.ResponseWriter) {
				w.WriteHeader(http.StatusTooManyRequests)
				_, _ = io.WriteString(w, `{"error":{"message":"Rate limit reached","type":"requests"}}`)
			},
			wantMsg: "Rate limit reached", wantClass: adaptor.ClassRetry,
		},
		{
			name: "error inside a 200",
			reply: func(w http.ResponseWriter) {
				_, _ = io.WriteString(w, `{"error":{"message":"model not found","type":"invalid_request_error"}}`)
			},
			wantMsg: "model not found",
		},
		{
			name: "not a chat completion",
			reply: func(w http.ResponseWriter) {
				_, _ = io.WriteString(w, `{"object":"list","data":[]}`)
			},
			wantMsg: "not with a chat completion", wantClass: adaptor.ClassRetry,
		},
		{
			name: "key in a non-JSON body",
			reply: func(w http.ResponseWriter) {
				w.Header().Set("Content-Type", "text/plain")
				w.WriteHeader(http.StatusBadGateway)
				_, _ = io.WriteString(w, "proxy could not use key "+probeKey)
			},
			wantMsg: "proxy could not use key", wantClass: adaptor.ClassRetry,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newProbeUpstream(t, tt.reply)
			_, err := Probe(context.Background(), up.Client(), probeChannel(up.URL), "")
			if err == nil {
				t.Fatal("Probe succeeded")
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("err = %q, want it to contain %q", err, tt.wantMsg)
			}
			if strings.Contains(err.Error(), probeKey) || strings.Contains(err.Error(), probeKey[3:]) {
				t.Errorf("err carries the key: %q", err)
			}
			var ue *adaptor.UpstreamError
			if !errors.As(err, &ue) {
				t.Fatalf("err %T is not an *adaptor.UpstreamError", err)
			}
			if tt.wantClass != 0 && ue.Class != tt.wantClass {
				t.Errorf("class = %v, want %v", ue.Class, tt.wantClass)
			}
		})
	}
}

func TestProbeTransport(t *testing.T) {
	t.Run("connection refused", func(t *testing.T) {
		up := newProbeUpstream(t, nil)
		url := up.URL
		up.Close()
		_, err := Probe(context.Background(), http.DefaultClient, probeChannel(url), "")
		var ue *adaptor.UpstreamError
		if !errors.As(err, &ue) || ue.Class != adaptor.ClassRetry || !strings.Contains(err.Error(), "refused") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		block := make(chan struct{})
		up := newProbeUpstream(t, func(w http.ResponseWriter) { <-block })
		defer close(block)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := Probe(ctx, up.Client(), probeChannel(up.URL), "")
		var ue *adaptor.UpstreamError
		if !errors.As(err, &ue) || ue.Status != http.StatusGatewayTimeout {
			t.Errorf("err = %v, want a 504 upstream error", err)
		}
	})
	t.Run("no adaptor", func(t *testing.T) {
		ch := probeChannel("https://example.invalid")
		ch.Type = 999
		if _, err := Probe(context.Background(), http.DefaultClient, ch, ""); err == nil || !strings.Contains(err.Error(), "cannot be tested") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("no model", func(t *testing.T) {
		ch := probeChannel("https://example.invalid")
		ch.Models = nil
		if _, err := Probe(context.Background(), http.DefaultClient, ch, ""); err == nil || !strings.Contains(err.Error(), "no model") {
			t.Errorf("err = %v", err)
		}
	})
}
