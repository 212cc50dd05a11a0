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

// TestCozeChannel: a bot answered through Coze's v3 stream, for stream and
// non-stream clients alike, billed by the chat's own usage.
func TestCozeChannel(t *testing.T) {
	b := setup(t)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer pat_coze_secret" {
			fmt.Fprint(w, `{"code":4100,"msg":"authentication is invalid"}`)
			return
		}
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path != "/v3/chat" || !bytes.Contains(body, []byte(`"bot_id":"738"`)) || !bytes.Contains(body, []byte(`"user_id":"coze-user"`)) {
			fmt.Fprintf(w, `{"code":4000,"msg":"bad %s"}`, body)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "event:conversation.chat.created\ndata:{\"id\":\"c1\",\"status\":\"created\"}\n\n")
		for _, part := range []string{"Hello", " there", "!"} {
			fmt.Fprintf(w, "event:conversation.message.delta\ndata:{\"role\":\"assistant\",\"type\":\"answer\",\"content\":%q,\"content_type\":\"text\",\"chat_id\":\"c1\"}\n\n", part)
		}
		fmt.Fprint(w, "event:conversation.message.completed\ndata:{\"role\":\"assistant\",\"type\":\"answer\",\"content\":\"Hello there!\",\"content_type\":\"text\",\"chat_id\":\"c1\"}\n\n")
		fmt.Fprint(w, "event:conversation.chat.completed\ndata:{\"id\":\"c1\",\"status\":\"completed\",\"usage\":{\"token_count\":32,\"output_count\":20,\"input_count\":12}}\n\n")
		fmt.Fprint(w, "event:done\ndata:\"[DONE]\"\n\n")
	}))
	t.Cleanup(up.Close)
	chID := b.cnChannel(adaptor.TypeCoze, up.URL, "bot-738", "pat_coze_secret", `{"user_id":"coze-user"}`)
	key := b.token(tokenOpts{})
	chatTwice(t, b, key, "bot-738", "Hello there!", 3, 12, 20)
	billedTwice(t, b, "bot-738", adaptor.TypeCoze, 12, 20)
	clientErrorNotBlamed(t, b, key, chID, `{"model":"bot-738","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f"}}]}`, 400)
	if _, err := b.pool.Exec(t.Context(), "UPDATE channels SET key_ciphertext = $1 WHERE id = $2", b.cipher.Seal("pat_wrong"), chID); err != nil {
		t.Fatal(err)
	}
	b.reload()
	keyRejected(t, b, key, chID, `{"model":"bot-738","messages":[{"role":"user","content":"hi"}]}`)
}
