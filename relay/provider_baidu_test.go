package relay

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"oneapi/relay/adaptor"
)

// TestBaiduChannel: a ClientId|ClientSecret channel exchanges its keys for
// an access token once, calls ERNIE v1 with it and bills ERNIE's counts; a
// client's oversize prompt (336103) leaves the channel alone; a Qianfan v2
// key goes to the OpenAI-format v2 API.
func TestBaiduChannel(t *testing.T) {
	b := setup(t)
	var tokens atomic.Int32
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		switch {
		case r.URL.Path == "/oauth/2.0/token":
			if q.Get("client_id") != "bdid" || q.Get("client_secret") != "bdsecret" {
				w.WriteHeader(401)
				fmt.Fprint(w, `{"error_description":"unknown client id","error":"invalid_client"}`)
				return
			}
			tokens.Add(1)
			fmt.Fprint(w, `{"expires_in":2592000,"access_token":"24.bd-token"}`)
		case r.URL.Path == "/rpc/2.0/ai_custom/v1/wenxinworkshop/chat/completions_pro":
			if q.Get("access_token") != "24.bd-token" {
				fmt.Fprint(w, `{"error_code":110,"error_msg":"Access token invalid or no longer valid"}`)
				return
			}
			body, _ := io.ReadAll(r.Body)
			s := string(body)
			switch {
			case strings.Contains(s, `"max_output_tokens":1,`) || strings.HasSuffix(s, `"max_output_tokens":1}`): // the channel test
				fmt.Fprint(w, `{"id":"as-p","result":"H","usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`)
			case !strings.Contains(s, `"system":"be brief"`) && !strings.Contains(s, `"stream":true`):
				fmt.Fprintf(w, `{"error_code":336003,"error_msg":"no system in %s"}`, s)
			case strings.Contains(s, "too long"):
				fmt.Fprint(w, `{"error_code":336103,"error_msg":"the max input characters is 20000"}`)
			case strings.Contains(s, `"stream":true`):
				w.Header().Set("Content-Type", "text/event-stream")
				for i := 0; i < 3; i++ {
					fmt.Fprintf(w, "data: {\"id\":\"as-1\",\"sentence_id\":%d,\"is_end\":false,\"result\":\"w%d \",\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":%d,\"total_tokens\":%d}}\n\n", i, i, i+1, 13+i)
				}
				fmt.Fprint(w, "data: {\"id\":\"as-1\",\"sentence_id\":3,\"is_end\":true,\"result\":\"\",\"finish_reason\":\"normal\",\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":20,\"total_tokens\":32}}\n\n")
			default:
				fmt.Fprint(w, `{"id":"as-1","result":"Hello there!","is_truncated":false,"finish_reason":"normal","usage":{"prompt_tokens":12,"completion_tokens":20,"total_tokens":32}}`)
			}
		case r.URL.Path == "/v2/chat/completions" && r.Header.Get("Authorization") == "Bearer bce-v3/ALTAK-key":
			fmt.Fprint(w, `{"id":"as-2","object":"chat.completion","created":1,"model":"ernie-4.0-8k","choices":[{"index":0,"message":{"role":"assistant","content":"v2 answer"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}`)
		default:
			w.WriteHeader(404)
			fmt.Fprintf(w, `{"error_code":3,"error_msg":"Unsupported openapi method %s"}`, r.URL.Path)
		}
	}))
	t.Cleanup(up.Close)
	chID := b.cnChannel(adaptor.TypeBaidu, up.URL, "ERNIE-4.0-8K", "bdid|bdsecret", "")
	key := b.token(tokenOpts{})
	chatTwice(t, b, key, "ERNIE-4.0-8K", "Hello there!", 3, 12, 20)
	billedTwice(t, b, "ERNIE-4.0-8K", adaptor.TypeBaidu, 12, 20)
	if n := tokens.Load(); n != 1 {
		t.Errorf("%d access tokens fetched, want 1", n)
	}
	clientErrorNotBlamed(t, b, key, chID, `{"model":"ERNIE-4.0-8K","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"too long"}]}`, 400)

	// The channel test of a new channel fetches its token with the client
	// the test is given (the relay's).
	probed := b.cnChannel(adaptor.TypeBaidu, up.URL, "ERNIE-4.0-8K", "bdid|bdsecret", "")
	if _, err := Probe(context.Background(), NewClient(nil), b.st.Routes().Channel(probed), ""); err != nil || tokens.Load() != 2 {
		t.Errorf("probe: %v (%d tokens fetched, want 2)", err, tokens.Load())
	}
	if _, err := b.pool.Exec(t.Context(), "DELETE FROM channels WHERE id = $1", probed); err != nil {
		t.Fatal(err)
	}
	b.reload()

	b.cnChannel(adaptor.TypeBaidu, up.URL, "ernie-4.0-8k", "bce-v3/ALTAK-key", "")
	res := b.post("/v1/chat/completions", key, `{"model":"ernie-4.0-8k","messages":[{"role":"user","content":"hi"}]}`)
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(raw), "v2 answer") {
		t.Fatalf("qianfan v2 = %d %s", res.StatusCode, raw)
	}

	// A wrong secret: the token exchange says invalid_client; the channel
	// is disabled and the client told it is the gateway's failure.
	if _, err := b.pool.Exec(t.Context(), "UPDATE channels SET key_ciphertext = $1 WHERE id = $2", b.cipher.Seal("bdid|wrong"), chID); err != nil {
		t.Fatal(err)
	}
	b.reload()
	keyRejected(t, b, key, chID, `{"model":"ERNIE-4.0-8K","messages":[{"role":"user","content":"hi"}]}`)
}
