package baidu

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/adaptortest"
	"oneapi/relay/adaptor/convert/converttest"
)

const (
	clientID = "qfClientId0001"
	secret   = "qfSecretKey0001xyz"
	v1Key    = clientID + "|" + secret
)

// doerFunc answers the adaptor's own calls (the token exchange) in tests
// that build requests without a server.
type doerFunc func(*http.Request) (*http.Response, error)

func (f doerFunc) Do(r *http.Request) (*http.Response, error) { return f(r) }

func tokenDoer(token string) doerFunc {
	return func(r *http.Request) (*http.Response, error) {
		body := fmt.Sprintf(`{"refresh_token":"r","expires_in":2592000,"scope":"public","access_token":%q}`, token)
		return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
	}
}

func channel(base, key string) *adaptor.Channel {
	return &adaptor.Channel{ID: 15, Type: adaptor.TypeBaidu, Key: key, BaseURL: base}
}

func chatReq(body string) *adaptor.Request {
	return &adaptor.Request{Mode: adaptor.ModeChat, Model: "ERNIE-4.0-8K", Body: []byte(body), Stream: strings.Contains(body, `"stream":true`)}
}

func TestNewRequestGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, key string
		req       *adaptor.Request
	}{
		{"chat", v1Key, chatReq(`{"model":"ERNIE-4.0-8K","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"},{"role":"assistant","content":"hello"},{"role":"user","content":"again"}],"temperature":0,"top_p":1.5,"stop":"END","max_tokens":300,"user":"u1","stream":true}`)},
		{"chat_other_model", v1Key, &adaptor.Request{Mode: adaptor.ModeChat, Model: "ERNIE-4.0-Turbo-8K", Body: []byte(`{"model":"ERNIE-4.0-Turbo-8K","messages":[{"role":"user","content":"hi"}]}`)}},
		{"chat_tools_refused", v1Key, chatReq(`{"model":"ERNIE-4.0-8K","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f"}}]}`)},
		{"chat_image_refused", v1Key, chatReq(`{"model":"ERNIE-4.0-8K","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}]}`)},
		{"embeddings", v1Key, &adaptor.Request{Mode: adaptor.ModeEmbeddings, Model: "Embedding-V1", Body: []byte(`{"model":"Embedding-V1","input":["a","b"]}`)}},
		{"images_refused", v1Key, &adaptor.Request{Mode: adaptor.ModeImages, Model: "Stable-Diffusion-XL", Body: []byte(`{"prompt":"cat"}`)}},
		{"qianfan_v2", "bce-v3/ALTAK-abc/def", chatReq(`{"model":"ernie-4.0-8k","messages":[{"role":"user","content":"hi"}]}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := converttest.Request(t, converttest.Context(tokenDoer("24.tok-abc")), New(), channel("", tt.key), tt.req, "Authorization")
			adaptortest.CompareGolden(t, filepath.Join("testdata", "request_"+tt.name+".golden"), got)
		})
	}
}

// v1Request is an http.Request as NewRequest makes for a v1 call, for the
// Decode methods.
func v1Request(t *testing.T, a *Adaptor) *http.Request {
	t.Helper()
	r, err := a.NewRequest(converttest.Context(tokenDoer("24.tok-abc")), channel("", v1Key), chatReq(`{"model":"ERNIE-4.0-8K","messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestDecodeResponseGolden(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"ok", "truncated", "error_token", "error_qps", "error_prompt_too_long", "malformed", "embeddings"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a := New()
			body, err := os.ReadFile(filepath.Join("testdata", "reply_"+name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			req := chatReq(`{}`)
			if name == "embeddings" {
				req = &adaptor.Request{Mode: adaptor.ModeEmbeddings, Model: "Embedding-V1", Body: []byte(`{"input":["a","b"]}`)}
			}
			got := converttest.Response(t, a, req, v1Request(t, a), body)
			adaptortest.CompareGolden(t, filepath.Join("testdata", "reply_"+name+".golden"), got)
		})
	}
}

func TestDecodeStreamGolden(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name      string
		truncated bool
	}{{"ok", false}, {"truncated", true}, {"error_event", true}, {"json_error", true}, {"malformed", true}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := New()
			in, err := os.ReadFile(filepath.Join("testdata", "stream_"+tt.name+".sse"))
			if err != nil {
				t.Fatal(err)
			}
			got := converttest.Stream(t, a, chatReq(`{"stream":true}`), v1Request(t, a), in)
			adaptortest.CompareGolden(t, filepath.Join("testdata", "stream_"+tt.name+".golden"), got)
			if tt.truncated != bytes.Contains(got, []byte("error: ")) {
				t.Errorf("truncated = %v:\n%s", !tt.truncated, got)
			}
		})
	}
}

