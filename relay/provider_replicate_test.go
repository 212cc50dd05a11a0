package relay

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"oneapi/pricing"
	"oneapi/relay/adaptor"
)

// TestReplicateChannel: a language model's predictions as chat (waited
// for, and streamed from the prediction's stream URL), billed by the
// prediction's token counts; an image model's as images, billed per image.
func TestReplicateChannel(t *testing.T) {
	b := setup(t)
	var up *httptest.Server
	up = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer r8_relay_token" {
			w.WriteHeader(401)
			fmt.Fprint(w, `{"title":"Unauthenticated","detail":"You did not pass a valid authentication token","status":401}`)
			return
		}
		body, _ := io.ReadAll(r.Body)
		done := func(id, output string) string {
			return fmt.Sprintf(`{"id":%q,"status":"succeeded","output":%s,"urls":{"get":%q,"stream":%q},"metrics":{"input_token_count":12,"output_token_count":20}}`,
				id, output, up.URL+"/v1/predictions/"+id, up.URL+"/stream/"+id)
		}
		switch {
		case r.URL.Path == "/v1/models/meta/meta-llama-3-70b-instruct/predictions" && strings.Contains(string(body), "bad input"):
			w.WriteHeader(422)
			fmt.Fprint(w, `{"title":"Input validation failed","detail":"- input.prompt: too long","status":422}`)
		case r.URL.Path == "/v1/models/meta/meta-llama-3-70b-instruct/predictions" && strings.Contains(string(body), `"stream":true`):
			w.WriteHeader(201)
			fmt.Fprintf(w, `{"id":"s1","status":"starting","output":null,"urls":{"get":%q,"stream":%q}}`, up.URL+"/v1/predictions/s1", up.URL+"/stream/s1")
		case r.URL.Path == "/v1/models/meta/meta-llama-3-70b-instruct/predictions":
			w.WriteHeader(201)
			fmt.Fprint(w, done("c1", `["Hello"," there!"]`))
		case r.URL.Path == "/stream/s1":
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "event: output\ndata: w0 \n\nevent: output\ndata: w1 \n\nevent: output\ndata: w2\n\nevent: done\ndata: {}\n\n")
		case r.URL.Path == "/v1/predictions/s1":
			fmt.Fprint(w, done("s1", `["w0 ","w1 ","w2"]`))
		case r.URL.Path == "/v1/models/black-forest-labs/flux-schnell/predictions":
			w.WriteHeader(201)
			fmt.Fprintf(w, `{"id":"i1","status":"succeeded","output":["https://replicate.delivery/1.webp","https://replicate.delivery/2.webp"],"urls":{"get":%q}}`, up.URL+"/v1/predictions/i1")
		default:
			w.WriteHeader(404)
			fmt.Fprintf(w, `{"title":"Not found","detail":"no %s","status":404}`, r.URL.Path)
		}
	}))
	t.Cleanup(up.Close)
	chID := b.cnChannel(adaptor.TypeReplicate, up.URL+"/v1/models/", "meta/meta-llama-3-70b-instruct,black-forest-labs/flux-schnell", "r8_relay_token", "")
	key := b.token(tokenOpts{})
	chatTwice(t, b, key, "meta/meta-llama-3-70b-instruct", "Hello there!", 3, 12, 20)
	billedTwice(t, b, "meta/meta-llama-3-70b-instruct", adaptor.TypeReplicate, 12, 20)

	res := b.post("/v1/images/generations", key, `{"model":"black-forest-labs/flux-schnell","prompt":"a cat","n":2}`)
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || strings.Count(string(raw), "https://replicate.delivery/") != 2 {
		t.Fatalf("images = %d %s", res.StatusCode, raw)
	}
	b.settled(3)
	p, _ := b.st.Options().Price("black-forest-labs/flux-schnell", "default", adaptor.TypeReplicate)
	if n := b.scalar("SELECT count(*) FROM logs WHERE type = 2 AND model_name = 'black-forest-labs/flux-schnell' AND quota = $1", pricing.PerCall(p, 2)); n != 1 {
		t.Errorf("image log rows at %d: %d, want 1", pricing.PerCall(p, 2), n)
	}
	clientErrorNotBlamed(t, b, key, chID, `{"model":"meta/meta-llama-3-70b-instruct","messages":[{"role":"user","content":"bad input"}]}`, 422)
	if _, err := b.pool.Exec(t.Context(), "UPDATE channels SET key_ciphertext = $1 WHERE id = $2", b.cipher.Seal("r8_wrong"), chID); err != nil {
		t.Fatal(err)
	}
	b.reload()
	keyRejected(t, b, key, chID, `{"model":"meta/meta-llama-3-70b-instruct","messages":[{"role":"user","content":"hi"}],"stream":true}`)
}
