package bedrock

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
	"strings"
	"testing"
	"time"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/adaptortest"
)

const (
	fakeAccessKey = "AKIAFAKEFAKEFAKE0000"
	fakeSecretKey = "fake/secret/key/FAKEFAKEFAKEFAKEFAKEFAKE"
)

var fakeKey = fakeAccessKey + "|" + fakeSecretKey + "|us-east-1"

// testAdaptor has a fixed clock, so chunks and replies are reproducible.
func testAdaptor() *Adaptor {
	return &Adaptor{now: func() time.Time { return time.Unix(1732000000, 0) }}
}

func TestRegistered(t *testing.T) {
	t.Parallel()
	if _, ok := adaptor.For(adaptor.TypeAwsClaude).(*Adaptor); !ok {
		t.Errorf("For(TypeAwsClaude) = %T, want *bedrock.Adaptor", adaptor.For(adaptor.TypeAwsClaude))
	}
}

func TestChannelCredentials(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		key     string
		config  map[string]string
		base    string
		want    credentials
		wantErr string
	}{
		{name: "One API's key", key: "AK|SK|eu-west-3", want: credentials{accessKey: "AK", secretKey: "SK", region: "eu-west-3"}},
		{name: "key with session token", key: "ASIA1|SK|us-west-2|IQoJb3JpZ2lu|x", want: credentials{accessKey: "ASIA1", secretKey: "SK", region: "us-west-2", sessionToken: "IQoJb3JpZ2lu|x"}},
		{name: "One API's config (key written from it)", key: "AK|SK|us-east-1", config: map[string]string{"region": "ap-northeast-1", "ak": "AK2", "sk": "SK2"},
			want: credentials{accessKey: "AK", secretKey: "SK", region: "us-east-1"}},
		{name: "config only, any key", key: "placeholder with spaces", config: map[string]string{"region": "us-east-1", "ak": "AK", "sk": "SK", "session_token": "TOK"},
			want: credentials{accessKey: "AK", secretKey: "SK", region: "us-east-1", sessionToken: "TOK"}},
		{name: "key ak|sk, region in config", key: "AK|SK", config: map[string]string{"region": "us-east-2"}, want: credentials{accessKey: "AK", secretKey: "SK", region: "us-east-2"}},
		{name: "access key as key, secret in config", key: "AKIA123", config: map[string]string{"sk": "SK", "region": "us-east-1"}, want: credentials{accessKey: "AKIA123", secretKey: "SK", region: "us-east-1"}},
		{name: "One API's first form: two lines, region as base URL", key: "AK\nSK", base: "us-west-2", want: credentials{accessKey: "AK", secretKey: "SK", region: "us-west-2"}},
		{name: "region from a VPC endpoint", key: "AK|SK", base: "https://vpce-0a1b-xyz.bedrock-runtime.eu-central-1.vpce.amazonaws.com", want: credentials{accessKey: "AK", secretKey: "SK", region: "eu-central-1"}},
		{name: "no secret", key: "AK", config: map[string]string{"region": "us-east-1"}, wantErr: "secret key"},
		{name: "no region", key: "AK|SK", base: "https://proxy.example.com", wantErr: "region"},
		{name: "region that would change the host", key: "AK|SK|evil.example.com/x", wantErr: "not a region"},
	}
	for _, tt := range tests {
		got, err := channelCredentials(&adaptor.Channel{Key: tt.key, Config: tt.config, BaseURL: tt.base})
		if tt.wantErr != "" {
			var ue *adaptor.UpstreamError
			if !errors.As(err, &ue) || ue.Class != adaptor.ClassDisable || !strings.Contains(ue.Message, tt.wantErr) {
				t.Errorf("%s: err = %v, want a ClassDisable error about %q", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s: got %+v, %v; want %+v", tt.name, got, err, tt.want)
		}
	}
}

func TestRequestURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		base, model, action, want string
	}{
		{"", "anthropic.claude-3-5-haiku-20241022-v1:0", "converse", "https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse"},
		{"", "claude-3-5-sonnet-20241022", "converse-stream", "https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-3-5-sonnet-20241022-v2%3A0/converse-stream"},
		{"https://vpce-1.bedrock-runtime.us-east-1.vpce.amazonaws.com/", "us.amazon.nova-pro-v1:0", "converse", "https://vpce-1.bedrock-runtime.us-east-1.vpce.amazonaws.com/model/us.amazon.nova-pro-v1%3A0/converse"},
		{"http://10.0.0.5:8080/bedrock", "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.meta.llama3-3-70b-instruct-v1:0", "converse",
			"http://10.0.0.5:8080/bedrock/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.meta.llama3-3-70b-instruct-v1%3A0/converse"},
		{"", "amazon.titan-embed-text-v2:0", "invoke", "https://bedrock-runtime.us-east-1.amazonaws.com/model/amazon.titan-embed-text-v2%3A0/invoke"},
		{"", "x/../../admin?y", "converse", "https://bedrock-runtime.us-east-1.amazonaws.com/model/x%2F..%2F..%2Fadmin%3Fy/converse"},
	}
	for _, tt := range tests {
		got, err := requestURL(tt.base, "us-east-1", ModelID(tt.model), tt.action)
		if err != nil || got != tt.want {
			t.Errorf("requestURL(%q, %q) = %q, %v; want %q", tt.base, tt.model, got, err, tt.want)
		}
	}
	if _, err := requestURL("ftp://x", "us-east-1", "m", "converse"); err == nil {
		t.Error("an ftp base URL was taken")
	}
}

