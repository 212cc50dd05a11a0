package openai

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/adaptortest"
)

// upstream starts an httptest server that checks what the adaptor sent and
// answers with handler.
func upstream(t *testing.T, handler http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	return srv
}

// do builds the request for ch, sends it, and fails the test on a transport error.
func do(t *testing.T, ch *adaptor.Channel, req *adaptor.Request) *http.Response {
	t.Helper()
	r, err := New().NewRequest(context.Background(), ch, req)
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
	const reply = `{"id":"chatcmpl-fake","object":"chat.completion","created":1732000000,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hi!","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12,"prompt_tokens_details":{"cached_tokens":0}},"service_tier":"default","system_fingerprint":"fp_fake"}`
	const body = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}]}`
	srv := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		got, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" ||
			r.Header.Get("Authorization") != "Bearer "+fakeKey || string(got) != body {
			t.Errorf("upstream got %s %s auth=%q body=%s", r.Method, r.URL.Path, r.Header.Get("Authorization"), got)
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, reply)
	})
	ch := &adaptor.Channel{Type: adaptor.TypeOpenAI, Key: fakeKey, BaseURL: srv.URL}
	req := &adaptor.Request{Mode: adaptor.ModeChat, Model: "gpt-4o-mini", Body: []byte(body)}
	resp := do(t, ch, req)
	out, usage, err := New().DecodeResponse(req, resp)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != reply {
		t.Errorf("body changed in transit:\n got %s\nwant %s", out, reply)
	}
	if diff := cmp.Diff(adaptortest.Usage(9, 3), usage); diff != "" {
		t.Errorf("usage (-want +got):\n%s", diff)
	}
}

func TestRoundTripStream(t *testing.T) {
	t.Parallel()
	srv := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept") != "text/event-stream" {
			t.Errorf("Accept = %q", r.Header.Get("Accept"))
		}
		w.Header().Set("Content-Type", "text/event-stream")
		f := w.(http.Flusher)
		for _, ev := range []string{
			`{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}],"usage":null}`,
			`{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":"stop"}],"usage":null}`,
			`{"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}`,
			`[DONE]`,
		} {
			io.WriteString(w, "data: "+ev+"\n\n")
			f.Flush()
		}
	})
	ch := &adaptor.Channel{Type: adaptor.TypeOpenAICompatible, Key: fakeKey, BaseURL: srv.URL + "/v1/"}
	req := &adaptor.Request{Mode: adaptor.ModeChat, Model: "m", Body: []byte(`{"stream":true}`), Stream: true}
	var events []string
	usage, err := New().DecodeStream(req, do(t, ch, req), func(ev adaptor.Event) error {
		data := ev.Data
		events = append(events, string(data))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 3 {
		t.Errorf("got %d events, want 3", len(events))
	}
	if diff := cmp.Diff(adaptortest.Usage(5, 2), usage); diff != "" {
		t.Errorf("usage (-want +got):\n%s", diff)
	}
}

func TestRoundTripStreamDropped(t *testing.T) {
	t.Parallel()
	srv := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n")
		w.(http.Flusher).Flush()
		// Drop the connection without [DONE] or a clean chunked end.
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	})
	ch := &adaptor.Channel{Type: adaptor.TypeOpenAI, Key: fakeKey, BaseURL: srv.URL}
	req := &adaptor.Request{Mode: adaptor.ModeChat, Body: []byte(`{}`), Stream: true}
	n := 0
	_, err := New().DecodeStream(req, do(t, ch, req), func(adaptor.Event) error { n++; return nil })
	if !errors.Is(err, adaptor.ErrStreamTruncated) {
		t.Fatalf("err = %v, want ErrStreamTruncated", err)
	}
	var ue *adaptor.UpstreamError
	if !errors.As(err, &ue) || ue.Class != adaptor.ClassRetry {
		t.Errorf("err = %v, want an UpstreamError of class retry inside", err)
	}
	if n != 1 {
		t.Errorf("send called %d times, want 1", n)
	}
}

func TestRoundTripErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		header map[string]string
		body   string
		want   adaptor.UpstreamError
	}{
		{
			name: "invalid key", status: 401,
			body: `{"error":{"message":"Incorrect API key provided: sk-fake0***0000. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`,
			want: adaptor.UpstreamError{Status: 401, Type: "invalid_request_error", Code: "invalid_api_key", Class: adaptor.ClassDisable,
				Message: "Incorrect API key provided: sk-fake0***0000. You can find your API key at https://platform.openai.com/account/api-keys."},
		},
		{
			name: "rate limited", status: 429, header: map[string]string{"Retry-After": "7"},
			body: `{"error":{"message":"Rate limit reached for gpt-4o in organization org-fake on requests per min (RPM): Limit 500, Used 500, Requested 1.","type":"requests","param":null,"code":"rate_limit_exceeded"}}`,
			want: adaptor.UpstreamError{Status: 429, Type: "requests", Code: "rate_limit_exceeded", Class: adaptor.ClassRetry, RetryAfter: 7 * time.Second,
				Message: "Rate limit reached for gpt-4o in organization org-fake on requests per min (RPM): Limit 500, Used 500, Requested 1."},
		},
		{
			name: "insufficient quota", status: 429,
			body: `{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}`,
			want: adaptor.UpstreamError{Status: 429, Type: "insufficient_quota", Code: "insufficient_quota", Class: adaptor.ClassDisable,
				Message: "You exceeded your current quota, please check your plan and billing details."},
		},
		{
			name: "server error", status: 500,
			body: `{"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}}`,
			want: adaptor.UpstreamError{Status: 500, Type: "server_error", Class: adaptor.ClassRetry,
				Message: "The server had an error while processing your request. Sorry about that!"},
		},
		{
			name: "bad request", status: 400,
			body: `{"error":{"message":"This model's maximum context length is 128000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}`,
			want: adaptor.UpstreamError{Status: 400, Type: "invalid_request_error", Code: "context_length_exceeded", Class: adaptor.ClassClient,
				Message: "This model's maximum context length is 128000 tokens."},
		},
		{
			name: "model not found", status: 404,
			body: `{"error":{"message":"The model gpt-9 does not exist or you do not have access to it.","type":"invalid_request_error","param":null,"code":"model_not_found"}}`,
			want: adaptor.UpstreamError{Status: 404, Type: "invalid_request_error", Code: "model_not_found", Class: adaptor.ClassClient,
				Message: "The model gpt-9 does not exist or you do not have access to it."},
		},
		{
			name: "key echoed by a careless upstream is redacted", status: 403,
			body: `{"error":"key ` + fakeKey + ` is not allowed here"}`,
			want: adaptor.UpstreamError{Status: 403, Type: "upstream_error", Class: adaptor.ClassRetry, Message: "key [redacted] is not allowed here"},
		},
		{
			name: "html from a proxy", status: 502, header: map[string]string{"Content-Type": "text/html"},
			body: `<html><body><h1>502 Bad Gateway</h1></body></html>`,
			want: adaptor.UpstreamError{Status: 502, Type: "upstream_error", Class: adaptor.ClassRetry, Message: "upstream returned status 502 Bad Gateway"},
		},
		{
			name: "plain text", status: 503, header: map[string]string{"Content-Type": "text/plain", "Retry-After-Ms": "1500"},
			body: "upstream connect error or disconnect/reset before headers.\n  reset reason: overflow",
			want: adaptor.UpstreamError{Status: 503, Type: "upstream_error", Class: adaptor.ClassRetry, RetryAfter: 1500 * time.Millisecond,
				Message: "upstream connect error or disconnect/reset before headers. reset reason: overflow"},
		},
		{
			name: "fastapi detail", status: 422,
			body: `{"detail":"Invalid request: messages must not be empty"}`,
			want: adaptor.UpstreamError{Status: 422, Type: "upstream_error", Class: adaptor.ClassClient, Message: "Invalid request: messages must not be empty"},
		},
		{
			name: "numeric code, the message alone never disables", status: 400,
			body: `{"error":{"message":"API key not valid. Please pass a valid API key.","type":"","code":400}}`,
			want: adaptor.UpstreamError{Status: 400, Type: "upstream_error", Code: "400", Class: adaptor.ClassClient, Message: "API key not valid. Please pass a valid API key."},
		},
		{
			name: "google's reason for a dead key disables", status: 400,
			body: `[{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"}]}}]`,
			want: adaptor.UpstreamError{Status: 400, Type: "upstream_error", Code: "invalid_api_key", Class: adaptor.ClassDisable, Message: "API key not valid. Please pass a valid API key."},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := upstream(t, func(w http.ResponseWriter, r *http.Request) {
				if _, ok := tt.header["Content-Type"]; !ok {
					w.Header().Set("Content-Type", "application/json")
				}
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			})
			ch := &adaptor.Channel{Type: adaptor.TypeOpenAI, Key: fakeKey, BaseURL: srv.URL}
			resp := do(t, ch, &adaptor.Request{Mode: adaptor.ModeChat, Body: []byte(`{}`)})
			got := New().DecodeError(resp)
			if diff := cmp.Diff(tt.want, *got); diff != "" {
				t.Errorf("DecodeError (-want +got):\n%s", diff)
			}
			if strings.Contains(got.Error(), fakeKey) {
				t.Errorf("error leaks the key: %v", got)
			}
		})
	}
}

