package anthropic

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/adaptortest"
)

// upstream starts an httptest server playing Anthropic: it checks the
// request line and headers, hands the decoded body to check, and answers
// with reply.
func upstream(t *testing.T, check func(r *http.Request, body messagesRequest), reply func(w http.ResponseWriter)) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/messages" {
			t.Errorf("upstream got %s %s, want POST /v1/messages", r.Method, r.URL.Path)
		}
		if r.Header.Get("x-api-key") != fakeKey || r.Header.Get("anthropic-version") != APIVersion || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("upstream got headers %v", r.Header)
		}
		var body messagesRequest
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Errorf("upstream body: %v", err)
		}
		if check != nil {
			check(r, body)
		}
		reply(w)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// do builds the request for ch, sends it, and fails the test on a transport error.
func do(t *testing.T, ch *adaptor.Channel, req *adaptor.Request) *http.Response {
	t.Helper()
	r, err := testAdaptor().NewRequest(context.Background(), ch, req)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestRoundTripNonStream(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		reply     string
		want      string
		wantUsage adaptor.Usage
	}{
		{
			name:      "text",
			reply:     `{"id":"msg_01Fake","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[{"type":"text","text":"Bonjour"},{"type":"text","text":" !"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":10,"cache_creation_input_tokens":5,"cache_read_input_tokens":100,"output_tokens":4}}`,
			want:      `{"id":"msg_01Fake","object":"chat.completion","created":1732000000,"model":"claude-sonnet-4-5-20250929","choices":[{"index":0,"message":{"role":"assistant","content":"Bonjour !"},"finish_reason":"stop"}],"usage":{"prompt_tokens":115,"completion_tokens":4,"total_tokens":119,"prompt_tokens_details":{"cached_tokens":100}}}`,
			wantUsage: withCache(adaptortest.Usage(115, 4), 100, 5),
		},
		{
			name:      "tool use only",
			reply:     `{"id":"msg_02Fake","type":"message","role":"assistant","model":"claude-opus-4-1","content":[{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{ "city" : "Paris" }},{"type":"tool_use","id":"toolu_2","name":"now","input":{}}],"stop_reason":"tool_use","usage":{"input_tokens":50,"output_tokens":30}}`,
			want:      `{"id":"msg_02Fake","object":"chat.completion","created":1732000000,"model":"claude-opus-4-1","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"toolu_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},{"id":"toolu_2","type":"function","function":{"name":"now","arguments":"{}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":50,"completion_tokens":30,"total_tokens":80}}`,
			wantUsage: adaptortest.Usage(50, 30),
		},
		{
			name:      "text and tool use",
			reply:     `{"id":"msg_03Fake","type":"message","role":"assistant","model":"claude-x","content":[{"type":"text","text":"Checking."},{"type":"tool_use","id":"toolu_1","name":"f","input":{"a":[1,2]}}],"stop_reason":"tool_use","usage":{"input_tokens":1,"output_tokens":2}}`,
			want:      `{"id":"msg_03Fake","object":"chat.completion","created":1732000000,"model":"claude-x","choices":[{"index":0,"message":{"role":"assistant","content":"Checking.","tool_calls":[{"id":"toolu_1","type":"function","function":{"name":"f","arguments":"{\"a\":[1,2]}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}`,
			wantUsage: adaptortest.Usage(1, 2),
		},
		{
			name:  "max tokens, no usage",
			reply: `{"id":"msg_04Fake","type":"message","role":"assistant","model":"claude-x","content":[{"type":"text","text":"One"}],"stop_reason":"max_tokens"}`,
			want:  `{"id":"msg_04Fake","object":"chat.completion","created":1732000000,"model":"claude-x","choices":[{"index":0,"message":{"role":"assistant","content":"One"},"finish_reason":"length"}]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := upstream(t, func(r *http.Request, body messagesRequest) {
				if body.Model != "claude-sonnet-4-5" || body.Stream || len(body.Messages) != 1 || body.MaxTokens != 50 {
					t.Errorf("upstream got %+v", body)
				}
			}, func(w http.ResponseWriter) {
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, tt.reply)
			})
			ch := &adaptor.Channel{Type: adaptor.TypeAnthropic, Key: fakeKey, BaseURL: srv.URL}
			req := &adaptor.Request{Mode: adaptor.ModeChat, Model: "claude-sonnet-4-5", Body: []byte(`{"model":"gpt-4o","messages":[{"role":"user","content":"Hi"}],"max_tokens":50}`)}
			out, usage, err := testAdaptor().DecodeResponse(req, do(t, ch, req))
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tt.want {
				t.Errorf("reply\n got %s\nwant %s", out, tt.want)
			}
			if usage != tt.wantUsage {
				t.Errorf("usage = %+v, want %+v", usage, tt.wantUsage)
			}
		})
	}
}

func TestFinishReason(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls",
		"refusal": "content_filter", "pause_turn": "stop", "": "stop",
	} {
		if got := finishReason(in); got != want {
			t.Errorf("finishReason(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDecodeResponseNotJSON(t *testing.T) {
	t.Parallel()
	resp := &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("<html>proxy</html>")), ContentLength: -1}
	_, _, err := testAdaptor().DecodeResponse(&adaptor.Request{Mode: adaptor.ModeChat}, resp)
	var ue *adaptor.UpstreamError
	if !errors.As(err, &ue) || ue.Status != http.StatusBadGateway || ue.Class != adaptor.ClassRetry {
		t.Errorf("err = %v, want a retryable 502", err)
	}
}

func TestDecodeResponseTooLarge(t *testing.T) {
	t.Parallel()
	body := `{"type":"message","content":[{"type":"text","text":"` + strings.Repeat("x", maxResponseSize) + `"}]}`
	resp := &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader(body)), ContentLength: -1}
	_, _, err := testAdaptor().DecodeResponse(&adaptor.Request{Mode: adaptor.ModeChat}, resp)
	if !errors.Is(err, adaptor.ErrBodyTooLarge) {
		t.Errorf("err = %v, want adaptor.ErrBodyTooLarge", err)
	}
}

func TestRoundTripStream(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"text", "tool_use"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			sse, err := os.ReadFile(filepath.Join("testdata", "stream", name+".sse"))
			if err != nil {
				t.Fatal(err)
			}
			srv := upstream(t, func(r *http.Request, body messagesRequest) {
				if !body.Stream || r.Header.Get("Accept") != "text/event-stream" {
					t.Errorf("upstream got stream=%v accept=%q", body.Stream, r.Header.Get("Accept"))
				}
			}, func(w http.ResponseWriter) {
				w.Header().Set("Content-Type", "text/event-stream")
				w.WriteHeader(http.StatusOK)
				// Event by event, flushed, as Anthropic sends them.
				for ev := range strings.SplitAfterSeq(string(sse), "\n\n") {
					io.WriteString(w, ev)
					w.(http.Flusher).Flush()
				}
			})
			ch := &adaptor.Channel{Type: adaptor.TypeAnthropic, Key: fakeKey, BaseURL: srv.URL + "/v1"}
			req := &adaptor.Request{Mode: adaptor.ModeChat, Model: "claude-x", Stream: true,
				Body: []byte(`{"model":"gpt-4o","messages":[{"role":"user","content":"Hi"}],"stream":true,"stream_options":{"include_usage":true}}`)}
			var got strings.Builder
			usage, err := testAdaptor().DecodeStream(req, do(t, ch, req), func(ev adaptor.Event) error {
				data := ev.Data
				got.Write(data)
				got.WriteByte('\n')
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			// The same events over HTTP give the same chunks as the replay.
			golden, err := os.ReadFile(filepath.Join("testdata", "stream", name+".golden"))
			if err != nil {
				t.Fatal(err)
			}
			var want strings.Builder
			for line := range strings.Lines(string(golden)) {
				if data, ok := strings.CutPrefix(line, "send: "); ok {
					want.WriteString(strings.TrimPrefix(data, "(usage only) "))
				}
			}
			if got.String() != want.String() {
				t.Errorf("chunks\n got %s\nwant %s", got.String(), want.String())
			}
			if !usage.Reported || usage.Input == 0 || usage.Output == 0 {
				t.Errorf("usage = %+v, want reported numbers", usage)
			}
		})
	}
}

// TestStreamKeyRedacted: an error event echoing the key does not leak it.
func TestStreamKeyRedacted(t *testing.T) {
	t.Parallel()
	srv := upstream(t, nil, func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"claude-x\",\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\n")
		io.WriteString(w, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"internal error for key "+fakeKey+"\"}}\n\n")
	})
	ch := &adaptor.Channel{Type: adaptor.TypeAnthropic, Key: fakeKey, BaseURL: srv.URL}
	req := &adaptor.Request{Mode: adaptor.ModeChat, Model: "claude-x", Stream: true, Body: []byte(`{"messages":[{"role":"user","content":"Hi"}]}`)}
	_, err := testAdaptor().DecodeStream(req, do(t, ch, req), func(adaptor.Event) error { return nil })
	var ue *adaptor.UpstreamError
	if !errors.Is(err, adaptor.ErrStreamTruncated) || !errors.As(err, &ue) {
		t.Fatalf("err = %v, want a truncation carrying an *UpstreamError", err)
	}
	if strings.Contains(err.Error(), fakeKey) || !strings.Contains(ue.Message, "[redacted]") {
		t.Errorf("error %q leaks the key or was not redacted", err)
	}
	if ue.Status != http.StatusInternalServerError || ue.Class != adaptor.ClassRetry || ue.Code != "api_error" {
		t.Errorf("error = status %d class %v code %q, want 500 retry api_error", ue.Status, ue.Class, ue.Code)
	}
}

// TestRoundTripError: a non-2xx reply goes through DecodeError with the
// Retry-After header and the key removed.
func TestRoundTripError(t *testing.T) {
	t.Parallel()
	srv := upstream(t, nil, func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, `{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit for key `+fakeKey+`"},"request_id":"req_1"}`)
	})
	ch := &adaptor.Channel{Type: adaptor.TypeAnthropic, Key: fakeKey, BaseURL: srv.URL}
	req := &adaptor.Request{Mode: adaptor.ModeChat, Model: "claude-x", Body: []byte(`{"messages":[{"role":"user","content":"Hi"}]}`)}
	resp := do(t, ch, req)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("status = %d", resp.StatusCode)
	}
	ue := testAdaptor().DecodeError(resp)
	if ue.Status != 429 || ue.Class != adaptor.ClassRetry || ue.Type != "rate_limit_error" || ue.Code != "rate_limit_error" || ue.RetryAfter.Seconds() != 7 {
		t.Errorf("error = %+v", ue)
	}
	if strings.Contains(ue.Error(), fakeKey) || !strings.HasPrefix(ue.Message, "Number of request tokens") {
		t.Errorf("message = %q", ue.Message)
	}
}