// TestNewRequestGolden converts the OpenAI bodies in testdata/request and
// compares what would be sent (URL and body) with the .golden files.
func TestNewRequestGolden(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob(filepath.Join("testdata", "request", "*.json"))
	if len(files) == 0 {
		t.Fatal("no request files")
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var v struct {
				Model  string `json:"model"`
				Stream bool   `json:"stream"`
			}
			_ = json.Unmarshal(body, &v)
			mode := adaptor.ModeChat
			if strings.HasPrefix(name, "embed") {
				mode = adaptor.ModeEmbeddings
			}
			r, err := testAdaptor().NewRequest(context.Background(), &adaptor.Channel{Type: adaptor.TypeAwsClaude, Key: fakeKey},
				&adaptor.Request{Mode: mode, Model: v.Model, Body: body, Stream: v.Stream})
			if err != nil {
				t.Fatal(err)
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

func TestNewRequestHeaders(t *testing.T) {
	t.Parallel()
	a := testAdaptor()
	for _, stream := range []bool{false, true} {
		ch := &adaptor.Channel{Type: adaptor.TypeAwsClaude, Key: fakeAccessKey + "|" + fakeSecretKey + "|eu-west-1|SESSION-TOKEN-123"}
		r, err := a.NewRequest(context.Background(), ch, &adaptor.Request{Mode: adaptor.ModeChat, Model: "amazon.nova-lite-v1:0",
			Body: []byte(`{"model":"nova","messages":[{"role":"user","content":"hi"}]}`), Stream: stream})
		if err != nil {
			t.Fatal(err)
		}
		accept := "application/json"
		if stream {
			accept = eventStreamType
		}
		auth := r.Header.Get("Authorization")
		if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential="+fakeAccessKey+"/20241119/eu-west-1/bedrock/aws4_request") ||
			!strings.Contains(auth, "x-amz-security-token") || strings.Contains(auth, fakeSecretKey) {
			t.Errorf("Authorization = %q", auth)
		}
		if r.Header.Get("X-Amz-Security-Token") != "SESSION-TOKEN-123" || r.Header.Get("Accept") != accept ||
			r.Header.Get("Content-Type") != "application/json" || r.Header.Get("X-Amz-Date") != "20241119T070640Z" {
			t.Errorf("stream=%v: headers %v", stream, r.Header)
		}
	}
}

func TestNewRequestRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, model, body string
		mode              adaptor.Mode
		want              string
	}{
		{"image by URL", "m", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"http://169.254.169.254/latest"}}]}]}`, adaptor.ModeChat, "does not fetch image URLs"},
		{"image type", "m", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/bmp;base64,Qk0="}}]}]}`, adaptor.ModeChat, "image/bmp"},
		{"audio", "m", `{"messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AA==","format":"wav"}}]}]}`, adaptor.ModeChat, "input_audio"},
		{"functions", "m", `{"messages":[{"role":"user","content":"x"}],"functions":[{"name":"f"}]}`, adaptor.ModeChat, "functions"},
		{"tool call arguments", "m", `{"messages":[{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"[1]"}}]}]}`, adaptor.ModeChat, "not a JSON object"},
		{"tool_choice", "m", `{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"sometimes"}`, adaptor.ModeChat, "sometimes"},
		{"role", "m", `{"messages":[{"role":"narrator","content":"x"}]}`, adaptor.ModeChat, "narrator"},
		{"not JSON", "m", `{"messages":`, adaptor.ModeChat, "invalid chat request"},
		{"Titan with two inputs", "amazon.titan-embed-text-v1", `{"input":["a","b"]}`, adaptor.ModeEmbeddings, "one input"},
		{"embeddings of a chat model", "anthropic.claude-v2", `{"input":"a"}`, adaptor.ModeEmbeddings, "Titan and Cohere"},
		{"token ids", "cohere.embed-english-v3", `{"input":[1,2,3]}`, adaptor.ModeEmbeddings, "token ids"},
	}
	for _, tt := range tests {
		_, err := testAdaptor().NewRequest(context.Background(), &adaptor.Channel{Key: fakeKey}, &adaptor.Request{Mode: tt.mode, Model: tt.model, Body: []byte(tt.body)})
		var ue *adaptor.UpstreamError
		if !errors.As(err, &ue) || ue.Class != adaptor.ClassClient || ue.Status != http.StatusBadRequest || !strings.Contains(ue.Message, tt.want) {
			t.Errorf("%s: err = %v, want a 400 for the client about %q", tt.name, err, tt.want)
		}
	}
	// A mode Bedrock does not serve is not the client's fault: another channel may.
	_, err := testAdaptor().NewRequest(context.Background(), &adaptor.Channel{Key: fakeKey}, &adaptor.Request{Mode: adaptor.ModeImages, Model: "m", Body: []byte(`{}`)})
	var ue *adaptor.UpstreamError
	if err == nil || errors.As(err, &ue) {
		t.Errorf("images: err = %v, want a plain error", err)
	}
}

