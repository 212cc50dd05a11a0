package relay

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"oneapi/relay/adaptor"
)

// TestDeepLChannel: translation as chat, billed by DeepL's billed
// characters; a language DeepL refuses is the client's error.
func TestDeepLChannel(t *testing.T) {
	b := setup(t)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "DeepL-Auth-Key deepl-secret:fx" {
			w.WriteHeader(403)
			fmt.Fprint(w, `{"message":"Authorization failure, check auth_key"}`)
			return
		}
		var req struct {
			Text       []string `json:"text"`
			TargetLang string   `json:"target_lang"`
			Billed     bool     `json:"show_billed_characters"`
		}
		body, _ := io.ReadAll(r.Body)
		if json.Unmarshal(body, &req) != nil || r.URL.Path != "/v2/translate" || !req.Billed || len(req.Text) != 1 {
			w.WriteHeader(400)
			fmt.Fprintf(w, `{"message":"bad request %s"}`, body)
			return
		}
		if req.TargetLang != "ZH" {
			w.WriteHeader(400)
			fmt.Fprint(w, `{"message":"Value for 'target_lang' not supported."}`)
			return
		}
		fmt.Fprintf(w, `{"translations":[{"detected_source_language":"EN","text":"Hello there!","billed_characters":%d}]}`, len(req.Text[0])*6)
	}))
	t.Cleanup(up.Close)
	chID := b.cnChannel(adaptor.TypeDeepL, up.URL, "deepl-zh,deepl-xx", "deepl-secret:fx", "")
	key := b.token(tokenOpts{})
	chatTwice(t, b, key, "deepl-zh", "Hello there!", 1, 12, 0) // "hi" is 2 characters: DeepL bills 12 here
	billedTwice(t, b, "deepl-zh", adaptor.TypeDeepL, 12, 0)
	clientErrorNotBlamed(t, b, key, chID, `{"model":"deepl-xx","messages":[{"role":"user","content":"hi"}]}`, 400)
	if _, err := b.pool.Exec(t.Context(), "UPDATE channels SET key_ciphertext = $1 WHERE id = $2", b.cipher.Seal("wrong:fx"), chID); err != nil {
		t.Fatal(err)
	}
	b.reload()
	keyRejected(t, b, key, chID, `{"model":"deepl-zh","messages":[{"role":"user","content":"hi"}]}`)
}