func TestDecodeErrorGolden(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		status int
		body   string
	}{
		{"gateway_html", 502, `<html>bad gateway</html>`},
		{"v1_code_in_error_status", 500, `{"error_code":336000,"error_msg":"Internal error"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := New()
			resp := &http.Response{StatusCode: tt.status, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(tt.body)), Request: v1Request(t, a)}
			got := fmt.Sprintf("%+v\n", *a.DecodeError(resp))
			adaptortest.CompareGolden(t, filepath.Join("testdata", "error_"+tt.name+".golden"), []byte(got))
		})
	}
}

// baiduUpstream speaks ERNIE v1: the token exchange (client id and secret
// checked, token counted) and chat, which takes only a token it issued.
type baiduUpstream struct {
	*httptest.Server
	issued  atomic.Int32
	revoked atomic.Bool
}

func newBaiduUpstream(t *testing.T) *baiduUpstream {
	u := &baiduUpstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		switch {
		case r.URL.Path == "/oauth/2.0/token":
			if r.Method != http.MethodPost || q.Get("grant_type") != "client_credentials" || q.Get("client_id") != clientID || q.Get("client_secret") != secret {
				w.WriteHeader(401)
				fmt.Fprint(w, `{"error_description":"unknown client id","error":"invalid_client"}`)
				return
			}
			n := u.issued.Add(1)
			fmt.Fprintf(w, `{"refresh_token":"25.r","expires_in":2592000,"session_key":"s","access_token":"24.token-%d","scope":"public"}`, n)
		case strings.HasPrefix(r.URL.Path, "/rpc/2.0/ai_custom/v1/wenxinworkshop/chat/"):
			want := fmt.Sprintf("24.token-%d", u.issued.Load())
			if q.Get("access_token") != want || u.revoked.Load() {
				u.revoked.Store(false)
				fmt.Fprint(w, `{"error_code":110,"error_msg":"Access token invalid or no longer valid"}`)
				return
			}
			body, _ := io.ReadAll(r.Body)
			if bytes.Contains(body, []byte(`"stream":true`)) {
				in, _ := os.ReadFile(filepath.Join("testdata", "stream_ok.sse"))
				w.Header().Set("Content-Type", "text/event-stream")
				w.Write(in)
				return
			}
			in, _ := os.ReadFile(filepath.Join("testdata", "reply_ok.json"))
			w.Write(in)
		default:
			w.WriteHeader(404)
		}
	}))
	t.Cleanup(u.Close)
	return u
}

func TestAgainstUpstream(t *testing.T) {
	t.Parallel()
	up := newBaiduUpstream(t)
	a := New()
	ch := channel(up.URL, v1Key)
	ctx := converttest.Context(up.Client())
	chat := func() (adaptor.Usage, error) {
		r, err := a.NewRequest(ctx, ch, chatReq(`{"model":"ERNIE-4.0-8K","messages":[{"role":"user","content":"hi"}]}`))
		if err != nil {
			return adaptor.Usage{}, err
		}
		resp, err := up.Client().Do(r)
		if err != nil {
			t.Fatal(err)
		}
		_, u, err := a.DecodeResponse(chatReq(`{}`), resp)
		return u, err
	}
	for i := 0; i < 3; i++ {
		if u, err := chat(); err != nil || u != adaptortest.Usage(5, 9) {
			t.Fatalf("call %d: %+v %v", i, u, err)
		}
	}
	if n := up.issued.Load(); n != 1 {
		t.Errorf("%d tokens fetched for 3 calls, want 1 (cached)", n)
	}
	// Baidu revokes the token: that call fails over (retry class), the next
	// one fetches a new token.
	up.revoked.Store(true)
	_, err := chat()
	var ue *adaptor.UpstreamError
	if !errors.As(err, &ue) || ue.Class != adaptor.ClassRetry || ue.Code != "110" {
		t.Fatalf("revoked token: %v", err)
	}
	if _, err := chat(); err != nil || up.issued.Load() != 2 {
		t.Fatalf("after revocation: %v, %d tokens", err, up.issued.Load())
	}

	// A wrong secret: the token exchange fails, the channel is disabled,
	// and the secret is in no message.
	bad := channel(up.URL, clientID+"|wrong-secret-value")
	_, err = a.NewRequest(ctx, bad, chatReq(`{"model":"ERNIE-4.0-8K","messages":[{"role":"user","content":"hi"}]}`))
	if !errors.As(err, &ue) || ue.Class != adaptor.ClassDisable || strings.Contains(ue.Message, "wrong-secret-value") {
		t.Fatalf("wrong secret: %v", err)
	}

	// Stream.
	sreq := chatReq(`{"model":"ERNIE-4.0-8K","messages":[{"role":"user","content":"hi"}],"stream":true}`)
	r, err := a.NewRequest(ctx, ch, sreq)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := up.Client().Do(r)
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	u, err := a.DecodeStream(sreq, resp, func(ev adaptor.Event) error { text.Write(ev.Data); return nil })
	if err != nil || u != adaptortest.Usage(5, 4) || !strings.Contains(text.String(), `"finish_reason":"stop"`) {
		t.Fatalf("stream: %+v %v\n%s", u, err, text.String())
	}
}
