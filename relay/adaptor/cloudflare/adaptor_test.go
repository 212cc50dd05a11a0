package cloudflare

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/adaptortest"
)

const fakeKey = "cf-fake-token-000000000000000000000"

func TestRegistered(t *testing.T) {
	t.Parallel()
	if _, ok := adaptor.For(adaptor.TypeCloudflare).(*Adaptor); !ok {
		t.Fatalf("For(%d) = %T", adaptor.TypeCloudflare, adaptor.For(adaptor.TypeCloudflare))
	}
}

func TestRequestURL(t *testing.T) {
	t.Parallel()
	acct := map[string]string{"user_id": "0123abcd"}
	tests := []struct {
		name, base string
		config     map[string]string
		want       string
		wantErr    bool
	}{
		{name: "default api", config: acct, want: "https://api.cloudflare.com/client/v4/accounts/0123abcd/ai/v1/chat/completions"},
		{name: "api without account", wantErr: true},
		{name: "base names the account", base: "https://api.cloudflare.com/client/v4/accounts/9999/ai/v1/", want: "https://api.cloudflare.com/client/v4/accounts/9999/ai/v1/chat/completions"},
		{name: "gateway", base: "https://gateway.ai.cloudflare.com/v1/0123abcd/my-gw", want: "https://gateway.ai.cloudflare.com/v1/0123abcd/my-gw/workers-ai/v1/chat/completions"},
		{name: "gateway provider path", base: "https://gateway.ai.cloudflare.com/v1/0123abcd/my-gw/workers-ai/", want: "https://gateway.ai.cloudflare.com/v1/0123abcd/my-gw/workers-ai/v1/chat/completions"},
		{name: "gateway unified", base: "https://gateway.ai.cloudflare.com/v1/0123abcd/my-gw/compat", want: "https://gateway.ai.cloudflare.com/v1/0123abcd/my-gw/compat/chat/completions"},
		{name: "account that would leave its path segment", config: map[string]string{"user_id": "a/../b"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := RequestURL(&adaptor.Channel{BaseURL: tt.base, Config: tt.config}, "/chat/completions")
			if tt.wantErr {
				if err == nil {
					t.Fatalf("RequestURL = %q, want an error", got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("RequestURL = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestDecodeErrorGolden(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		file   string
		status int
		class  adaptor.ErrorClass
	}{
		{"401_auth", 401, adaptor.ClassDisable},
		{"404_account", 404, adaptor.ClassDisable},
		{"500_internal", 500, adaptor.ClassRetry},
		{"400_bad_input", 400, adaptor.ClassClient},
		{"429_openai_shape", 429, adaptor.ClassRetry},
	} {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			body, err := os.ReadFile(filepath.Join("testdata", "error", tt.file+".json"))
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest(http.MethodPost, "https://api.cloudflare.com/x", nil)
			req.Header.Set("Authorization", "Bearer "+fakeKey)
			ue := New().DecodeError(&http.Response{StatusCode: tt.status, Header: http.Header{}, Body: io.NopCloser(bytes.NewReader(body)), Request: req})
			if ue.Class != tt.class {
				t.Errorf("class = %v, want %v", ue.Class, tt.class)
			}
			adaptortest.CompareGolden(t, filepath.Join("testdata", "error", tt.file+".golden"),
				[]byte(fmt.Sprintf("status=%d type=%q code=%q class=%v\nmessage: %s\n", ue.Status, ue.Type, ue.Code, ue.Class, ue.Message)))
		})
	}
}

// workersAI speaks Workers AI's OpenAI-compatible endpoints and its model
// search, for the account "acct" and the key only.
func workersAI(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+fakeKey {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"result":null,"success":false,"errors":[{"code":10000,"message":"Authentication error"}]}`))
			return
		}
		switch r.URL.Path {
		case "/client/v4/accounts/acct/ai/v1/chat/completions":
			body, _ := io.ReadAll(r.Body)
			if strings.Contains(string(body), `"stream":true`) {
				w.Header().Set("Content-Type", "text/event-stream")
				w.Write([]byte("data: {\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\ndata: {\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":1,\"total_tokens\":8}}\n\ndata: [DONE]\n\n"))
				return
			}
			w.Write([]byte(`{"id":"id-1","object":"chat.completion","created":1,"model":"@cf/meta/llama-3.1-8b-instruct","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":7,"completion_tokens":1,"total_tokens":8}}`))
		case "/client/v4/accounts/acct/ai/models/search":
			w.Write([]byte(`{"success":true,"result":[{"name":"@cf/meta/llama-3.1-8b-instruct","task":{"name":"Text Generation"}},{"name":"@cf/baai/bge-m3"}]}`))
		default:
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"success":false,"errors":[{"code":7003,"message":"Could not route"}]}`))
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestWorkersAI(t *testing.T) {
	t.Parallel()
	srv := workersAI(t)
	a := New()
	ctx := context.Background()
	ch := &adaptor.Channel{Type: adaptor.TypeCloudflare, BaseURL: srv.URL, Key: fakeKey, Config: map[string]string{"user_id": "acct"}}
	call := func(ch *adaptor.Channel, stream bool) (*http.Response, *adaptor.Request) {
		body := `{"model":"@cf/meta/llama-3.1-8b-instruct","messages":[{"role":"user","content":"hi"}]`
		if stream {
			body += `,"stream":true`
		}
		req := &adaptor.Request{Mode: adaptor.ModeChat, Model: "@cf/meta/llama-3.1-8b-instruct", Body: []byte(body + "}"), Stream: stream}
		r, err := a.NewRequest(ctx, ch, req)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := srv.Client().Do(r)
		if err != nil {
			t.Fatal(err)
		}
		return resp, req
	}
	resp, req := call(ch, false)
	out, u, err := a.DecodeResponse(req, resp)
	if err != nil || !u.Reported || u.Input != 7 || u.Output != 1 || !strings.Contains(string(out), `"content":"hi"`) {
		t.Errorf("chat = %s %+v %v", out, u, err)
	}
	resp, req = call(ch, true)
	var sent int
	u, err = a.DecodeStream(req, resp, func(adaptor.Event) error { sent++; return nil })
	if err != nil || u.Input != 7 || u.Output != 1 || sent != 2 {
		t.Errorf("stream: %d events, %+v %v", sent, u, err)
	}
	models, err := a.ListModels(ctx, srv.Client(), ch)
	if err != nil || !slices.Equal(models, []string{"@cf/meta/llama-3.1-8b-instruct", "@cf/baai/bge-m3"}) {
		t.Errorf("models = %v %v", models, err)
	}
	bad := *ch
	bad.Key = "cf-wrong"
	resp, _ = call(&bad, false)
	ue := a.DecodeError(resp)
	if ue.Class != adaptor.ClassDisable || ue.Code != "10000" {
		t.Errorf("wrong key: %+v", ue)
	}
	if _, err := a.NewRequest(ctx, ch, &adaptor.Request{Mode: adaptor.ModeImages}); err == nil || errors.As(err, new(*adaptor.UpstreamError)) {
		t.Errorf("images: %v, want a plain error (another channel may serve it)", err)
	}
}
