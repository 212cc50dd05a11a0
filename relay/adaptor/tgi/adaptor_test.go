package tgi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/adaptortest"
)

const fakeKey = "hf_fakeFAKEfake0000000000000000000000"

// testAdaptor has a fixed clock and ids, for golden files.
func testAdaptor() *Adaptor {
	a := New()
	a.now = func() time.Time { return time.Unix(1700000000, 0) }
	a.newID = func() string { return "test" }
	return a
}

func TestRegistered(t *testing.T) {
	t.Parallel()
	if _, ok := adaptor.For(adaptor.TypeHuggingFace).(*Adaptor); !ok {
		t.Fatalf("For(%d) = %T", adaptor.TypeHuggingFace, adaptor.For(adaptor.TypeHuggingFace))
	}
}

func dumpRequest(t *testing.T, r *http.Request) []byte {
	t.Helper()
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s\n", r.Method, r.URL)
	names := make([]string, 0, len(r.Header))
	for k := range r.Header {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		fmt.Fprintf(&b, "%s: %s\n", k, strings.Join(r.Header[k], ", "))
	}
	b.WriteByte('\n')
	if r.Body != nil {
		io.Copy(&b, r.Body)
	}
	b.WriteByte('\n')
	return b.Bytes()
}

// TestNewRequestGolden: each mode's upstream request, and the requests the
// native API cannot take refused as the client's (400).
func TestNewRequestGolden(t *testing.T) {
	t.Parallel()
	base := "https://fake.us-east-1.aws.endpoints.huggingface.cloud/v1/"
	tests := []struct {
		name   string
		mode   adaptor.Mode
		config map[string]string
		body   string
		stream bool
		client bool // refused as the client's
	}{
		{name: "chat_messages", body: "chat.json"},
		{name: "chat_native", config: map[string]string{"api": "generate"}, body: "chat.json"},
		{name: "chat_native_greedy_stream", config: map[string]string{"api": "generate"}, body: "chat_greedy_stream.json", stream: true},
		{name: "chat_native_tools", config: map[string]string{"api": "generate"}, body: "chat_tools.json", client: true},
		{name: "chat_native_image", config: map[string]string{"api": "generate"}, body: "chat_image.json", client: true},
		{name: "chat_messages_tools", body: "chat_tools.json"},
		{name: "completion", mode: adaptor.ModeCompletions, body: "completion.json"},
		{name: "completion_stream", mode: adaptor.ModeCompletions, body: "completion.json", stream: true},
		{name: "completion_two_prompts", mode: adaptor.ModeCompletions, body: "completion_two_prompts.json", client: true},
		{name: "embeddings", mode: adaptor.ModeEmbeddings, config: map[string]string{"truncate": "true"}, body: "embeddings.json"},
		{name: "rerank", mode: adaptor.ModeRerank, body: "rerank.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body, err := os.ReadFile(filepath.Join("testdata", "request", tt.body))
			if err != nil {
				t.Fatal(err)
			}
			ch := &adaptor.Channel{ID: 1, Type: adaptor.TypeHuggingFace, Key: fakeKey, BaseURL: base, Config: tt.config}
			r, err := testAdaptor().NewRequest(context.Background(), ch, &adaptor.Request{Mode: tt.mode, Model: "tgi", Body: bytes.TrimSpace(body), Stream: tt.stream})
			if tt.client {
				var ue *adaptor.UpstreamError
				if !errors.As(err, &ue) || ue.Class != adaptor.ClassClient || ue.Status != 400 {
					t.Fatalf("err = %v, want a 400 of the client's", err)
				}
				adaptortest.CompareGolden(t, filepath.Join("testdata", "request", tt.name+".golden"), []byte(ue.Error()+"\n"))
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.GetBody == nil {
				t.Error("request body is not replayable")
			}
			adaptortest.CompareGolden(t, filepath.Join("testdata", "request", tt.name+".golden"), dumpRequest(t, r))
		})
	}
}

func response(path string, status int, header http.Header, body []byte) *http.Response {
	if header == nil {
		header = http.Header{}
	}
	req := httptest.NewRequest(http.MethodPost, "http://tgi.test"+path, nil)
	req.Header.Set("Authorization", "Bearer "+fakeKey)
	return &http.Response{StatusCode: status, Header: header, Body: io.NopCloser(bytes.NewReader(body)), ContentLength: -1, Request: req}
}

