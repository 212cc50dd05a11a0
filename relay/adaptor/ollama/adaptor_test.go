package ollama

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
	"testing"
	"time"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/adaptortest"
)

func testAdaptor() *Adaptor {
	a := New()
	a.now = func() time.Time { return time.Unix(1700000000, 0) }
	a.newID = func() string { return "test" }
	return a
}

func TestRegistered(t *testing.T) {
	t.Parallel()
	if _, ok := adaptor.For(adaptor.TypeOllama).(*Adaptor); !ok {
		t.Fatalf("For(%d) = %T", adaptor.TypeOllama, adaptor.For(adaptor.TypeOllama))
	}
}

func TestNewRequestGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mode   adaptor.Mode
		base   string
		key    string
		body   string
		stream bool
		client bool
	}{
		{name: "chat", body: "chat.json"},
		{name: "chat_stream", base: "http://gpu-box:11434/v1/", key: "ollama-cloud-key", body: "chat_stream.json", stream: true},
		{name: "chat_image_url", body: "chat_image_url.json", client: true},
		{name: "chat_bad_tool_args", body: "chat_bad_tool_args.json", client: true},
		{name: "completion", mode: adaptor.ModeCompletions, body: "completion.json", stream: true},
		{name: "embeddings", mode: adaptor.ModeEmbeddings, body: "embeddings.json"},
		{name: "embeddings_ids", mode: adaptor.ModeEmbeddings, body: "embeddings_ids.json", client: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body, err := os.ReadFile(filepath.Join("testdata", "request", tt.body))
			if err != nil {
				t.Fatal(err)
			}
			ch := &adaptor.Channel{Type: adaptor.TypeOllama, BaseURL: tt.base, Key: tt.key}
			r, err := testAdaptor().NewRequest(context.Background(), ch, &adaptor.Request{Mode: tt.mode, Model: "mapped-model", Body: bytes.TrimSpace(body), Stream: tt.stream})
			var got bytes.Buffer
			if tt.client {
				var ue *adaptor.UpstreamError
				if !errors.As(err, &ue) || ue.Class != adaptor.ClassClient || ue.Status != 400 {
					t.Fatalf("err = %v, want a 400 of the client's", err)
				}
				got.WriteString(ue.Error() + "\n")
			} else {
				if err != nil {
					t.Fatal(err)
				}
				fmt.Fprintf(&got, "%s %s\n", r.Method, r.URL)
				for _, k := range []string{"Authorization", "Content-Type"} {
					if v := r.Header.Get(k); v != "" {
						fmt.Fprintf(&got, "%s: %s\n", k, v)
					}
				}
				got.WriteByte('\n')
				io.Copy(&got, r.Body)
				got.WriteByte('\n')
			}
			adaptortest.CompareGolden(t, filepath.Join("testdata", "request", tt.name+".golden"), got.Bytes())
		})
	}
}

func response(status int, body []byte) *http.Response {
	req := httptest.NewRequest(http.MethodPost, "http://ollama.test/api/chat", nil)
	req.Header.Set("Authorization", "Bearer secret-ollama-key-000")
	return &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(bytes.NewReader(body)), ContentLength: -1, Request: req}
}

func TestDecodeResponseGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		mode adaptor.Mode
		req  string
	}{
		{name: "chat"}, {name: "chat_tool_calls"}, {name: "chat_thinking_cached"}, {name: "chat_no_counts"},
		{name: "chat_error"}, {name: "chat_not_done"}, {name: "malformed"},
		{name: "generate", mode: adaptor.ModeCompletions},
		{name: "embed", mode: adaptor.ModeEmbeddings, req: `{"model":"nomic-embed-text","input":["a","b"]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body, err := os.ReadFile(filepath.Join("testdata", "response", tt.name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			out, usage, err := testAdaptor().DecodeResponse(&adaptor.Request{Mode: tt.mode, Model: "mapped-model", Body: []byte(tt.req), PromptTokens: 99}, response(200, body))
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

func TestDecodeStreamGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		mode          adaptor.Mode
		wantTruncated bool
	}{
		{name: "chat"}, {name: "tool_calls"},
		{name: "generate", mode: adaptor.ModeCompletions},
		{name: "error_line", wantTruncated: true},
		{name: "truncated", wantTruncated: true},
		{name: "no_done", wantTruncated: true},
		{name: "html", wantTruncated: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, _, err := adaptortest.ReplayStream(t, testAdaptor(), &adaptor.Request{Mode: tt.mode, Model: "mapped-model", Stream: true, PromptTokens: 99},
				filepath.Join("testdata", "stream", tt.name+".ndjson"), nil)
			if got := errors.Is(err, adaptor.ErrStreamTruncated); got != tt.wantTruncated {
				t.Errorf("truncated = %v, want %v (err %v)", got, tt.wantTruncated, err)
			}
			adaptortest.CompareGolden(t, filepath.Join("testdata", "stream", tt.name+".golden"), out)
		})
	}
}

func TestDecodeErrorGolden(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		file   string
		status int
		class  adaptor.ErrorClass
	}{
		{"404_not_pulled", 404, adaptor.ClassRetry},
		{"400_bad_request", 400, adaptor.ClassClient},
		{"401_unauthorized", 401, adaptor.ClassDisable},
		{"503_busy", 503, adaptor.ClassRetry},
	} {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			body, err := os.ReadFile(filepath.Join("testdata", "error", tt.file+".json"))
			if err != nil {
				t.Fatal(err)
			}
			ue := testAdaptor().DecodeError(response(tt.status, body))
			if ue.Class != tt.class {
				t.Errorf("class = %v, want %v", ue.Class, tt.class)
			}
			adaptortest.CompareGolden(t, filepath.Join("testdata", "error", tt.file+".golden"),
				[]byte(fmt.Sprintf("status=%d type=%q code=%q class=%v\nmessage: %s\n", ue.Status, ue.Type, ue.Code, ue.Class, ue.Message)))
		})
	}
}

func TestListModels(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/tags" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(`{"models":[{"name":"llama3.2:latest","model":"llama3.2:latest","size":2019393189},{"name":"nomic-embed-text:latest"}]}`))
	}))
	defer srv.Close()
	got, err := testAdaptor().ListModels(context.Background(), srv.Client(), &adaptor.Channel{BaseURL: srv.URL + "/api"})
	if err != nil || !slices.Equal(got, []string{"llama3.2:latest", "nomic-embed-text:latest"}) {
		t.Errorf("models = %v, %v", got, err)
	}
	_, err = testAdaptor().ListModels(context.Background(), srv.Client(), &adaptor.Channel{BaseURL: srv.URL + "/nowhere"})
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("missing /api/tags: %v", err)
	}
}
