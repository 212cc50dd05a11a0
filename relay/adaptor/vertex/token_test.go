package vertex

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/adaptortest"
)

var chatBody = []byte(`{"model":"x","messages":[{"role":"user","content":"hi"}],"max_tokens":16}`)

func newChat(a *Adaptor, ch *adaptor.Channel, model string) (*http.Request, error) {
	return a.NewRequest(context.Background(), ch, &adaptor.Request{Mode: adaptor.ModeChat, Model: model, Body: chatBody})
}

// TestTokenExchange: the service account is exchanged at its token_uri
// once, the token is reused by concurrent and later requests, and replaced
// before it expires.
func TestTokenExchange(t *testing.T) {
	t.Parallel()
	ch, ts, _ := testChannel(t)
	a := New()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := newChat(a, ch, "gemini-2.5-flash")
			if err != nil || r.Header.Get("Authorization") != "Bearer "+adaptortest.Token(1) {
				t.Errorf("request: %v %v", err, r)
			}
		}()
	}
	wg.Wait()
	if _, err := newChat(a, ch, "claude-sonnet-4-5@20250929"); err != nil {
		t.Fatal(err)
	}
	if n := ts.Exchanges.Load(); n != 1 {
		t.Errorf("%d exchanges for 9 requests, want 1 (cached)", n)
	}

	// Tokens that expire within refreshBefore are replaced at once: no
	// request goes out with a token about to expire.
	ts.ExpiresIn.Store(int64(refreshBefore.Seconds()) - 30)
	other := *ch
	other.ID = 8
	for i := range 3 {
		r, err := newChat(a, &other, "gemini-2.5-flash")
		if err != nil {
			t.Fatal(err)
		}
		if want := "Bearer " + adaptortest.Token(int64(i+2)); r.Header.Get("Authorization") != want {
			t.Errorf("request %d: Authorization %q, want %q", i, r.Header.Get("Authorization"), want)
		}
	}

	// A new key for the channel is a new exchange, with the new account.
	sa2 := adaptortest.NewServiceAccount(t, "my-proj", ts.URL+"/token")
	ts.Trust(sa2)
	ts.ExpiresIn.Store(3600)
	changed := *ch
	changed.Key = string(sa2.JSON)
	before := ts.Exchanges.Load()
	if _, err := newChat(a, &changed, "gemini-2.5-flash"); err != nil || ts.Exchanges.Load() != before+1 {
		t.Errorf("changed key: %v, %d exchanges (was %d)", err, ts.Exchanges.Load(), before)
	}
}

func TestTokenFailures(t *testing.T) {
	t.Parallel()
	ch, ts, _ := testChannel(t)
	a := New()

	// The token endpoint refusing the account disables the channel.
	ts.Refuse.Store(true)
	_, err := newChat(a, ch, "gemini-2.5-flash")
	var ue *adaptor.UpstreamError
	if !errors.As(err, &ue) || ue.Class != adaptor.ClassDisable || ue.Code != "invalid_grant" || ue.Status != http.StatusBadGateway {
		t.Errorf("refused account: %v", err)
	}
	// A failure is not cached: the next request exchanges again.
	ts.Refuse.Store(false)
	if _, err := newChat(a, ch, "gemini-2.5-flash"); err != nil {
		t.Errorf("after the refusal: %v", err)
	}

	// A token endpoint that is down is worth another channel.
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `{"error":"backend_error"}`)
	}))
	defer down.Close()
	sa := adaptortest.NewServiceAccount(t, "p", down.URL)
	_, err = newChat(a, &adaptor.Channel{ID: 20, Key: string(sa.JSON), Config: map[string]string{"region": "us-east5"}}, "gemini-2.5-flash")
	if !errors.As(err, &ue) || ue.Class != adaptor.ClassRetry {
		t.Errorf("token endpoint down: %v", err)
	}
	unreachable := adaptortest.NewServiceAccount(t, "p", "http://127.0.0.1:1/token")
	_, err = newChat(a, &adaptor.Channel{ID: 21, Key: string(unreachable.JSON), Config: map[string]string{"region": "us-east5"}}, "gemini-2.5-flash")
	if !errors.As(err, &ue) || ue.Class != adaptor.ClassRetry {
		t.Errorf("token endpoint unreachable: %v", err)
	}

	// Keys that cannot be used disable the channel without an exchange.
	before := ts.Exchanges.Load()
	for name, key := range map[string]string{
		"not JSON":           `{"type":"service_account",`,
		"user credentials":   `{"type":"authorized_user","client_id":"c","client_secret":"s","refresh_token":"r","project_id":"p"}`,
		"external account":   `{"type":"external_account","audience":"x","token_url":"` + ts.URL + `","credential_source":{"executable":{"command":"/bin/true"}},"project_id":"p"}`,
		"broken private key": strings.Replace(ch.Key, "PRIVATE KEY-----\\n", "PRIVATE KEY-----\\nAAAA", 1),
	} {
		_, err := newChat(a, &adaptor.Channel{ID: 30, Key: key, Config: map[string]string{"region": "us-east5", "vertex_ai_project_id": "p"}}, "gemini-2.5-flash")
		if !errors.As(err, &ue) || ue.Class != adaptor.ClassDisable {
			t.Errorf("%s: err = %v, want ClassDisable", name, err)
		}
	}
	if n := ts.Exchanges.Load(); n != before {
		t.Errorf("%d exchanges for unusable keys", n-before)
	}

	// A client that leaves while the token is fetched is not waited for.
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release) // before Close, which waits for the handler
	sa = adaptortest.NewServiceAccount(t, "p", slow.URL)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = a.NewRequest(ctx, &adaptor.Channel{ID: 40, Key: string(sa.JSON), Config: map[string]string{"region": "us-east5"}},
		&adaptor.Request{Mode: adaptor.ModeChat, Model: "gemini-2.5-flash", Body: chatBody})
	if !errors.As(err, &ue) || ue.Status != 499 {
		t.Errorf("canceled client: %v", err)
	}
}

