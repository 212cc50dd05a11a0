package bedrock

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/adaptortest"
)

// bedrockServer answers as Bedrock Runtime does, for requests whose SigV4
// signature it recomputes with the channel's secret key; others get AWS's
// 403 InvalidSignatureException.
func bedrockServer(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ak, region, service, err := adaptortest.VerifySigV4(r, body, fakeSecretKey, time.Now())
		if err != nil || ak != fakeAccessKey || region != "us-west-2" || service != "bedrock" {
			w.Header().Set("X-Amzn-ErrorType", "InvalidSignatureException:http://internal.amazon.com/coral/com.amazon.coral.service/")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprintf(w, `{"message":"The request signature we calculated does not match the signature you provided. (%v)"}`, err)
			return
		}
		w.Header().Set("X-Amzn-Requestid", "rt-1")
		switch r.URL.EscapedPath() {
		case "/vpce/model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0/converse":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"output":{"message":{"role":"assistant","content":[{"text":"Hello there!"}]}},"stopReason":"end_turn","usage":{"inputTokens":12,"outputTokens":20,"totalTokens":32}}`)
		case "/vpce/model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0/converse-stream":
			if r.Header.Get("Accept") != eventStreamType {
				w.WriteHeader(http.StatusNotAcceptable)
				return
			}
			w.Header().Set("Content-Type", eventStreamType)
			for _, fr := range []adaptortest.Frame{
				{EventType: "messageStart", Payload: []byte(`{"role":"assistant"}`)},
				{EventType: "contentBlockDelta", Payload: []byte(`{"contentBlockIndex":0,"delta":{"text":"w0 "}}`)},
				{EventType: "contentBlockDelta", Payload: []byte(`{"contentBlockIndex":0,"delta":{"text":"w1"}}`)},
				{EventType: "messageStop", Payload: []byte(`{"stopReason":"end_turn"}`)},
				{EventType: "metadata", Payload: []byte(`{"usage":{"inputTokens":12,"outputTokens":20,"totalTokens":32}}`)},
			} {
				w.Write(adaptortest.EncodeFrame(fr))
				w.(http.Flusher).Flush()
			}
		case "/vpce/model/cohere.embed-english-v3/invoke":
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Amzn-Bedrock-Input-Token-Count", "3")
			fmt.Fprint(w, `{"embeddings":[[0.5,0.25]],"id":"e1","response_type":"embeddings_floats","texts":["hi"]}`)
		default:
			w.Header().Set("X-Amzn-ErrorType", "UnknownOperationException")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprintf(w, `{"message":"no route %s"}`, r.URL.EscapedPath())
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestSignedRoundTrip sends signed requests through a plain http.Client to
// a server that checks the signature, as the relay does with its own client.
func TestSignedRoundTrip(t *testing.T) {
	t.Parallel()
	srv := bedrockServer(t)
	a := New()
	ch := &adaptor.Channel{Type: adaptor.TypeAwsClaude, Key: fakeAccessKey + "|" + fakeSecretKey, BaseURL: srv.URL + "/vpce/",
		Config: map[string]string{"region": "us-west-2"}}
	do := func(req *adaptor.Request, ch *adaptor.Channel) *http.Response {
		t.Helper()
		r, err := a.NewRequest(context.Background(), ch, req)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := srv.Client().Do(r)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	chat := []byte(`{"model":"claude","messages":[{"role":"user","content":"hi"}],"max_tokens":50}`)
	model := "us.anthropic.claude-3-5-haiku-20241022-v1:0"

	req := &adaptor.Request{Mode: adaptor.ModeChat, Model: model, Body: chat}
	resp := do(req, ch)
	if resp.StatusCode != 200 {
		t.Fatalf("converse: %d %v", resp.StatusCode, a.DecodeError(resp))
	}
	out, u, err := a.DecodeResponse(req, resp)
	if err != nil || !strings.Contains(string(out), `"content":"Hello there!"`) || !strings.Contains(string(out), `"id":"chatcmpl-rt-1"`) || u != adaptortest.Usage(12, 20) {
		t.Fatalf("converse: %s %+v %v", out, u, err)
	}

	req = &adaptor.Request{Mode: adaptor.ModeChat, Model: model, Body: chat, Stream: true}
	resp = do(req, ch)
	var text strings.Builder
	u, err = a.DecodeStream(req, resp, func(ev adaptor.Event) error { text.Write(ev.Data); return nil })
	if err != nil || strings.Count(text.String(), `"content":"w`) != 2 || u != adaptortest.Usage(12, 20) {
		t.Fatalf("converse-stream: %s %+v %v", text.String(), u, err)
	}

	req = &adaptor.Request{Mode: adaptor.ModeEmbeddings, Model: "cohere.embed-english-v3", Body: []byte(`{"input":"hi"}`)}
	resp = do(req, ch)
	out, u, err = a.DecodeResponse(req, resp)
	if err != nil || !strings.Contains(string(out), `"embedding":[0.5,0.25]`) || u.Input != 3 || !u.Reported {
		t.Fatalf("invoke: %s %+v %v", out, u, err)
	}

	// A wrong secret fails the server's check, and AWS's answer to it
	// disables the channel.
	bad := *ch
	bad.Key = fakeAccessKey + "|wrong-secret"
	resp = do(&adaptor.Request{Mode: adaptor.ModeChat, Model: model, Body: chat}, &bad)
	if ue := a.DecodeError(resp); resp.StatusCode != 403 || ue.Class != adaptor.ClassDisable || ue.Code != "InvalidSignatureException" {
		t.Errorf("wrong secret: %d %+v", resp.StatusCode, ue)
	}

	// The right secret works at once again: no signing key is cached
	// across requests (a corrected secret of the same access key is used
	// from the next request on).
	if resp = do(&adaptor.Request{Mode: adaptor.ModeChat, Model: model, Body: chat}, ch); resp.StatusCode != 200 {
		t.Errorf("right secret after a wrong one: %d %v", resp.StatusCode, a.DecodeError(resp))
	}
	resp.Body.Close()
	resp = do(&adaptor.Request{Mode: adaptor.ModeChat, Model: model, Body: chat}, &bad)
	if resp.StatusCode != 403 {
		t.Errorf("wrong secret after the right one: %d", resp.StatusCode)
	}
	resp.Body.Close()

	// A body changed after signing fails it too.
	r, err := a.NewRequest(context.Background(), ch, &adaptor.Request{Mode: adaptor.ModeChat, Model: model, Body: chat})
	if err != nil {
		t.Fatal(err)
	}
	tampered := strings.Replace(string(chat), "hi", "ho", 1)
	r.Body, r.ContentLength = io.NopCloser(strings.NewReader(tampered)), int64(len(tampered))
	resp, err = srv.Client().Do(r)
	if err != nil {
		t.Fatal(err)
	}
	if ue := a.DecodeError(resp); resp.StatusCode != 403 || ue.Class != adaptor.ClassDisable {
		t.Errorf("tampered body: %d %+v", resp.StatusCode, ue)
	}
}