func TestTransportErrors(t *testing.T) {
	t.Parallel()
	t.Run("connection refused", func(t *testing.T) {
		t.Parallel()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		ch := &adaptor.Channel{Type: adaptor.TypeOpenAI, Key: fakeKey, BaseURL: "http://" + addr}
		r, _ := New().NewRequest(context.Background(), ch, &adaptor.Request{Body: []byte(`{}`)})
		_, err = http.DefaultClient.Do(r)
		ue := adaptor.TransportError(err)
		if ue.Class != adaptor.ClassRetry || ue.Status != http.StatusBadGateway {
			t.Errorf("got %+v, want class retry, status 502", ue)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		release := make(chan struct{})
		srv := upstream(t, func(w http.ResponseWriter, r *http.Request) { <-release })
		defer close(release)
		ch := &adaptor.Channel{Type: adaptor.TypeOpenAI, Key: fakeKey, BaseURL: srv.URL}
		r, _ := New().NewRequest(context.Background(), ch, &adaptor.Request{Body: []byte(`{}`)})
		_, err := (&http.Client{Timeout: 50 * time.Millisecond}).Do(r)
		ue := adaptor.TransportError(err)
		if ue.Class != adaptor.ClassRetry || ue.Status != http.StatusGatewayTimeout {
			t.Errorf("got %+v, want class retry, status 504", ue)
		}
		if strings.Contains(ue.Error(), srv.URL) {
			t.Errorf("error names the upstream URL: %v", ue)
		}
	})
	t.Run("client canceled", func(t *testing.T) {
		t.Parallel()
		release := make(chan struct{})
		srv := upstream(t, func(w http.ResponseWriter, r *http.Request) { <-release })
		defer close(release)
		ctx, cancel := context.WithCancel(context.Background())
		ch := &adaptor.Channel{Type: adaptor.TypeOpenAI, Key: fakeKey, BaseURL: srv.URL}
		r, _ := New().NewRequest(ctx, ch, &adaptor.Request{Body: []byte(`{}`)})
		time.AfterFunc(20*time.Millisecond, cancel)
		_, err := http.DefaultClient.Do(r)
		ue := adaptor.TransportError(err)
		if ue.Class != adaptor.ClassClient || !errors.Is(ue, context.Canceled) {
			t.Errorf("got %+v, want class client wrapping context.Canceled", ue)
		}
	})
}

func TestDecodeResponse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		mode      adaptor.Mode
		body      string
		want      adaptor.Usage
		wantClass *adaptor.ErrorClass
	}{
		{
			name: "embeddings", mode: adaptor.ModeEmbeddings,
			body: `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,0.2]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":4,"total_tokens":4}}`,
			want: adaptortest.Usage(4, 0),
		},
		{
			name: "responses api", mode: adaptor.ModeResponses,
			body: `{"id":"resp_fake","object":"response","status":"completed","output":[],"usage":{"input_tokens":20,"input_tokens_details":{"cached_tokens":0},"output_tokens":5,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":25}}`,
			want: adaptortest.Usage(20, 5),
		},
		{
			name: "images without usage", mode: adaptor.ModeImages,
			body: `{"created":1732000000,"data":[{"url":"https://example.com/img.png"}]}`,
		},
		{
			name: "total only", mode: adaptor.ModeChat,
			body: `{"choices":[],"usage":{"total_tokens":30}}`,
			want: adaptortest.Usage(0, 30),
		},
		{
			name: "usage null", mode: adaptor.ModeChat,
			body: `{"choices":[],"usage":null}`,
		},
		{name: "speech audio", mode: adaptor.ModeAudioSpeech, body: "ID3\x04\x00binary mp3"},
		{name: "text transcript", mode: adaptor.ModeAudioTranscription, body: "hello world\n"},
		{
			name: "error in a 200 body", mode: adaptor.ModeChat,
			body:      `{"error":{"message":"upstream overloaded","type":"server_error","code":"overloaded"}}`,
			wantClass: new(adaptor.ClassRetry),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp := &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader(tt.body)), ContentLength: int64(len(tt.body))}
			body, usage, err := New().DecodeResponse(&adaptor.Request{Mode: tt.mode}, resp)
			if tt.wantClass != nil {
				var ue *adaptor.UpstreamError
				if !errors.As(err, &ue) || ue.Class != *tt.wantClass {
					t.Fatalf("err = %v, want an UpstreamError of class %v", err, *tt.wantClass)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(body) != tt.body {
				t.Errorf("body changed: %q", body)
			}
			if diff := cmp.Diff(tt.want, usage); diff != "" {
				t.Errorf("usage (-want +got):\n%s", diff)
			}
		})
	}
}

// TestStreamConnectionReuse checks that a finished stream leaves its
// connection reusable: one TCP connection for several streams.
func TestStreamConnectionReuse(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: {\"choices\":[]}\n\n")
		w.(http.Flusher).Flush() // chunked, as real streams are
		io.WriteString(w, "data: [DONE]\n\n")
		// The end of the chunked body arrives in a later packet, as it can on
		// a real network: the decoder must wait for it to keep the connection.
		w.(http.Flusher).Flush()
		time.Sleep(10 * time.Millisecond)
	}))
	var conns atomic.Int32
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	client := srv.Client()
	ch := &adaptor.Channel{Type: adaptor.TypeOpenAI, Key: fakeKey, BaseURL: srv.URL}
	for range 3 {
		req := &adaptor.Request{Mode: adaptor.ModeChat, Body: []byte(`{}`), Stream: true}
		r, err := New().NewRequest(context.Background(), ch, req)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := New().DecodeStream(req, resp, func(adaptor.Event) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for 3 streams, want 1", n)
	}
}
