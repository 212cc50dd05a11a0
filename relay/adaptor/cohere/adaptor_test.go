package cohere

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
	"testing"
	"time"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/adaptortest"
)

const fakeKey = "co-fake-key-0000000000000000000000"

func testAdaptor() *Adaptor {
	a := New()
	a.now = func() time.Time { return time.Unix(1700000000, 0) }
	return a
}

func TestRegistered(t *testing.T) {
	t.Parallel()
	if _, ok := adaptor.For(adaptor.TypeCohere).(*Adaptor); !ok {
		t.Fatalf("For(%d) = %T", adaptor.TypeCohere, adaptor.For(adaptor.TypeCohere))
	}
}

func TestNewRequestGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mode   adaptor.Mode
		base   string
		config map[string]string
		body   string
		stream bool
		client bool
	}{
		{name: "chat", body: "chat.json", stream: true},
		{name: "chat_audio", body: "chat_audio.json", client: true},
		{name: "embeddings", mode: adaptor.ModeEmbeddings, base: "https://api.cohere.com/v2/", body: "embeddings.json"},
		{name: "embeddings_default_type", mode: adaptor.ModeEmbeddings, config: map[string]string{"input_type": "classification"}, body: "embeddings_default_type.json"},
		{name: "rerank", mode: adaptor.ModeRerank, base: "https://api.cohere.com/compatibility/v1", body: "rerank.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body, err := os.ReadFile(filepath.Join("testdata", "request", tt.body))
			if err != nil {
				t.Fatal(err)
			}
			ch := &adaptor.Channel{Type: adaptor.TypeCohere, BaseURL: tt.base, Key: fakeKey, Config: tt.config}
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
				for _, k := range []string{"Accept", "Authorization", "Content-Type"} {
					fmt.Fprintf(&got, "%s: %s\n", k, r.Header.Get(k))
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
	req := httptest.NewRequest(http.MethodPost, "https://api.cohere.ai/v2/chat", nil)
	req.Header.Set("Authorization", "Bearer "+fakeKey)
	return &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(bytes.NewReader(body)), ContentLength: -1, Request: req}
}

func TestDecodeResponseGolden(t *testing.T) {
	t.Parallel()
	rerank, _ := os.ReadFile(filepath.Join("testdata", "request", "rerank.json"))
	tests := []struct {
		name string
		mode adaptor.Mode
		req  string
	}{
		{name: "chat"}, {name: "chat_tool_calls"}, {name: "chat_thinking_max_tokens"}, {name: "chat_malformed"},
		{name: "embed", mode: adaptor.ModeEmbeddings, req: `{"model":"embed-v4.0","input":["hello","world"],"encoding_format":"base64"}`},
		{name: "rerank", mode: adaptor.ModeRerank, req: string(rerank)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body, err := os.ReadFile(filepath.Join("testdata", "response", tt.name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			out, usage, err := testAdaptor().DecodeResponse(&adaptor.Request{Mode: tt.mode, Model: "mapped-model", Body: []byte(tt.req)}, response(200, body))
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
		wantTruncated bool
	}{
		{"chat", false}, {"tool_calls", false}, {"error_end", true}, {"truncated", true}, {"malformed", true}, {"json_instead_of_sse", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, _, err := adaptortest.ReplayStream(t, testAdaptor(), &adaptor.Request{Model: "mapped-model", Stream: true},
				filepath.Join("testdata", "stream", tt.name+".sse"), nil)
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
		{"401_invalid_token", 401, adaptor.ClassDisable},
		{"498_invalid_token", 498, adaptor.ClassDisable},
		{"402_payment", 402, adaptor.ClassDisable},
		{"429_trial", 429, adaptor.ClassRetry},
		{"400_invalid", 400, adaptor.ClassClient},
		{"500_internal", 500, adaptor.ClassRetry},
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
		if r.URL.Path != "/v1/models" || r.Header.Get("Authorization") != "Bearer "+fakeKey {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"message":"invalid api token"}`))
			return
		}
		w.Write([]byte(`{"models":[{"name":"command-a-03-2025","endpoints":["chat"]},{"name":"embed-v4.0","endpoints":["embed"]}]}`))
	}))
	defer srv.Close()
	got, err := testAdaptor().ListModels(context.Background(), srv.Client(), &adaptor.Channel{BaseURL: srv.URL, Key: fakeKey})
	if err != nil || !slices.Equal(got, []string{"command-a-03-2025", "embed-v4.0"}) {
		t.Errorf("models = %v, %v", got, err)
	}
	_, err = testAdaptor().ListModels(context.Background(), srv.Client(), &adaptor.Channel{BaseURL: srv.URL, Key: "wrong"})
	var ue *adaptor.UpstreamError
	if !errors.As(err, &ue) || ue.Class != adaptor.ClassDisable {
		t.Errorf("wrong key: %v", err)
	}
}