// TestDecodeResponseGolden: native and TEI replies converted, usage from
// the server's own counts, malformed replies a 502 to retry.
func TestDecodeResponseGolden(t *testing.T) {
	t.Parallel()
	countHeaders := http.Header{"X-Prompt-Tokens": {"23"}, "X-Generated-Tokens": {"11"}}
	tests := []struct {
		name, file, path string
		mode             adaptor.Mode
		header           http.Header
		request          string
	}{
		{name: "generate_chat", file: "generate.json", path: pathGenerate, header: countHeaders},
		{name: "generate_completion_array", file: "generate_array_length.json", path: pathGenerate, mode: adaptor.ModeCompletions},
		{name: "generate_no_details", file: "generate_no_details.json", path: pathGenerate},
		{name: "generate_no_details_headers", file: "generate_no_details.json", path: pathGenerate, header: countHeaders},
		{name: "generate_error", file: "generate_error.json", path: pathGenerate},
		{name: "generate_malformed", file: "generate_malformed.json", path: pathGenerate},
		{name: "embed", file: "embed.json", path: pathEmbed, mode: adaptor.ModeEmbeddings, header: http.Header{"X-Compute-Tokens": {"4"}}, request: `{"model":"bge","input":["a","b"]}`},
		{name: "embed_base64", file: "embed.json", path: pathEmbed, mode: adaptor.ModeEmbeddings, request: `{"model":"bge","input":["a","b"],"encoding_format":"base64"}`},
		{name: "embed_malformed", file: "embed_malformed.json", path: pathEmbed, mode: adaptor.ModeEmbeddings, request: `{"model":"bge","input":"a"}`},
		{name: "rerank", file: "rerank.json", path: pathRerank, mode: adaptor.ModeRerank, header: http.Header{"X-Compute-Tokens": {"31"}}},
		{name: "rerank_bad_index", file: "rerank_bad_index.json", path: pathRerank, mode: adaptor.ModeRerank},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body, err := os.ReadFile(filepath.Join("testdata", "response", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			reqBody := []byte(tt.request)
			if tt.mode == adaptor.ModeRerank {
				reqBody, _ = os.ReadFile(filepath.Join("testdata", "request", "rerank.json"))
			}
			req := &adaptor.Request{Mode: tt.mode, Model: "tgi-model", Body: reqBody, PromptTokens: 99}
			out, usage, err := testAdaptor().DecodeResponse(req, response(tt.path, 200, tt.header, body))
			var got bytes.Buffer
			fmt.Fprintf(&got, "body: %s\nusage: %s\n", out, adaptortest.FormatUsage(usage))
			if err != nil {
				var ue *adaptor.UpstreamError
				errors.As(err, &ue)
				fmt.Fprintf(&got, "error: %v\nclass: %v\n", err, ue.Class)
			}
			adaptortest.CompareGolden(t, filepath.Join("testdata", "response", tt.name+".golden"), got.Bytes())
		})
	}
}

// streamAt replays a stream as the answer to a request for path (the
// adaptor tells the native stream from the Messages API's by it).
type streamAt struct {
	*Adaptor
	path string
}

func (s streamAt) DecodeStream(req *adaptor.Request, resp *http.Response, send func(adaptor.Event) error) (adaptor.Usage, error) {
	resp.Request = httptest.NewRequest(http.MethodPost, "http://tgi.test"+s.path, nil)
	return s.Adaptor.DecodeStream(req, resp, send)
}

func TestDecodeStreamGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		mode          adaptor.Mode
		path          string
		wantTruncated bool
	}{
		{name: "generate", path: pathGenerateStream},
		{name: "generate_completion", mode: adaptor.ModeCompletions, path: pathGenerateStream},
		{name: "generate_old_server", path: pathGenerateStream},
		{name: "error_event", path: pathGenerateStream, wantTruncated: true},
		{name: "overloaded_first", path: pathGenerateStream, wantTruncated: true},
		{name: "truncated", path: pathGenerateStream, wantTruncated: true},
		{name: "malformed_event", path: pathGenerateStream, wantTruncated: true},
		{name: "json_instead_of_sse", path: pathGenerateStream, wantTruncated: true},
		{name: "messages", path: pathMessages},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			file := tt.name
			if tt.name == "generate_completion" {
				file = "generate"
			}
			a := streamAt{testAdaptor(), tt.path}
			out, _, err := adaptortest.ReplayStream(t, a, &adaptor.Request{Mode: tt.mode, Model: "tgi-model", Stream: true, PromptTokens: 99},
				filepath.Join("testdata", "stream", file+".sse"), nil)
			if got := errors.Is(err, adaptor.ErrStreamTruncated); got != tt.wantTruncated {
				t.Errorf("truncated = %v, want %v (err %v)", got, tt.wantTruncated, err)
			}
			adaptortest.CompareGolden(t, filepath.Join("testdata", "stream", tt.name+".golden"), out)
		})
	}
}

func TestDecodeErrorGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file   string
		status int
		header http.Header
		class  adaptor.ErrorClass
	}{
		{"422_validation.json", 422, nil, adaptor.ClassClient},
		{"422_template.json", 422, nil, adaptor.ClassClient},
		{"413_tei_batch.json", 413, nil, adaptor.ClassClient},
		{"424_generation.json", 424, nil, adaptor.ClassRetry},
		{"429_overloaded.json", 429, http.Header{"Retry-After": {"2"}}, adaptor.ClassRetry},
		{"503_loading.json", 503, nil, adaptor.ClassRetry},
		{"401_invalid_token.json", 401, nil, adaptor.ClassDisable},
		{"502_html.html", 502, http.Header{"Content-Type": {"text/html"}}, adaptor.ClassRetry},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			body, err := os.ReadFile(filepath.Join("testdata", "error", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			ue := testAdaptor().DecodeError(response(pathGenerate, tt.status, tt.header, body))
			if ue.Class != tt.class {
				t.Errorf("class = %v, want %v", ue.Class, tt.class)
			}
			got := fmt.Sprintf("status=%d type=%q code=%q class=%v retry_after=%s\nmessage: %s\n", ue.Status, ue.Type, ue.Code, ue.Class, ue.RetryAfter, ue.Message)
			adaptortest.CompareGolden(t, filepath.Join("testdata", "error", strings.TrimSuffix(tt.file, filepath.Ext(tt.file))+".golden"), []byte(got))
		})
	}
}

