package replicate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/adaptortest"
	"oneapi/relay/adaptor/convert/converttest"
)

const testKey = "r8_testReplicateToken0001"

func channel(base string) *adaptor.Channel {
	return &adaptor.Channel{ID: 46, Type: adaptor.TypeReplicate, Key: testKey, BaseURL: base}
}

func req(mode adaptor.Mode, model, body string) *adaptor.Request {
	return &adaptor.Request{Mode: mode, Model: model, Body: []byte(body), Stream: strings.Contains(body, `"stream":true`)}
}

func TestNewRequestGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		req  *adaptor.Request
	}{
		{"chat", req(adaptor.ModeChat, "meta/meta-llama-3-70b-instruct", `{"model":"meta/meta-llama-3-70b-instruct","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}],"max_tokens":64,"temperature":0.6,"stop":["\n\n","END"]}`)},
		{"chat_conversation", req(adaptor.ModeChat, "meta/meta-llama-3-8b-instruct", `{"model":"x","messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"},{"role":"user","content":"again"}]}`)},
		{"chat_version", req(adaptor.ModeChat, "replicate/llama-7b:ac808388e2e9d8ed35a5bf2eaa7d83f0ad53f9e3df31a42e4eb0a0c3249b3165", `{"model":"x","messages":[{"role":"user","content":"hi"}]}`)},
		{"images", req(adaptor.ModeImages, "black-forest-labs/flux-schnell", `{"model":"black-forest-labs/flux-schnell","prompt":"a cat","size":"1792x1024","n":2}`)},
		{"images_b64_refused", req(adaptor.ModeImages, "black-forest-labs/flux-schnell", `{"prompt":"a cat","response_format":"b64_json"}`)},
		{"bad_model", req(adaptor.ModeChat, "llama", `{"model":"llama","messages":[{"role":"user","content":"hi"}]}`)},
		{"embeddings_refused", req(adaptor.ModeEmbeddings, "a/b", `{}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := converttest.Request(t, converttest.Context(nil), New(), channel(""), tt.req, "Authorization", "Prefer")
			adaptortest.CompareGolden(t, filepath.Join("testdata", "request_"+tt.name+".golden"), got)
		})
	}
}

func TestSameSite(t *testing.T) {
	t.Parallel()
	base, _ := url.Parse("https://api.replicate.com/v1/models")
	for raw, want := range map[string]bool{
		"https://api.replicate.com/v1/predictions/x": true,
		"https://stream.replicate.com/v1/files/abc":  true,
		"https://replicate.com/p/x":                  true,
		"http://stream.replicate.com/v1/files/abc":   false, // not the base's scheme
		"https://evil.example/x":                     false,
		"https://replicate.com.evil.example/x":       false,
		"https://evilreplicate.com/x":                false,
		"https://user:pw@api.replicate.com/x":        false,
		"https://api.replicate.com:8443/x":           false,
		"":                                           false,
	} {
		if _, got := sameSite(base, raw); got != want {
			t.Errorf("sameSite(%q) = %v, want %v", raw, got, want)
		}
	}
	local, _ := url.Parse("http://127.0.0.1:8080")
	if _, ok := sameSite(local, "http://127.0.0.2:8080/x"); ok {
		t.Error("an IP address matched another")
	}
}

// replicateUpstream speaks Replicate's predictions API: creation (with
// Prefer: wait answered as starting, so the adaptor must poll), polling,
// and the stream URL.
type replicateUpstream struct {
	*httptest.Server
	gets       atomic.Int32
	streamHost string // where urls.stream points; "" is this server
	outcome    string // final status
}

func newUpstream(t *testing.T) *replicateUpstream {
	u := &replicateUpstream{outcome: "succeeded"}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+testKey {
			w.WriteHeader(401)
			fmt.Fprint(w, `{"title":"Unauthenticated","detail":"You did not pass a valid authentication token","status":401}`)
			return
		}
		host := u.URL
		stream := u.URL + "/stream/p1"
		if u.streamHost != "" {
			stream = u.streamHost + "/stream/p1"
		}
		pred := func(status, output string, metrics bool) string {
			m := ""
			if metrics {
				m = `,"metrics":{"input_token_count":12,"output_token_count":20,"predict_time":0.5}`
			}
			return fmt.Sprintf(`{"id":"p1","model":"meta/meta-llama-3-70b-instruct","status":%q,"output":%s,"error":null,"urls":{"get":%q,"stream":%q,"cancel":%q}%s}`,
				status, output, host+"/v1/predictions/p1", stream, host+"/v1/predictions/p1/cancel", m)
		}
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/v1/models/meta/meta-llama-3-70b-instruct/predictions":
			body, _ := io.ReadAll(r.Body)
			var in struct {
				Input struct {
					Prompt string `json:"prompt"`
				} `json:"input"`
				Stream bool `json:"stream"`
			}
			if json.Unmarshal(body, &in) != nil || in.Input.Prompt == "" {
				w.WriteHeader(422)
				fmt.Fprint(w, `{"title":"Input validation failed","detail":"prompt is required","status":422}`)
				return
			}
			w.WriteHeader(201)
			fmt.Fprint(w, pred("starting", "null", false))
		case r.Method == http.MethodGet && r.URL.Path == "/v1/predictions/p1":
			if u.gets.Add(1) < 2 {
				fmt.Fprint(w, pred("processing", `["Hel"]`, false))
				return
			}
			if u.outcome != "succeeded" {
				fmt.Fprintf(w, `{"id":"p1","status":%q,"output":null,"error":"CUDA out of memory","urls":{"get":%q}}`, u.outcome, host+"/v1/predictions/p1")
				return
			}
			fmt.Fprint(w, pred("succeeded", `["Hel","lo ","there!"]`, true))
		case r.Method == http.MethodGet && r.URL.Path == "/stream/p1":
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "event: output\nid: 1\ndata: Hel\n\nevent: output\nid: 2\ndata: lo\ndata: there!\n\nevent: done\ndata: {}\n\n")
		default:
			w.WriteHeader(404)
			fmt.Fprint(w, `{"title":"Not found","detail":"The requested resource could not be found.","status":404}`)
		}
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *replicateUpstream) do(t *testing.T, a *Adaptor, r *adaptor.Request) (*http.Response, error) {
	t.Helper()
	hr, err := a.NewRequest(converttest.Context(u.Client()), channel(u.URL+"/v1/models/"), r)
	if err != nil {
		return nil, err
	}
	return u.Client().Do(hr)
}

func fast() *Adaptor {
	a := New()
	a.pollEvery = time.Millisecond
	return a
}

func TestChatPolled(t *testing.T) {
	t.Parallel()
	u := newUpstream(t)
	a := fast()
	r := req(adaptor.ModeChat, "meta/meta-llama-3-70b-instruct", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`)
	resp, err := u.do(t, a, r)
	if err != nil {
		t.Fatal(err)
	}
	body, usage, err := a.DecodeResponse(r, resp)
	if err != nil || usage != adaptortest.Usage(12, 20) || !bytes.Contains(body, []byte(`"content":"Hello there!"`)) || u.gets.Load() != 2 {
		t.Fatalf("%s %+v %v (%d polls)", body, usage, err, u.gets.Load())
	}
}

func TestChatFailedPrediction(t *testing.T) {
	t.Parallel()
	u := newUpstream(t)
	u.outcome = "failed"
	a := fast()
	r := req(adaptor.ModeChat, "meta/meta-llama-3-70b-instruct", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`)
	resp, err := u.do(t, a, r)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = a.DecodeResponse(r, resp)
	var ue *adaptor.UpstreamError
	if !errors.As(err, &ue) || ue.Code != "prediction_failed" || ue.Class != adaptor.ClassRetry || ue.Status != 502 {
		t.Fatalf("%v", err)
	}
}

func TestChatStream(t *testing.T) {
	t.Parallel()
	u := newUpstream(t)
	a := fast()
	r := req(adaptor.ModeChat, "meta/meta-llama-3-70b-instruct", `{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}`)
	resp, err := u.do(t, a, r)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	usage, err := a.DecodeStream(r, resp, func(ev adaptor.Event) error { out.Write(ev.Data); out.WriteByte('\n'); return nil })
	if err != nil || usage != adaptortest.Usage(12, 20) {
		t.Fatalf("usage %+v, err %v\n%s", usage, err, out.String())
	}
	adaptortest.CompareGolden(t, filepath.Join("testdata", "stream.golden"), converttest.Normalize(out.Bytes()))
}

// TestStreamURLElsewhere: a prediction whose stream URL points off
// Replicate's hosts is not followed (the token would go with it).
func TestStreamURLElsewhere(t *testing.T) {
	t.Parallel()
	var visited atomic.Bool
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { visited.Store(true) }))
	t.Cleanup(evil.Close)
	u := newUpstream(t)
	u.streamHost = evil.URL
	r := req(adaptor.ModeChat, "meta/meta-llama-3-70b-instruct", `{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}`)
	_, err := u.do(t, fast(), r)
	var ue *adaptor.UpstreamError
	if !errors.As(err, &ue) || ue.Status != 502 || visited.Load() {
		t.Fatalf("err %v, visited %v", err, visited.Load())
	}
}

func TestCreateRefused(t *testing.T) {
	t.Parallel()
	u := newUpstream(t)
	r := req(adaptor.ModeChat, "meta/unknown-model", `{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}`)
	_, err := u.do(t, fast(), r)
	var ue *adaptor.UpstreamError
	if !errors.As(err, &ue) || ue.Status != 404 || ue.Class != adaptor.ClassClient {
		t.Fatalf("%v", err)
	}
}

func TestDecodeErrorGolden(t *testing.T) {
	t.Parallel()
	var got []byte
	for _, e := range []struct {
		status int
		body   string
	}{
		{401, `{"title":"Unauthenticated","detail":"You did not pass a valid authentication token","status":401}`},
		{402, `{"title":"Insufficient credit","detail":"You have insufficient credit to run this model.","status":402}`},
		{422, `{"title":"Input validation failed","detail":"- input.prompt: Invalid type.","status":422}`},
		{429, `{"title":"Request was throttled.","detail":"Expected available in 7 seconds.","status":429}`},
		{500, `oops`},
	} {
		h := http.Header{"Content-Type": {"application/problem+json"}}
		if e.status == 429 {
			h.Set("Retry-After", "7")
		}
		got = append(got, converttest.Error(t, New(), e.status, h, []byte(e.body))...)
	}
	adaptortest.CompareGolden(t, filepath.Join("testdata", "error.golden"), got)
}

func TestDecodeImagesGolden(t *testing.T) {
	t.Parallel()
	r := req(adaptor.ModeImages, "black-forest-labs/flux-schnell", `{"prompt":"a cat","n":2}`)
	var got []byte
	for _, body := range []string{
		`{"id":"p2","status":"succeeded","output":["https://replicate.delivery/a.webp","https://replicate.delivery/b.webp"],"urls":{"get":"https://api.replicate.com/v1/predictions/p2"}}`,
		`{"id":"p3","status":"succeeded","output":"https://replicate.delivery/c.webp","urls":{"get":"https://api.replicate.com/v1/predictions/p3"}}`,
		`{"id":"p4","status":"failed","output":null,"error":"NSFW content detected","urls":{"get":"https://api.replicate.com/v1/predictions/p4"}}`,
		`{"id":"p5","status":"succeeded","output":{"weird":true},"urls":{}}`,
		`{"id":`,
	} {
		got = append(got, converttest.Response(t, New(), r, nil, []byte(body))...)
	}
	adaptortest.CompareGolden(t, filepath.Join("testdata", "images.golden"), got)
}
