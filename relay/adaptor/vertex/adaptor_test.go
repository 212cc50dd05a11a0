package vertex

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/adaptortest"
)

func TestRegistered(t *testing.T) {
	t.Parallel()
	if _, ok := adaptor.For(adaptor.TypeVertexAI).(*Adaptor); !ok {
		t.Errorf("For(TypeVertexAI) = %T, want *vertex.Adaptor", adaptor.For(adaptor.TypeVertexAI))
	}
}

func TestChannelConfig(t *testing.T) {
	t.Parallel()
	sa := `{"type":"service_account","project_id":"sa-project","private_key":"x","client_email":"a@b"}`
	tests := []struct {
		name         string
		key          string
		config       map[string]string
		region, proj string
		credentials  string
		wantErr      string
	}{
		{name: "One API's config", key: "anything", config: map[string]string{"region": "us-east5", "vertex_ai_project_id": "my-proj", "vertex_ai_adc": sa},
			region: "us-east5", proj: "my-proj", credentials: sa},
		{name: "key is the service account", key: sa, config: map[string]string{"region": "europe-west1"}, region: "europe-west1", proj: "sa-project", credentials: sa},
		{name: "One API's key", key: "us-central1|p-1|" + sa, region: "us-central1", proj: "p-1", credentials: sa},
		{name: "global region", key: sa, config: map[string]string{"region": "global", "vertex_ai_project_id": "acme.com:p"}, region: "global", proj: "acme.com:p", credentials: sa},
		{name: "no account", key: "x", config: map[string]string{"region": "us-east5"}, wantErr: "service account"},
		{name: "no region", key: sa, wantErr: "region"},
		{name: "host-changing region", key: sa, config: map[string]string{"region": "x.evil.com/"}, wantErr: "not a region"},
		{name: "path-changing project", key: sa, config: map[string]string{"region": "us-east5", "vertex_ai_project_id": "p/../../x"}, wantErr: "not a project"},
		{name: "no project", key: `{"type":"service_account"}`, config: map[string]string{"region": "us-east5"}, wantErr: "project"},
	}
	for _, tt := range tests {
		got, err := channelConfig(&adaptor.Channel{Key: tt.key, Config: tt.config})
		if tt.wantErr != "" {
			var ue *adaptor.UpstreamError
			if !errors.As(err, &ue) || ue.Class != adaptor.ClassDisable || !strings.Contains(ue.Message, tt.wantErr) {
				t.Errorf("%s: err = %v, want a ClassDisable error about %q", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got.region != tt.region || got.project != tt.proj || string(got.credentials) != tt.credentials {
			t.Errorf("%s: got %+v, %v", tt.name, got, err)
		}
	}
}

func TestRequestURL(t *testing.T) {
	t.Parallel()
	c := config{region: "us-east5", project: "my-proj"}
	tests := []struct {
		base   string
		cfg    config
		model  string
		method string
		sse    bool
		want   string
	}{
		{"", c, "claude-sonnet-4-5@20250929", "rawPredict", false,
			"https://us-east5-aiplatform.googleapis.com/v1/projects/my-proj/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929:rawPredict"},
		{"", c, "gemini-2.5-flash", "streamGenerateContent", true,
			"https://us-east5-aiplatform.googleapis.com/v1/projects/my-proj/locations/us-east5/publishers/google/models/gemini-2.5-flash:streamGenerateContent?alt=sse"},
		{"", config{region: "global", project: "p"}, "gemini-2.5-pro", "generateContent", false,
			"https://aiplatform.googleapis.com/v1/projects/p/locations/global/publishers/google/models/gemini-2.5-pro:generateContent"},
		{"https://private.example.com/v1/", c, "gemini-2.5-pro", "generateContent", false,
			"https://private.example.com/v1/projects/my-proj/locations/us-east5/publishers/google/models/gemini-2.5-pro:generateContent"},
		{"", c, "gemini:streamGenerateContent/../x", "generateContent", false,
			"https://us-east5-aiplatform.googleapis.com/v1/projects/my-proj/locations/us-east5/publishers/google/models/gemini%3AstreamGenerateContent%2F..%2Fx:generateContent"},
	}
	for _, tt := range tests {
		got, err := requestURL(tt.base, tt.cfg, publisherOf(tt.model), tt.model, tt.method, tt.sse)
		if err != nil || got != tt.want {
			t.Errorf("requestURL(%q, %q) = %q, %v; want %q", tt.base, tt.model, got, err, tt.want)
		}
	}
}

// testChannel is a channel whose service account the returned token server
// trusts.
func testChannel(t *testing.T) (*adaptor.Channel, *adaptortest.TokenServer, *adaptortest.ServiceAccount) {
	t.Helper()
	ts := adaptortest.NewTokenServer(t)
	sa := adaptortest.NewServiceAccount(t, "my-proj", ts.URL+"/token")
	ts.Trust(sa)
	return &adaptor.Channel{ID: 7, Type: adaptor.TypeVertexAI, Key: string(sa.JSON), Config: map[string]string{"region": "us-east5"}}, ts, sa
}

// TestNewRequestGolden converts the OpenAI bodies in testdata/request for a
// Gemini or Claude model and compares the URL and body with the goldens.
func TestNewRequestGolden(t *testing.T) {
	t.Parallel()
	ch, _, _ := testChannel(t)
	a := New()
	files, _ := filepath.Glob(filepath.Join("testdata", "request", "*.json"))
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var v struct {
				Model  string `json:"model"`
				Stream bool   `json:"stream"`
			}
			_ = json.Unmarshal(body, &v)
			r, err := a.NewRequest(context.Background(), ch, &adaptor.Request{Mode: adaptor.ModeChat, Model: v.Model, Body: body, Stream: v.Stream})
			if err != nil {
				t.Fatal(err)
			}
			if got := r.Header.Get("Authorization"); got != "Bearer "+adaptortest.Token(1) {
				t.Errorf("Authorization = %q", got)
			}
			sent, _ := io.ReadAll(r.Body)
			var out bytes.Buffer
			fmt.Fprintf(&out, "%s %s\n", r.Method, r.URL)
			if err := json.Indent(&out, sent, "", "  "); err != nil {
				t.Fatalf("sent body is not JSON: %s", sent)
			}
			out.WriteByte('\n')
			adaptortest.CompareGolden(t, filepath.Join("testdata", "request", name+".golden"), out.Bytes())
		})
	}
}