// vertexServer speaks Vertex AI for one project and region: Gemini and
// Claude models, non-stream and stream, for the token server's tokens only.
func vertexServer(t *testing.T, ts *adaptortest.TokenServer) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		valid := false
		for n := int64(1); n <= ts.Exchanges.Load(); n++ {
			valid = valid || auth == "Bearer "+adaptortest.Token(n)
		}
		w.Header().Set("Content-Type", "application/json")
		if !valid {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}`)
			return
		}
		body, _ := io.ReadAll(r.Body)
		const prefix = "/v1/projects/my-proj/locations/us-east5/publishers/"
		switch r.URL.Path {
		case prefix + "google/models/gemini-2.5-flash:generateContent":
			fmt.Fprint(w, `{"candidates":[{"content":{"role":"model","parts":[{"text":"Hello there!"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":12,"candidatesTokenCount":20,"totalTokenCount":32}}`)
		case prefix + "google/models/gemini-2.5-flash:streamGenerateContent":
			if r.URL.RawQuery != "alt=sse" {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"w0 \"}]}}]}\r\n\r\n")
			fmt.Fprint(w, "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"w1\"}]},\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":12,\"candidatesTokenCount\":20,\"totalTokenCount\":32}}\r\n\r\n")
		case prefix + "anthropic/models/claude-sonnet-4-5@20250929:rawPredict":
			if !strings.Contains(string(body), `"anthropic_version":"vertex-2023-10-16"`) || strings.Contains(string(body), `"model"`) {
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprintf(w, `{"type":"error","error":{"type":"invalid_request_error","message":"bad body %s"}}`, body)
				return
			}
			fmt.Fprint(w, `{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[{"type":"text","text":"Hello there!"}],"stop_reason":"end_turn","usage":{"input_tokens":12,"output_tokens":20}}`)
		default:
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprintf(w, `{"error":{"code":404,"message":"no route %s","status":"NOT_FOUND"}}`, r.URL.Path)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	ch, ts, _ := testChannel(t)
	ch.BaseURL = vertexServer(t, ts).URL
	a := New()
	for _, model := range []string{"gemini-2.5-flash", "claude-sonnet-4-5@20250929"} {
		req := &adaptor.Request{Mode: adaptor.ModeChat, Model: model, Body: chatBody}
		r, err := a.NewRequest(context.Background(), ch, req)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %v", model, a.DecodeError(resp))
		}
		out, u, err := a.DecodeResponse(req, resp)
		if err != nil || !strings.Contains(string(out), `"content":"Hello there!"`) || u != adaptortest.Usage(12, 20) {
			t.Errorf("%s: %s %+v %v", model, out, u, err)
		}
	}
	req := &adaptor.Request{Mode: adaptor.ModeChat, Model: "gemini-2.5-flash", Body: chatBody, Stream: true}
	r, err := a.NewRequest(context.Background(), ch, req)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	var sent strings.Builder
	u, err := a.DecodeStream(req, resp, func(ev adaptor.Event) error { sent.Write(ev.Data); return nil })
	if err != nil || strings.Count(sent.String(), `"content":"w`) != 2 || u != adaptortest.Usage(12, 20) {
		t.Errorf("stream: %s %+v %v", sent.String(), u, err)
	}

	// A model this project does not have is the client's 404.
	r, _ = newChat(a, ch, "gemini-9")
	resp, err = http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	if ue := a.DecodeError(resp); ue.Status != 404 || ue.Class != adaptor.ClassClient {
		t.Errorf("unknown model: %+v", ue)
	}
	if n := ts.Exchanges.Load(); n != 1 {
		t.Errorf("%d token exchanges, want 1", n)
	}
}
