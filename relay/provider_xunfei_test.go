package relay

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"oneapi/relay/adaptor"
)

// TestXunfeiChannel: a One API Spark channel (APPID|APISecret|APIKey key,
// api_version in config) served over Spark's HTTP API.
func TestXunfeiChannel(t *testing.T) {
	b := setup(t)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer sparkkey:sparksecret" {
			w.WriteHeader(401)
			fmt.Fprint(w, `{"message":"HMAC signature cannot be verified"}`)
			return
		}
		body, _ := io.ReadAll(r.Body)
		switch {
		case !bytes.Contains(body, []byte(`"model":"generalv3.5"`)):
			fmt.Fprintf(w, `{"code":10163,"message":"bad model in %s","sid":"x"}`, body)
		case bytes.Contains(body, []byte("unsafe")):
			fmt.Fprint(w, `{"code":10013,"message":"输入内容审核不通过","sid":"x"}`)
		case bytes.Contains(body, []byte(`"stream":true`)):
			w.Header().Set("Content-Type", "text/event-stream")
			for i := 0; i < 3; i++ {
				fmt.Fprintf(w, "data:{\"code\":0,\"message\":\"Success\",\"sid\":\"s\",\"id\":\"s\",\"created\":1,\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"w%d \"},\"index\":0}]}\n\n", i)
			}
			fmt.Fprint(w, "data:{\"code\":0,\"message\":\"Success\",\"sid\":\"s\",\"id\":\"s\",\"created\":1,\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"index\":0}],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":20,\"total_tokens\":32}}\n\ndata:[DONE]\n\n")
		default:
			fmt.Fprint(w, `{"code":0,"message":"Success","sid":"s","choices":[{"message":{"role":"assistant","content":"Hello there!"},"index":0}],"usage":{"prompt_tokens":12,"completion_tokens":20,"total_tokens":32}}`)
		}
	}))
	t.Cleanup(up.Close)
	chID := b.cnChannel(adaptor.TypeXunfei, up.URL, "SparkDesk", "appid01|sparksecret|sparkkey", `{"api_version":"v3.5"}`)
	key := b.token(tokenOpts{})
	chatTwice(t, b, key, "SparkDesk", "Hello there!", 3, 12, 20)
	billedTwice(t, b, "SparkDesk", adaptor.TypeXunfei, 12, 20)
	clientErrorNotBlamed(t, b, key, chID, `{"model":"SparkDesk","messages":[{"role":"user","content":"unsafe"}]}`, 400)
	if _, err := b.pool.Exec(t.Context(), "UPDATE channels SET key_ciphertext = $1 WHERE id = $2", b.cipher.Seal("appid01|wrong|sparkkey"), chID); err != nil {
		t.Fatal(err)
	}
	b.reload()
	keyRejected(t, b, key, chID, `{"model":"SparkDesk","messages":[{"role":"user","content":"hi"}]}`)
}
