package gemini

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/adaptortest"
	"oneapi/relay/oai"
)

// testKey looks like a real Gemini key, so tests notice it anywhere.
const testKey = "AIzaSyTESTKEY0123456789abcdefghijklmno"

var (
	randomCallID  = regexp.MustCompile(`call_[0-9a-f]{24}`)
	randomChatID  = regexp.MustCompile(`chatcmpl-[0-9a-f]{24}`)
	createdNumber = regexp.MustCompile(`"created":\d+`)
)

// normalize replaces the random and time-dependent parts of output.
func normalize(b []byte) []byte {
	b = randomCallID.ReplaceAll(b, []byte("call_RANDOM"))
	b = randomChatID.ReplaceAll(b, []byte("chatcmpl-RANDOM"))
	return createdNumber.ReplaceAll(b, []byte(`"created":0`))
}

func testChannel(base string, config map[string]string) *adaptor.Channel {
	return &adaptor.Channel{ID: 7, Type: adaptor.TypeGemini, Name: "gemini", Key: testKey, BaseURL: base, Config: config}
}

func chatRequest(t *testing.T, body string, stream bool) *adaptor.Request {
	t.Helper()
	var r oai.ChatRequest
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatal(err)
	}
	return &adaptor.Request{Mode: adaptor.ModeChat, Model: r.Model, Body: []byte(body), Stream: stream}
}