// TestDecodeResponseGolden converts the replies in testdata/response.
func TestDecodeResponseGolden(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob(filepath.Join("testdata", "response", "*.json"))
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			req := &adaptor.Request{Mode: adaptor.ModeChat, Model: "anthropic.claude-sonnet-4-5-20250929-v1:0", PromptTokens: 99}
			header := http.Header{"Content-Type": {"application/json"}, "X-Amzn-Requestid": {"6f1c-req"}}
			switch name {
			case "embed_titan":
				req = &adaptor.Request{Mode: adaptor.ModeEmbeddings, Model: "amazon.titan-embed-text-v2:0", Body: []byte(`{"input":"x"}`), PromptTokens: 99}
			case "embed_cohere":
				req = &adaptor.Request{Mode: adaptor.ModeEmbeddings, Model: "cohere.embed-multilingual-v3", Body: []byte(`{"input":["a","b"],"encoding_format":"base64"}`), PromptTokens: 99}
				header.Set("X-Amzn-Bedrock-Input-Token-Count", "7")
			}
			out, usage, err := testAdaptor().DecodeResponse(req, &http.Response{StatusCode: 200, Header: header, Body: io.NopCloser(bytes.NewReader(body)), ContentLength: -1})
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			if err := json.Indent(&b, out, "", "  "); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "\nusage: %s\n", adaptortest.FormatUsage(usage))
			adaptortest.CompareGolden(t, filepath.Join("testdata", "response", name+".golden"), b.Bytes())
		})
	}
}

func TestDecodeResponseMalformed(t *testing.T) {
	t.Parallel()
	for _, body := range []string{``, `not json`, `{"output":{}}`, `<html>Bad gateway</html>`, `{"output":{"message":{"role":"assistant","content":[{"text":"cut`} {
		_, _, err := testAdaptor().DecodeResponse(&adaptor.Request{Mode: adaptor.ModeChat, Model: "m"},
			&http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(body)), ContentLength: -1})
		var ue *adaptor.UpstreamError
		if !errors.As(err, &ue) || ue.Status != http.StatusBadGateway || ue.Class != adaptor.ClassRetry {
			t.Errorf("body %q: err = %v, want a retryable 502", body, err)
		}
	}
}

// streamResponse is a 200 ConverseStream reply with body.
func streamResponse(body []byte) *http.Response {
	return &http.Response{
		StatusCode:    http.StatusOK,
		Header:        http.Header{"Content-Type": {eventStreamType}, "X-Amzn-Requestid": {"6f1c-req"}},
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: -1,
	}
}

