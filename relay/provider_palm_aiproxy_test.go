package relay

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/palm"
)

// TestPaLMChannel: a One API PaLM channel (base URL with PaLM's v1beta2)
// is answered by Gemini's successor model on the same host and key.
func TestPaLMChannel(t *testing.T) {
	b := setup(t)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("x-goog-api-key") != "AIza-palm-key" {
			w.WriteHeader(400)
			fmt.Fprint(w, `{"error":{"code":400,"message":"API key not valid.","status":"INVALID_ARGUMENT","details":[{"reason":"API_KEY_INVALID"}]}}`)
			return
		}
		usage := `"usageMetadata":{"promptTokenCount":12,"candidatesTokenCount":20,"totalTokenCount":32}`
		switch r.URL.Path {
		case "/v1beta/models/" + palm.Successor + ":generateContent":
			fmt.Fprint(w, `{"candidates":[{"content":{"role":"model","parts":[{"text":"Hello there!"}]},"finishReason":"STOP"}],`+usage+`}`)
		case "/v1beta/models/" + palm.Successor + ":streamGenerateContent":
			w.Header().Set("Content-Type", "text/event-stream")
			for i := 0; i < 3; i++ {
				fmt.Fprintf(w, "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"w%d \"}]}}]}\n\n", i)
			}
			fmt.Fprint(w, "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"\"}]},\"finishReason\":\"STOP\"}],"+usage+"}\n\n")
		default:
			w.WriteHeader(404)
			fmt.Fprintf(w, `{"error":{"code":404,"message":"no %s","status":"NOT_FOUND"}}`, r.URL.Path)
		}
	}))
	t.Cleanup(up.Close)
	chID := b.cnChannel(adaptor.TypePaLM, up.URL+"/v1beta2", "PaLM-2", "AIza-palm-key", "")
	key := b.token(tokenOpts{})
	chatTwice(t, b, key, "PaLM-2", "Hello there!", 3, 12, 20)
	billedTwice(t, b, "PaLM-2", adaptor.TypePaLM, 12, 20)
	if _, err := b.pool.Exec(t.Context(), "UPDATE channels SET key_ciphertext = $1 WHERE id = $2", b.cipher.Seal("AIza-wrong"), chID); err != nil {
		t.Fatal(err)
	}
	b.reload()
	keyRejected(t, b, key, chID, `{"model":"PaLM-2","messages":[{"role":"user","content":"hi"}]}`)
}

// TestAIProxyLibraryChannel: a library question answered as chat; AI Proxy
// reports no usage, so the gateway counts it (and says so in the log).
func TestAIProxyLibraryChannel(t *testing.T) {
	b := setup(t)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer ap-key" {
			w.WriteHeader(401)
			fmt.Fprint(w, `{"success":false,"errCode":401,"message":"invalid token"}`)
			return
		}
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path != "/api/library/ask" || !bytes.Contains(body, []byte(`"libraryId":"lib-9"`)) || !bytes.Contains(body, []byte(`"query":"hi"`)) {
			w.WriteHeader(400)
			fmt.Fprintf(w, `{"success":false,"errCode":400,"message":"bad %s"}`, body)
			return
		}
		if bytes.Contains(body, []byte(`"stream":true`)) {
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "data: {\"content\":\"Hello \",\"finish\":false}\n\ndata: {\"content\":\"there!\",\"finish\":false}\n\ndata: {\"content\":\"\",\"finish\":true}\n\n")
			return
		}
		fmt.Fprint(w, `{"success":true,"answer":"Hello there!","documents":[]}`)
	}))
	t.Cleanup(up.Close)
	chID := b.cnChannel(adaptor.TypeAIProxyLibrary, up.URL, "gpt-3.5-turbo", "ap-key", `{"library_id":"lib-9"}`)
	key := b.token(tokenOpts{})
	res := b.post("/v1/chat/completions", key, `{"model":"gpt-3.5-turbo","messages":[{"role":"user","content":"hi"}]}`)
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(raw), `"content":"Hello there!"`) {
		t.Fatalf("chat = %d %s", res.StatusCode, raw)
	}
	res = b.post("/v1/chat/completions", key, `{"model":"gpt-3.5-turbo","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	raw, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(raw), `"content":"there!"`) || !strings.HasSuffix(string(raw), "data: [DONE]\n\n") {
		t.Fatalf("stream = %d %s", res.StatusCode, raw)
	}
	b.settled(2)
	if n := b.scalar("SELECT count(*) FROM logs WHERE type = 2 AND usage_counted AND prompt_tokens > 0 AND completion_tokens > 0 AND quota > 0"); n != 2 {
		t.Errorf("%d log rows counted by the gateway, want 2", n)
	}
	if _, err := b.pool.Exec(t.Context(), "UPDATE channels SET key_ciphertext = $1 WHERE id = $2", b.cipher.Seal("ap-wrong"), chID); err != nil {
		t.Fatal(err)
	}
	b.reload()
	keyRejected(t, b, key, chID, `{"model":"gpt-3.5-turbo","messages":[{"role":"user","content":"hi"}]}`)
}
