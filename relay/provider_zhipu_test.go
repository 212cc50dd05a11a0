package relay

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"oneapi/relay/adaptor"
)

// zhipuJWTValid checks a Zhipu JWT as Zhipu does: HS256 by the secret, the
// key id as api_key, not expired.
func zhipuJWTValid(token, id, secret string) bool {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(parts[0] + "." + parts[1]))
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	var c struct {
		APIKey string `json:"api_key"`
		Exp    int64  `json:"exp"`
	}
	cb, _ := base64.RawURLEncoding.DecodeString(parts[1])
	return hmac.Equal(sig, mac.Sum(nil)) && json.Unmarshal(cb, &c) == nil && c.APIKey == id && c.Exp > time.Now().UnixMilli()
}

func TestZhipuChannel(t *testing.T) {
	b := setup(t)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !zhipuJWTValid(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "), "zid", "zsecret") {
			w.WriteHeader(401)
			fmt.Fprint(w, `{"error":{"code":"1002","message":"Authorization Token非法"}}`)
			return
		}
		body, _ := io.ReadAll(r.Body)
		var req struct {
			Model    string `json:"model"`
			Stream   bool   `json:"stream"`
			Messages []struct {
				Content string `json:"content"`
			} `json:"messages"`
		}
		_ = json.Unmarshal(body, &req)
		if r.URL.Path != "/api/paas/v4/chat/completions" || req.Model != "glm-4-plus" {
			w.WriteHeader(400)
			fmt.Fprintf(w, `{"error":{"code":"1211","message":"no model %s"}}`, req.Model)
			return
		}
		if req.Messages[len(req.Messages)-1].Content == "bad request" {
			w.WriteHeader(400)
			fmt.Fprint(w, `{"error":{"code":"1214","message":"messages 参数非法"}}`)
			return
		}
		if !req.Stream {
			fmt.Fprint(w, `{"id":"z1","created":1,"model":"glm-4-plus","choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"Hello there!"}}],"usage":{"prompt_tokens":12,"completion_tokens":20,"total_tokens":32}}`)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for i := 0; i < 3; i++ {
			fmt.Fprintf(w, "data: {\"id\":\"z1\",\"created\":1,\"model\":\"glm-4-plus\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"w%d \"}}]}\n\n", i)
		}
		fmt.Fprint(w, "data: {\"id\":\"z1\",\"created\":1,\"model\":\"glm-4-plus\",\"choices\":[{\"index\":0,\"finish_reason\":\"stop\",\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":20,\"total_tokens\":32}}\n\ndata: [DONE]\n\n")
	}))
	t.Cleanup(up.Close)
	chID := b.cnChannel(adaptor.TypeZhipu, up.URL, "glm-4-plus", "zid.zsecret", "")
	key := b.token(tokenOpts{})
	chatTwice(t, b, key, "glm-4-plus", "Hello there!", 3, 12, 20)
	billedTwice(t, b, "glm-4-plus", adaptor.TypeZhipu, 12, 20)

	clientErrorNotBlamed(t, b, key, chID, `{"model":"glm-4-plus","messages":[{"role":"user","content":"bad request"}]}`, 400)
	if _, err := b.pool.Exec(t.Context(), "UPDATE channels SET key_ciphertext = $1 WHERE id = $2", b.cipher.Seal("zid.wrong"), chID); err != nil {
		t.Fatal(err)
	}
	b.reload()
	keyRejected(t, b, key, chID, `{"model":"glm-4-plus","messages":[{"role":"user","content":"hi"}]}`)
}
