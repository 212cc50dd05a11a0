package relay

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"oneapi/pricing"
	"oneapi/relay/adaptor"
)

// TestAliChannel: DashScope's native chat and stream billed by its counts,
// and an image task submitted, polled and billed per image.
func TestAliChannel(t *testing.T) {
	b := setup(t)
	var polls atomic.Int32
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer sk-upstream-secret-key-000" {
			w.WriteHeader(401)
			fmt.Fprint(w, `{"code":"InvalidApiKey","message":"Invalid API-key provided.","request_id":"x"}`)
			return
		}
		body, _ := io.ReadAll(r.Body)
		s := string(body)
		switch {
		case r.URL.Path == "/api/v1/services/aigc/text-generation/generation" && strings.Contains(s, "inappropriate"):
			w.WriteHeader(400)
			fmt.Fprint(w, `{"code":"DataInspectionFailed","message":"Input data may contain inappropriate content.","request_id":"x"}`)
		case r.URL.Path == "/api/v1/services/aigc/text-generation/generation" && r.Header.Get("X-DashScope-SSE") == "enable":
			w.Header().Set("Content-Type", "text/event-stream")
			for i := 0; i < 3; i++ {
				fin := "null"
				if i == 2 {
					fin = "stop"
				}
				fmt.Fprintf(w, "id:%d\nevent:result\n:HTTP_STATUS/200\ndata:{\"output\":{\"choices\":[{\"message\":{\"content\":\"w%d \",\"role\":\"assistant\"},\"finish_reason\":%q}]},\"usage\":{\"input_tokens\":12,\"output_tokens\":%d},\"request_id\":\"s\"}\n\n", i+1, i, fin, 18+i)
			}
		case r.URL.Path == "/api/v1/services/aigc/text-generation/generation" && strings.Contains(s, `"role":"system","content":"be brief"`):
			fmt.Fprint(w, `{"output":{"choices":[{"finish_reason":"stop","message":{"role":"assistant","content":"Hello there!"}}]},"usage":{"input_tokens":12,"output_tokens":20,"total_tokens":32},"request_id":"r"}`)
		case r.URL.Path == "/api/v1/services/aigc/text2image/image-synthesis" && r.Header.Get("X-DashScope-Async") == "enable":
			fmt.Fprint(w, `{"output":{"task_status":"PENDING","task_id":"task-9"},"request_id":"r"}`)
		case r.URL.Path == "/api/v1/tasks/task-9" && r.Method == http.MethodGet:
			if polls.Add(1) < 2 {
				fmt.Fprint(w, `{"output":{"task_id":"task-9","task_status":"RUNNING"}}`)
				return
			}
			fmt.Fprint(w, `{"output":{"task_id":"task-9","task_status":"SUCCEEDED","results":[{"url":"https://img.example/1.png"},{"url":"https://img.example/2.png"}]},"usage":{"image_count":2}}`)
		default:
			w.WriteHeader(400)
			fmt.Fprintf(w, `{"code":"InvalidParameter","message":"unexpected %s %s"}`, r.URL.Path, s)
		}
	}))
	t.Cleanup(up.Close)
	chID := b.cnChannel(adaptor.TypeAli, up.URL, "qwen-max,wanx-v1", "sk-upstream-secret-key-000", "")
	key := b.token(tokenOpts{})
	chatTwice(t, b, key, "qwen-max", "Hello there!", 3, 12, 20)
	billedTwice(t, b, "qwen-max", adaptor.TypeAli, 12, 20)

	res := b.post("/v1/images/generations", key, `{"model":"wanx-v1","prompt":"a cat","n":2,"size":"1024x1024"}`)
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || strings.Count(string(raw), `"url":"https://img.example/`) != 2 {
		t.Fatalf("images = %d %s", res.StatusCode, raw)
	}
	b.settled(3)
	p, _ := b.st.Options().Price("wanx-v1", "default", adaptor.TypeAli)
	if n := b.scalar("SELECT count(*) FROM logs WHERE type = 2 AND model_name = 'wanx-v1' AND quota = $1", pricing.PerCall(p, 2)); n != 1 {
		t.Errorf("image log rows billed %d: %d, want 1", pricing.PerCall(p, 2), n)
	}

	clientErrorNotBlamed(t, b, key, chID, `{"model":"qwen-max","messages":[{"role":"user","content":"inappropriate"}]}`, 400)
	if _, err := b.pool.Exec(t.Context(), "UPDATE channels SET key_ciphertext = $1 WHERE id = $2", b.cipher.Seal("sk-wrong"), chID); err != nil {
		t.Fatal(err)
	}
	b.reload()
	keyRejected(t, b, key, chID, `{"model":"qwen-max","messages":[{"role":"user","content":"hi"}]}`)
}