// varying are the parts of a converted reply that change on every run: the
// creation time and the tool call ids Gemini does not give.
var varying = regexp.MustCompile(`"created":\d+|call_[0-9a-f]{24}`)

func stable(b []byte) []byte {
	return varying.ReplaceAllFunc(b, func(m []byte) []byte {
		if bytes.HasPrefix(m, []byte(`"created"`)) {
			return []byte(`"created":0`)
		}
		return []byte("call_ID")
	})
}

func TestDecodeResponseGolden(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, model string }{{"gemini", "gemini-2.5-flash"}, {"claude", "claude-sonnet-4-5@20250929"}} {
		body, err := os.ReadFile(filepath.Join("testdata", "response", tc.name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		out, usage, err := New().DecodeResponse(&adaptor.Request{Mode: adaptor.ModeChat, Model: tc.model},
			&http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(bytes.NewReader(body)), ContentLength: -1})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var b bytes.Buffer
		if err := json.Indent(&b, stable(out), "", "  "); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "\nusage: %s\n", adaptortest.FormatUsage(usage))
		adaptortest.CompareGolden(t, filepath.Join("testdata", "response", tc.name+".golden"), b.Bytes())
	}
}

func TestStreamGolden(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob(filepath.Join("testdata", "stream", "*.sse"))
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".sse")
		model := "gemini-2.0-flash-001"
		if strings.HasPrefix(name, "claude") {
			model = "claude-3-5-haiku@20241022"
		}
		out, _, _ := adaptortest.ReplayStream(t, New(), &adaptor.Request{Mode: adaptor.ModeChat, Model: model, Stream: true}, f, nil)
		adaptortest.CompareGolden(t, filepath.Join("testdata", "stream", name+".golden"), stable(out))
	}
}

// TestDecodeErrorGolden: Google's error shape and Anthropic's are each
// classified by their own rules.
func TestDecodeErrorGolden(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob(filepath.Join("testdata", "error", "*.json"))
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var spec struct {
			Status int    `json:"status"`
			Body   string `json:"body"`
		}
		if err := json.Unmarshal(raw, &spec); err != nil {
			t.Fatal(err)
		}
		ue := New().DecodeError(&http.Response{StatusCode: spec.Status, Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(strings.NewReader(spec.Body))})
		got := fmt.Sprintf("status=%d type=%q code=%q class=%v\nmessage: %s\n", ue.Status, ue.Type, ue.Code, ue.Class, ue.Message)
		adaptortest.CompareGolden(t, filepath.Join("testdata", "error", name+".golden"), []byte(got))
	}
}

func TestNewRequestRefusals(t *testing.T) {
	t.Parallel()
	ch, ts, _ := testChannel(t)
	a := New()
	// The client's: converted by the gemini and anthropic packages.
	for _, tc := range []struct{ model, body string }{
		{"gemini-2.5-flash", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"http://10.0.0.1/x.png"}}]}]}`},
		{"claude-sonnet-4-5@20250929", `{"messages":[{"role":"narrator","content":"x"}]}`},
		{"claude-sonnet-4-5@20250929", `{"messages":`},
	} {
		_, err := a.NewRequest(context.Background(), ch, &adaptor.Request{Mode: adaptor.ModeChat, Model: tc.model, Body: []byte(tc.body)})
		var ue *adaptor.UpstreamError
		if !errors.As(err, &ue) || ue.Class != adaptor.ClassClient || ue.Status != 400 {
			t.Errorf("%s %s: err = %v, want a 400 for the client", tc.model, tc.body, err)
		}
	}
	if n := ts.Exchanges.Load(); n != 0 {
		t.Errorf("%d token exchanges for requests refused before sending", n)
	}
	_, err := a.NewRequest(context.Background(), ch, &adaptor.Request{Mode: adaptor.ModeEmbeddings, Model: "text-embedding-005", Body: []byte(`{"input":"x"}`)})
	var ue *adaptor.UpstreamError
	if err == nil || errors.As(err, &ue) {
		t.Errorf("embeddings: err = %v, want a plain error (another channel may serve)", err)
	}
}