// tgiServer is an httptest TGI: /info as given, counts its /info calls.
func tgiServer(t *testing.T, info string, infos *atomic.Int32) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+fakeKey {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error":"Authorization header is correct, but the token seems invalid"}`))
			return
		}
		switch r.URL.Path {
		case "/info":
			infos.Add(1)
			if info == "" {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(info))
		case "/v1/models":
			w.Write([]byte(`{"object":"list","data":[{"id":"tgi"}]}`))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestPrepare: /info decides the API, is fetched once per channel, and its
// limits refuse an oversize prompt with a 400 and lower a max_tokens the
// server would refuse.
func TestPrepare(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var infos atomic.Int32
	oldSrv := tgiServer(t, `{"model_id":"bigscience/bloom-560m","version":"1.3.4","max_input_length":1024,"max_total_tokens":2048}`, &infos)
	a := testAdaptor()
	ch := &adaptor.Channel{ID: 7, Type: adaptor.TypeHuggingFace, Key: fakeKey, BaseURL: oldSrv.URL}

	req := &adaptor.Request{Mode: adaptor.ModeChat, Model: "tgi", Body: []byte(`{"model":"tgi","messages":[{"role":"user","content":"hi"}],"max_tokens":4000}`), PromptTokens: 100}
	for i := 0; i < 3; i++ {
		if err := a.Prepare(ctx, oldSrv.Client(), ch, req); err != nil {
			t.Fatal(err)
		}
	}
	if n := infos.Load(); n != 1 {
		t.Errorf("/info fetched %d times, want 1 (cached)", n)
	}
	if !strings.Contains(string(req.Body), `"max_tokens":1948`) {
		t.Errorf("max_tokens not lowered to max_total_tokens - prompt: %s", req.Body)
	}
	r, err := a.NewRequest(ctx, ch, req)
	if err != nil || r.URL.Path != pathGenerate {
		t.Errorf("TGI 1.3 chat went to %v (%v), want the native %s", r.URL, err, pathGenerate)
	}

	big := &adaptor.Request{Mode: adaptor.ModeChat, Body: []byte(`{}`), PromptTokens: 1500}
	var ue *adaptor.UpstreamError
	if err := a.Prepare(ctx, oldSrv.Client(), ch, big); !errors.As(err, &ue) || ue.Status != 400 || ue.Class != adaptor.ClassClient || ue.Code != "context_length_exceeded" {
		t.Errorf("oversize prompt: %v, want a 400 context_length_exceeded of the client's", err)
	} else if !strings.Contains(ue.Message, "1024") {
		t.Errorf("message %q does not give the limit", ue.Message)
	}

	newSrv := tgiServer(t, `{"model_id":"meta-llama/Llama-3.1-8B-Instruct","version":"2.4.1","max_input_tokens":8191,"max_total_tokens":8192}`, &infos)
	ch2 := &adaptor.Channel{ID: 8, Type: adaptor.TypeHuggingFace, Key: fakeKey, BaseURL: newSrv.URL}
	if err := a.Prepare(ctx, newSrv.Client(), ch2, &adaptor.Request{Mode: adaptor.ModeChat, Body: []byte(`{}`), PromptTokens: 10}); err != nil {
		t.Fatal(err)
	}
	if r, err := a.NewRequest(ctx, ch2, &adaptor.Request{Mode: adaptor.ModeChat, Body: []byte(`{}`)}); err != nil || r.URL.Path != pathMessages {
		t.Errorf("TGI 2.4 chat went to %v (%v), want the Messages API", r.URL, err)
	}

	// A TEI server is not asked for chat: the channel's mistake, retried elsewhere.
	tei := tgiServer(t, `{"model_id":"BAAI/bge-large-en-v1.5","version":"1.5.0","model_type":{"embedding":{"pooling":"cls"}},"max_input_length":512}`, &infos)
	ch3 := &adaptor.Channel{ID: 9, Type: adaptor.TypeHuggingFace, Key: fakeKey, BaseURL: tei.URL}
	if err := a.Prepare(ctx, tei.Client(), ch3, &adaptor.Request{Mode: adaptor.ModeChat, Body: []byte(`{}`)}); !errors.As(err, &ue) || ue.Class != adaptor.ClassRetry {
		t.Errorf("chat on TEI: %v", err)
	}
	// Embeddings need no /info.
	if err := a.Prepare(ctx, tei.Client(), ch3, &adaptor.Request{Mode: adaptor.ModeEmbeddings}); err != nil {
		t.Errorf("embeddings on TEI: %v", err)
	}

	// A refused key disables; a server that is down is retried elsewhere.
	bad := &adaptor.Channel{ID: 10, Type: adaptor.TypeHuggingFace, Key: "hf_wrong", BaseURL: newSrv.URL}
	if err := a.Prepare(ctx, newSrv.Client(), bad, &adaptor.Request{Mode: adaptor.ModeChat}); !errors.As(err, &ue) || ue.Class != adaptor.ClassDisable {
		t.Errorf("wrong key: %v, want a disabling error", err)
	}
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	if err := a.Prepare(ctx, http.DefaultClient, &adaptor.Channel{ID: 11, Key: fakeKey, BaseURL: down.URL}, &adaptor.Request{Mode: adaptor.ModeChat}); !errors.As(err, &ue) || ue.Class != adaptor.ClassRetry {
		t.Errorf("server down: %v, want a retry", err)
	}
}

func TestProbeAndListModels(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var infos atomic.Int32
	srv := tgiServer(t, `{"model_id":"meta-llama/Llama-3.1-8B-Instruct","version":"2.4.1","max_input_tokens":8191,"max_total_tokens":8192}`, &infos)
	a := testAdaptor()
	ch := &adaptor.Channel{ID: 1, Key: fakeKey, BaseURL: srv.URL}
	if err := a.Probe(ctx, srv.Client(), ch, ""); err != nil {
		t.Errorf("probe: %v", err)
	}
	if got, err := a.ListModels(ctx, srv.Client(), ch); err != nil || !slices.Equal(got, []string{"meta-llama/Llama-3.1-8B-Instruct"}) {
		t.Errorf("models = %v, %v", got, err)
	}
	var ue *adaptor.UpstreamError
	if err := a.Probe(ctx, srv.Client(), &adaptor.Channel{ID: 2, Key: "hf_wrong", BaseURL: srv.URL}, ""); !errors.As(err, &ue) || ue.Class != adaptor.ClassDisable || strings.Contains(ue.Message, "hf_wrong") {
		t.Errorf("probe with a wrong key: %v", err)
	}
	// Behind a proxy without /info: the probe says so, the models come from /v1/models.
	noInfo := tgiServer(t, "", &infos)
	if err := a.Probe(ctx, noInfo.Client(), &adaptor.Channel{ID: 3, Key: fakeKey, BaseURL: noInfo.URL}, ""); err == nil {
		t.Error("probe of a server without /info passed")
	}
	if got, err := a.ListModels(ctx, noInfo.Client(), &adaptor.Channel{ID: 3, Key: fakeKey, BaseURL: noInfo.URL}); err != nil || !slices.Equal(got, []string{"tgi"}) {
		t.Errorf("models without /info = %v, %v", got, err)
	}
}