// TestStreamGolden encodes the frames of testdata/stream/*.jsonl as
// Bedrock does and compares the chunks sent, the usage and the error with
// the .golden transcripts.
func TestStreamGolden(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob(filepath.Join("testdata", "stream", "*.jsonl"))
	if len(files) == 0 {
		t.Fatal("no stream files")
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".jsonl")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			body := adaptortest.EventStreamBody(adaptortest.LoadFrames(t, f))
			req := &adaptor.Request{Mode: adaptor.ModeChat, Model: "anthropic.claude-sonnet-4-5-20250929-v1:0", Stream: true}
			out, _, _ := adaptortest.ReplayResponse(t, testAdaptor(), req, streamResponse(body), nil)
			adaptortest.CompareGolden(t, filepath.Join("testdata", "stream", name+".golden"), out)
		})
	}
}

func TestStreamEnds(t *testing.T) {
	t.Parallel()
	req := &adaptor.Request{Mode: adaptor.ModeChat, Model: "m", Stream: true}
	full := adaptortest.EventStreamBody(adaptortest.LoadFrames(t, filepath.Join("testdata", "stream", "text.jsonl")))
	if u, err := testAdaptor().DecodeStream(req, streamResponse(full), func(adaptor.Event) error { return nil }); err != nil ||
		u != (func() adaptor.Usage {
			u := adaptortest.Usage(1546, 20)
			u.CacheRead, u.CacheWrite = 1200, 342
			return u
		})() {
		t.Fatalf("full stream: %+v, %v", u, err)
	}
	badCRC := bytes.Clone(full)
	badCRC[len(badCRC)-1] ^= 0xff
	oversize := append(bytes.Clone(full[:0]), 0x7f, 0, 0, 0, 0, 0, 0, 0)
	tests := []struct {
		name     string
		resp     *http.Response
		upstream bool // an *UpstreamError comes with it
	}{
		{"cut inside a frame", streamResponse(full[:len(full)-7]), false},
		{"cut inside a prelude", streamResponse(full[:2]), false},
		{"bad checksum", streamResponse(badCRC), true},
		{"oversized frame", streamResponse(oversize), true},
		{"read error", &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {eventStreamType}},
			Body: io.NopCloser(io.MultiReader(bytes.NewReader(full[:40]), errReader{})), ContentLength: -1}, true},
		{"JSON instead of a stream", &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(strings.NewReader(`{"hello":"world"}`)), ContentLength: -1}, true},
	}
	for _, tt := range tests {
		_, err := testAdaptor().DecodeStream(req, tt.resp, func(adaptor.Event) error { return nil })
		if !errors.Is(err, adaptor.ErrStreamTruncated) {
			t.Errorf("%s: err = %v, want ErrStreamTruncated", tt.name, err)
			continue
		}
		var ue *adaptor.UpstreamError
		if got := errors.As(err, &ue); got != tt.upstream || (got && (ue.Status != http.StatusBadGateway || ue.Class != adaptor.ClassRetry)) {
			t.Errorf("%s: err = %v (upstream error %+v), want upstream=%v as a retryable 502", tt.name, err, ue, tt.upstream)
		}
	}
	// An error from send stops the stream and comes back as it is.
	stop := errors.New("client gone")
	if _, err := testAdaptor().DecodeStream(req, streamResponse(full), func(adaptor.Event) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("send error: %v", err)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset by peer") }

// TestDecodeErrorGolden classifies the error replies in testdata/error.
func TestDecodeErrorGolden(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob(filepath.Join("testdata", "error", "*.json"))
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var spec struct {
				Status int               `json:"status"`
				Header map[string]string `json:"header"`
				Body   string            `json:"body"`
			}
			if err := json.Unmarshal(raw, &spec); err != nil {
				t.Fatal(err)
			}
			resp := &http.Response{StatusCode: spec.Status, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(spec.Body))}
			for k, v := range spec.Header {
				resp.Header.Set(k, v)
			}
			// The signed request, whose access key must not come back.
			signed, _ := testAdaptor().NewRequest(context.Background(), &adaptor.Channel{Key: fakeKey},
				&adaptor.Request{Mode: adaptor.ModeChat, Model: "m", Body: []byte(`{"messages":[{"role":"user","content":"x"}]}`)})
			resp.Request = signed
			ue := testAdaptor().DecodeError(resp)
			got := fmt.Sprintf("status=%d type=%q code=%q class=%v retry_after=%v\nmessage: %s\n", ue.Status, ue.Type, ue.Code, ue.Class, ue.RetryAfter, ue.Message)
			if strings.Contains(got, fakeAccessKey) {
				t.Errorf("the access key is in %q", got)
			}
			adaptortest.CompareGolden(t, filepath.Join("testdata", "error", name+".golden"), []byte(got))
		})
	}
}