// requestBody returns the JSON body NewRequest built for body.
func requestBody(t *testing.T, body string) map[string]any {
	t.Helper()
	hreq, err := New().NewRequest(context.Background(), testChannel("", nil), chatRequest(t, body, false))
	if err != nil {
		t.Fatalf("NewRequest: %v", err)
	}
	var m map[string]any
	if err := json.NewDecoder(hreq.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func toJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRegistered(t *testing.T) {
	t.Parallel()
	if _, ok := adaptor.For(adaptor.TypeGemini).(*Adaptor); !ok {
		t.Errorf("For(TypeGemini) = %T, want *gemini.Adaptor", adaptor.For(adaptor.TypeGemini))
	}
}

func TestRequestURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		base    string
		config  map[string]string
		model   string
		method  string
		stream  bool
		want    string
		wantErr bool
	}{
		{name: "default", model: "gemini-2.5-flash", method: "generateContent",
			want: "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"},
		{name: "stream", model: "gemini-2.5-flash", method: "streamGenerateContent", stream: true,
			want: "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"},
		{name: "custom base with path and slash", base: "https://proxy.example.com/google/", model: "gemini-2.0-flash", method: "generateContent",
			want: "https://proxy.example.com/google/v1beta/models/gemini-2.0-flash:generateContent"},
		{name: "api_version", base: "http://10.0.0.5:8080", config: map[string]string{"api_version": "v1"}, model: "gemini-2.0-flash", method: "batchEmbedContents",
			want: "http://10.0.0.5:8080/v1/models/gemini-2.0-flash:batchEmbedContents"},
		{name: "api_version with slashes", config: map[string]string{"api_version": " /v1alpha/ "}, model: "m", method: "generateContent",
			want: "https://generativelanguage.googleapis.com/v1alpha/models/m:generateContent"},
		{name: "base already has version", base: "https://generativelanguage.googleapis.com/v1beta/", model: "m", method: "generateContent",
			want: "https://generativelanguage.googleapis.com/v1beta/models/m:generateContent"},
		{name: "version-like word is not a version", base: "https://example.com/vault", model: "m", method: "generateContent",
			want: "https://example.com/vault/v1beta/models/m:generateContent"},
		{name: "models/ prefix dropped", model: "models/gemini-pro", method: "generateContent",
			want: "https://generativelanguage.googleapis.com/v1beta/models/gemini-pro:generateContent"},
		{name: "model escaped as one segment", model: "a/../b:embedContent?key=x#y", method: "generateContent",
			want: "https://generativelanguage.googleapis.com/v1beta/models/a%2F..%2Fb%3AembedContent%3Fkey=x%23y:generateContent"},
		{name: "base query kept", base: "https://proxy.example.com/?team=a", model: "m", method: "streamGenerateContent", stream: true,
			want: "https://proxy.example.com/v1beta/models/m:streamGenerateContent?alt=sse&team=a"},
		{name: "not http", base: "ftp://example.com", model: "m", method: "generateContent", wantErr: true},
		{name: "no host", base: "/just/a/path", model: "m", method: "generateContent", wantErr: true},
		{name: "no model", model: "", method: "generateContent", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := requestURL(testChannel(tt.base, tt.config), tt.model, tt.method, tt.stream)
			if (err != nil) != tt.wantErr {
				t.Fatalf("requestURL error = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("requestURL = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestNewRequestGolden converts the OpenAI bodies in testdata/request/*.json
// and compares the upstream request with the .golden files.
func TestNewRequestGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mode   adaptor.Mode
		stream bool
	}{
		{name: "chat_basic"},
		{name: "chat_tools"},
		{name: "chat_media"},
		{name: "chat_json_schema", stream: true},
		{name: "embeddings", mode: adaptor.ModeEmbeddings},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body, err := os.ReadFile(filepath.Join("testdata", "request", tt.name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			var head struct{ Model string }
			if err := json.Unmarshal(body, &head); err != nil {
				t.Fatal(err)
			}
			req := &adaptor.Request{Mode: tt.mode, Model: head.Model, Body: body, Stream: tt.stream}
			hreq, err := New().NewRequest(context.Background(), testChannel("", nil), req)
			if err != nil {
				t.Fatalf("NewRequest: %v", err)
			}
			got, err := io.ReadAll(hreq.Body)
			if err != nil {
				t.Fatal(err)
			}
			var indented bytes.Buffer
			if err := json.Indent(&indented, got, "", "  "); err != nil {
				t.Fatalf("body is not JSON: %v\n%s", err, got)
			}
			var out bytes.Buffer
			fmt.Fprintf(&out, "%s %s\n", hreq.Method, hreq.URL)
			for _, h := range []string{"Content-Type", "Accept"} {
				if v := hreq.Header.Get(h); v != "" {
					fmt.Fprintf(&out, "%s: %s\n", h, v)
				}
			}
			fmt.Fprintf(&out, "\n%s\n", indented.Bytes())
			adaptortest.CompareGolden(t, filepath.Join("testdata", "request", tt.name+".golden"), out.Bytes())
		})
	}
}

func TestSystemInstructionAndMerging(t *testing.T) {
	t.Parallel()
	m := requestBody(t, `{"model":"m","messages":[
		{"role":"user","content":"a"},
		{"role":"system","content":"late system"},
		{"role":"user","content":"b"},
		{"role":"assistant","content":"c"},
		{"role":"developer","content":"dev"},
		{"role":"assistant","content":"d"},
		{"role":"user","content":"e"}]}`)
	if got, want := toJSON(t, m["systemInstruction"]), `{"parts":[{"text":"late system\n\ndev"}]}`; got != want {
		t.Errorf("systemInstruction = %s, want %s", got, want)
	}
	want := `[{"parts":[{"text":"a"},{"text":"b"}],"role":"user"},{"parts":[{"text":"c"},{"text":"d"}],"role":"model"},{"parts":[{"text":"e"}],"role":"user"}]`
	if got := toJSON(t, m["contents"]); got != want {
		t.Errorf("contents = %s\nwant %s", got, want)
	}
	if _, ok := m["generationConfig"]; ok {
		t.Errorf("generationConfig present without options: %v", m["generationConfig"])
	}
}

func TestToolChoice(t *testing.T) {
	t.Parallel()
	tests := []struct {
		choice string
		want   string // toolConfig JSON, "" for none
	}{
		{choice: `"none"`, want: `{"functionCallingConfig":{"mode":"NONE"}}`},
		{choice: `"auto"`, want: `{"functionCallingConfig":{"mode":"AUTO"}}`},
		{choice: `"required"`, want: `{"functionCallingConfig":{"mode":"ANY"}}`},
		{choice: `{"type":"function","function":{"name":"f"}}`, want: `{"functionCallingConfig":{"allowedFunctionNames":["f"],"mode":"ANY"}}`},
		{choice: `null`, want: ``},
	}
	for _, tt := range tests {
		t.Run(tt.choice, func(t *testing.T) {
			t.Parallel()
			m := requestBody(t, `{"model":"m","messages":[{"role":"user","content":"hi"}],
				"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"tool_choice":`+tt.choice+`}`)
			got := ""
			if v, ok := m["toolConfig"]; ok {
				got = toJSON(t, v)
			}
			if got != tt.want {
				t.Errorf("toolConfig = %s, want %s", got, tt.want)
			}
			if decl := toJSON(t, m["tools"]); decl != `[{"functionDeclarations":[{"name":"f","parametersJsonSchema":{"type":"object"}}]}]` {
				t.Errorf("tools = %s", decl)
			}
		})
	}
}

func TestToolChoiceWithoutTools(t *testing.T) {
	t.Parallel()
	m := requestBody(t, `{"model":"m","messages":[{"role":"user","content":"hi"}],"tool_choice":"required"}`)
	if v, ok := m["toolConfig"]; ok {
		t.Errorf("toolConfig = %v without tools, want none", v)
	}
}

func TestInlineImage(t *testing.T) {
	t.Parallel()
	m := requestBody(t, `{"model":"m","messages":[{"role":"user","content":[
		{"type":"image_url","image_url":{"url":"data:image/jpeg;base64,/9j/4AAQ"}},
		{"type":"image_url","image_url":{"url":"DATA:image/webp;charset=x;base64,UklG"}}]}]}`)
	want := `[{"parts":[{"inlineData":{"data":"/9j/4AAQ","mimeType":"image/jpeg"}},{"inlineData":{"data":"UklG","mimeType":"image/webp"}}],"role":"user"}]`
	if got := toJSON(t, m["contents"]); got != want {
		t.Errorf("contents = %s\nwant %s", got, want)
	}
}

// TestNewRequestClientErrors checks that what Gemini cannot take is
// refused as the client's fault, with a message saying why.
func TestNewRequestClientErrors(t *testing.T) {
	t.Parallel()
	user := func(content string) string {
		return `{"model":"m","messages":[{"role":"user","content":` + content + `}]}`
	}
	tests := []struct {
		name    string
		mode    adaptor.Mode
		body    string
		wantMsg string
	}{
		{name: "malformed body", body: `{"model":"m","messages":`, wantMsg: "invalid chat request body"},
		{name: "image URL", body: user(`[{"type":"image_url","image_url":{"url":"https://example.com/cat.png"}}]`), wantMsg: "need images inline, as data: URLs"},
		{name: "plain http image URL", body: user(`[{"type":"image_url","image_url":{"url":"HTTP://example.com/cat.png"}}]`), wantMsg: "does not fetch image URLs"},
		{name: "data URL without base64", body: user(`[{"type":"image_url","image_url":{"url":"data:image/png,abc"}}]`), wantMsg: "base64 data: URL"},
		{name: "file id", body: user(`[{"type":"file","file":{"file_id":"file-1"}}]`), wantMsg: "not file_id"},
		{name: "unknown part", body: user(`[{"type":"video_url","video_url":{}}]`), wantMsg: `content part type "video_url"`},
		{name: "unknown role", body: `{"model":"m","messages":[{"role":"critic","content":"x"}]}`, wantMsg: `role "critic"`},
		{name: "tool result without call", body: `{"model":"m","messages":[{"role":"tool","tool_call_id":"call_x","content":"1"}]}`, wantMsg: `tool_call_id "call_x"`},
		{name: "arguments not an object", body: `{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"[1]"}}]}]}`, wantMsg: "not a JSON object"},
		{name: "non-function tool", body: `{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"web_search"}]}`, wantMsg: `tool type "web_search"`},
		{name: "bad tool_choice", body: `{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"sometimes"}`, wantMsg: `tool_choice "sometimes"`},
		{name: "legacy functions", body: `{"model":"m","messages":[{"role":"user","content":"x"}],"functions":[{"name":"f"}]}`, wantMsg: "use tools"},
		{name: "bad stop", body: `{"model":"m","messages":[{"role":"user","content":"x"}],"stop":5}`, wantMsg: "stop"},
		{name: "embeddings token ids", mode: adaptor.ModeEmbeddings, body: `{"model":"m","input":[1,2,3]}`, wantMsg: "not token ids"},
		{name: "embeddings empty", mode: adaptor.ModeEmbeddings, body: `{"model":"m","input":[]}`, wantMsg: "input is empty"},
		{name: "embeddings malformed", mode: adaptor.ModeEmbeddings, body: `{"model":`, wantMsg: "invalid embeddings request body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := &adaptor.Request{Mode: tt.mode, Model: "m", Body: []byte(tt.body)}
			hreq, err := New().NewRequest(context.Background(), testChannel("", nil), req)
			if err == nil {
				t.Fatalf("NewRequest succeeded (%s), want a client error", hreq.URL)
			}
			var ue *adaptor.UpstreamError
			if !errors.As(err, &ue) {
				t.Fatalf("error %v (%T) is not an *adaptor.UpstreamError", err, err)
			}
			if ue.Status != http.StatusBadRequest || ue.Class != adaptor.ClassClient {
				t.Errorf("status %d class %v, want 400 client", ue.Status, ue.Class)
			}
			if !strings.Contains(ue.Message, tt.wantMsg) {
				t.Errorf("message %q does not contain %q", ue.Message, tt.wantMsg)
			}
		})
	}
}

// TestNewRequestUnsupportedMode: not the client's fault, so a plain error:
// the relay then tries another channel.
func TestNewRequestUnsupportedMode(t *testing.T) {
	t.Parallel()
	for _, mode := range []adaptor.Mode{adaptor.ModeCompletions, adaptor.ModeImages, adaptor.ModeAudioSpeech, adaptor.ModeModerations, adaptor.ModeResponses} {
		_, err := New().NewRequest(context.Background(), testChannel("", nil), &adaptor.Request{Mode: mode, Model: "m", Body: []byte(`{}`)})
		if err == nil || !strings.Contains(err.Error(), "not supported by Gemini channels") {
			t.Errorf("mode %s: error %v, want not supported", mode, err)
		}
		var ue *adaptor.UpstreamError
		if errors.As(err, &ue) {
			t.Errorf("mode %s: got *UpstreamError class %v, want a plain error", mode, ue.Class)
		}
	}
}

// TestKeyOnlyInHeader sends a request to a server that echoes the key back
// in an error, as Google does for a suspended key.
func TestKeyOnlyInHeader(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("x-goog-api-key"); got != testKey {
			t.Errorf("x-goog-api-key = %q, want the channel key", got)
		}
		if strings.Contains(r.URL.String(), testKey) || r.URL.Query().Has("key") {
			t.Errorf("key in URL %s", r.URL)
		}
		if r.Header.Get("Authorization") != "" {
			t.Errorf("Authorization header sent: %q", r.Header.Get("Authorization"))
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, `{"error":{"code":403,"message":"Permission denied: Consumer 'api_key:%s' has been suspended.","status":"PERMISSION_DENIED"}}`, testKey)
	}))
	defer srv.Close()

	a := New()
	hreq, err := a.NewRequest(context.Background(), testChannel(srv.URL, nil), chatRequest(t, `{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"hi"}]}`, true))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(hreq.URL.String(), testKey) {
		t.Fatalf("key in request URL %s", hreq.URL)
	}
	resp, err := srv.Client().Do(hreq)
	if err != nil {
		t.Fatal(err)
	}
	ue := a.DecodeError(resp)
	if strings.Contains(ue.Message, testKey) || strings.Contains(ue.Error(), testKey) {
		t.Errorf("key leaked in error: %v", ue)
	}
	if !strings.Contains(ue.Message, "[redacted]") {
		t.Errorf("message %q, want the key redacted", ue.Message)
	}
	if ue.Class != adaptor.ClassDisable {
		t.Errorf("class %v, want disable", ue.Class)
	}
}

func TestChatNonStream(t *testing.T) {
	t.Parallel()
	const reply = `{
	  "candidates": [{
	    "content": {"role": "model", "parts": [
	      {"text": "thinking about it", "thought": true},
	      {"text": "It is "},
	      {"text": "sunny."},
	      {"functionCall": {"name": "get_weather", "args": {"city": "Paris", "days": 2}}, "thoughtSignature": "U0lH"}
	    ]},
	    "finishReason": "STOP"
	  }],
	  "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 5, "thoughtsTokenCount": 30, "cachedContentTokenCount": 4, "totalTokenCount": 47},
	  "modelVersion": "gemini-2.5-flash",
	  "responseId": "abc123"
	}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1beta/models/gemini-2.5-flash:generateContent" || r.URL.RawQuery != "" {
			t.Errorf("request %s %s, want POST /v1beta/models/gemini-2.5-flash:generateContent", r.Method, r.URL)
		}
		var body generateContentRequest
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Errorf("decode body: %v", err)
		}
		if len(body.Contents) != 1 || body.Contents[0].Parts[0].Text != "Weather?" {
			t.Errorf("contents = %+v", body.Contents)
		}
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		io.WriteString(w, reply)
	}))
	defer srv.Close()

	a := New()
	req := chatRequest(t, `{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"Weather?"}]}`, false)
	hreq, err := a.NewRequest(context.Background(), testChannel(srv.URL, nil), req)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(hreq)
	if err != nil {
		t.Fatal(err)
	}
	out, usage, err := a.DecodeResponse(req, resp)
	if err != nil {
		t.Fatalf("DecodeResponse: %v", err)
	}
	if want := withParts(adaptortest.Usage(12, 35), 4, 30); usage != want {
		t.Errorf("usage = %+v, want prompt 12 completion 35 (5 + 30 thoughts) reported", usage)
	}
	var cr oai.ChatResponse
	if err := json.Unmarshal(out, &cr); err != nil {
		t.Fatalf("reply is not a chat completion: %v\n%s", err, out)
	}
	if cr.ID != "chatcmpl-abc123" || cr.Object != "chat.completion" || cr.Model != "gemini-2.5-flash" || cr.Created == 0 {
		t.Errorf("header fields: id %q object %q model %q created %d", cr.ID, cr.Object, cr.Model, cr.Created)
	}
	if len(cr.Choices) != 1 {
		t.Fatalf("%d choices, want 1", len(cr.Choices))
	}
	c := cr.Choices[0]
	if text, _ := c.Message.Text(); text != "It is sunny." || c.Message.Role != "assistant" {
		t.Errorf("message = %s %q, want assistant %q", c.Message.Role, text, "It is sunny.")
	}
	if c.FinishReason != "tool_calls" {
		t.Errorf("finish_reason %q, want tool_calls", c.FinishReason)
	}
	if len(c.Message.ToolCalls) != 1 {
		t.Fatalf("tool calls = %+v, want 1", c.Message.ToolCalls)
	}
	tc := c.Message.ToolCalls[0]
	if !strings.HasPrefix(tc.ID, "call_") || !strings.HasSuffix(tc.ID, thoughtSignatureSep+"U0lH") || tc.Type != "function" ||
		tc.Function.Name != "get_weather" || tc.Function.Arguments != `{"city":"Paris","days":2}` {
		t.Errorf("tool call = %+v", tc)
	}
	u := cr.Usage
	if u == nil || u.PromptTokens != 12 || u.CompletionTokens != 35 || u.TotalTokens != 47 ||
		u.PromptTokensDetails == nil || u.PromptTokensDetails.CachedTokens != 4 ||
		u.CompletionTokensDetails == nil || u.CompletionTokensDetails.ReasoningTokens != 30 {
		t.Errorf("usage = %s", toJSON(t, u))
	}

	// The tool call id carries the signature back to Gemini.
	next := fmt.Sprintf(`{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"Weather?"},
		{"role":"assistant","content":null,"tool_calls":[{"id":%q,"type":"function","function":{"name":"get_weather","arguments":%q}}]},
		{"role":"tool","tool_call_id":%q,"content":"sunny"}]}`, tc.ID, tc.Function.Arguments, tc.ID)
	m := requestBody(t, next)
	want := `[{"parts":[{"text":"Weather?"}],"role":"user"},` +
		`{"parts":[{"functionCall":{"args":{"city":"Paris","days":2},"name":"get_weather"},"thoughtSignature":"U0lH"}],"role":"model"},` +
		`{"parts":[{"functionResponse":{"name":"get_weather","response":{"content":"sunny"}}}],"role":"user"}]`
	if got := toJSON(t, m["contents"]); got != want {
		t.Errorf("round trip contents = %s\nwant %s", got, want)
	}
}

func decodeChatReply(t *testing.T, reply string) (*oai.ChatResponse, adaptor.Usage, error) {
	t.Helper()
	resp := &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(reply)), ContentLength: -1}
	out, usage, err := New().DecodeResponse(&adaptor.Request{Mode: adaptor.ModeChat, Model: "gemini-x"}, resp)
	if err != nil {
		return nil, usage, err
	}
	var cr oai.ChatResponse
	if err := json.Unmarshal(out, &cr); err != nil {
		t.Fatalf("reply is not a chat completion: %v\n%s", err, out)
	}
	return &cr, usage, nil
}

func TestFinishReasons(t *testing.T) {
	t.Parallel()
	tests := []struct {
		gemini string
		call   bool
		want   string
	}{
		{"STOP", false, "stop"},
		{"STOP", true, "tool_calls"},
		{"MAX_TOKENS", false, "length"},
		{"MAX_TOKENS", true, "length"},
		{"SAFETY", false, "content_filter"},
		{"RECITATION", false, "content_filter"},
		{"BLOCKLIST", false, "content_filter"},
		{"PROHIBITED_CONTENT", false, "content_filter"},
		{"SPII", false, "content_filter"},
		{"IMAGE_SAFETY", false, "content_filter"},
		{"OTHER", false, "stop"},
		{"MALFORMED_FUNCTION_CALL", false, "stop"},
		{"LANGUAGE", false, "stop"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%v", tt.gemini, tt.call), func(t *testing.T) {
			t.Parallel()
			parts := `[{"text":"x"}]`
			if tt.call {
				parts = `[{"functionCall":{"name":"f","args":{}}}]`
			}
			cr, _, err := decodeChatReply(t, `{"candidates":[{"content":{"role":"model","parts":`+parts+`},"finishReason":"`+tt.gemini+`"}]}`)
			if err != nil {
				t.Fatal(err)
			}
			if got := cr.Choices[0].FinishReason; got != tt.want {
				t.Errorf("finish_reason = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestMultipleCandidatesAndNoUsage(t *testing.T) {
	t.Parallel()
	cr, usage, err := decodeChatReply(t, `{"candidates":[
		{"content":{"role":"model","parts":[{"text":"one"}]},"finishReason":"STOP"},
		{"content":{"role":"model"},"finishReason":"MAX_TOKENS","index":1}]}`)
	if err != nil {
		t.Fatal(err)
	}
	if usage.Reported || cr.Usage != nil {
		t.Errorf("usage reported (%+v, %v) though Gemini sent none", usage, cr.Usage)
	}
	if len(cr.Choices) != 2 || cr.Choices[1].Index != 1 || cr.Choices[1].FinishReason != "length" {
		t.Fatalf("choices = %s", toJSON(t, cr.Choices))
	}
	if string(cr.Choices[1].Message.Content) != `""` {
		t.Errorf("empty candidate content = %s, want \"\"", cr.Choices[1].Message.Content)
	}
	if !strings.HasPrefix(cr.ID, "chatcmpl-") || len(cr.ID) != len("chatcmpl-")+24 {
		t.Errorf("id %q, want chatcmpl- and a random part", cr.ID)
	}
}

// TestPromptBlocked: a refused prompt is an answer with finish_reason
// content_filter, not an error; the prompt tokens are still reported.
func TestPromptBlocked(t *testing.T) {
	t.Parallel()
	cr, usage, err := decodeChatReply(t, `{"promptFeedback":{"blockReason":"PROHIBITED_CONTENT"},"usageMetadata":{"promptTokenCount":9,"totalTokenCount":9}}`)
	if err != nil {
		t.Fatal(err)
	}
	if len(cr.Choices) != 1 || cr.Choices[0].FinishReason != "content_filter" {
		t.Fatalf("choices = %s", toJSON(t, cr.Choices))
	}
	msg := cr.Choices[0].Message
	if text, _ := msg.Text(); text != "" || msg.Refusal == nil || !strings.Contains(*msg.Refusal, "PROHIBITED_CONTENT") {
		t.Errorf("message = %s", toJSON(t, msg))
	}
	if usage != (adaptortest.Usage(9, 0)) {
		t.Errorf("usage = %+v", usage)
	}
}

func TestDecodeResponseFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		body       string
		wantStatus int
		wantClass  adaptor.ErrorClass
	}{
		{name: "not JSON", body: `<html>oops</html>`, wantStatus: 502, wantClass: adaptor.ClassRetry},
		{name: "no candidates", body: `{"usageMetadata":{"promptTokenCount":1}}`, wantStatus: 502, wantClass: adaptor.ClassRetry},
		{name: "error object", body: `{"error":{"code":503,"message":"overloaded","status":"UNAVAILABLE"}}`, wantStatus: 503, wantClass: adaptor.ClassRetry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := decodeChatReply(t, tt.body)
			var ue *adaptor.UpstreamError
			if !errors.As(err, &ue) {
				t.Fatalf("error %v, want *UpstreamError", err)
			}
			if ue.Status != tt.wantStatus || ue.Class != tt.wantClass {
				t.Errorf("status %d class %v, want %d %v", ue.Status, ue.Class, tt.wantStatus, tt.wantClass)
			}
		})
	}
}

func TestEmbeddings(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/models/text-embedding-004:batchEmbedContents" || r.URL.RawQuery != "" {
			t.Errorf("request %s", r.URL)
		}
		if r.Header.Get("x-goog-api-key") != testKey {
			t.Errorf("no key header")
		}
		var body batchEmbedRequest
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Errorf("decode: %v", err)
		}
		if len(body.Requests) != 2 || body.Requests[1].Model != "models/text-embedding-004" ||
			body.Requests[1].Content.Parts[0].Text != "b" || body.Requests[0].OutputDimensionality != 3 {
			t.Errorf("body = %+v", body)
		}
		io.WriteString(w, `{"embeddings":[{"values":[0.5,-1,0.25]},{"values":[1,2,3]}]}`)
	}))
	defer srv.Close()

	for _, format := range []string{"", "float", "base64"} {
		t.Run("format="+format, func(t *testing.T) {
			a := New()
			body := `{"model":"text-embedding-004","input":["a","b"],"dimensions":3,"encoding_format":"` + format + `"}`
			req := &adaptor.Request{Mode: adaptor.ModeEmbeddings, Model: "text-embedding-004", Body: []byte(body), PromptTokens: 2}
			hreq, err := a.NewRequest(context.Background(), testChannel(srv.URL, map[string]string{"api_version": "v1"}), req)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := srv.Client().Do(hreq)
			if err != nil {
				t.Fatal(err)
			}
			out, usage, err := a.DecodeResponse(req, resp)
			if err != nil {
				t.Fatal(err)
			}
			if usage.Reported {
				t.Errorf("usage reported: %+v", usage)
			}
			want := `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.5,-1,0.25]},{"object":"embedding","index":1,"embedding":[1,2,3]}],"model":"text-embedding-004","usage":{"prompt_tokens":2,"total_tokens":2}}`
			if format == "base64" {
				// little-endian float32: 0.5 = 0x3f000000, -1 = 0xbf800000, 0.25 = 0x3e800000 ...
				want = `{"object":"list","data":[{"object":"embedding","index":0,"embedding":"AAAAPwAAgL8AAIA+"},{"object":"embedding","index":1,"embedding":"AACAPwAAAEAAAEBA"}],"model":"text-embedding-004","usage":{"prompt_tokens":2,"total_tokens":2}}`
			}
			if string(out) != want {
				t.Errorf("reply\n%s\nwant\n%s", out, want)
			}
		})
	}
}

func TestEmbeddingsSingleString(t *testing.T) {
	t.Parallel()
	req := &adaptor.Request{Mode: adaptor.ModeEmbeddings, Model: "models/embedding-001", Body: []byte(`{"model":"x","input":"hello"}`)}
	hreq, err := New().NewRequest(context.Background(), testChannel("", nil), req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(hreq.Body)
	if want := `{"requests":[{"model":"models/embedding-001","content":{"parts":[{"text":"hello"}]}}]}`; string(got) != want {
		t.Errorf("body %s\nwant %s", got, want)
	}
	if want := "https://generativelanguage.googleapis.com/v1beta/models/embedding-001:batchEmbedContents"; hreq.URL.String() != want {
		t.Errorf("URL %s, want %s", hreq.URL, want)
	}
}
