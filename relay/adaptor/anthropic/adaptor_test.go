package anthropic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
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

// fakeKey looks like a real Anthropic key, so redaction is tested for real.
const fakeKey = "sk-ant-api03-FAKEFAKEFAKEFAKEFAKEFAKE"

// testAdaptor has a fixed clock, so chunks and replies are reproducible.
func testAdaptor() *Adaptor {
	return &Adaptor{now: func() time.Time { return time.Unix(1732000000, 0) }}
}

func TestRegistered(t *testing.T) {
	t.Parallel()
	if _, ok := adaptor.For(adaptor.TypeAnthropic).(*Adaptor); !ok {
		t.Errorf("For(TypeAnthropic) = %T, want *anthropic.Adaptor", adaptor.For(adaptor.TypeAnthropic))
	}
}

func TestRequestURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		base    string
		want    string
		wantErr bool
	}{
		{base: "", want: "https://api.anthropic.com/v1/messages"},
		{base: "https://proxy.example.com", want: "https://proxy.example.com/v1/messages"},
		{base: "https://proxy.example.com/", want: "https://proxy.example.com/v1/messages"},
		{base: "https://proxy.example.com/v1", want: "https://proxy.example.com/v1/messages"},
		{base: "https://proxy.example.com/v1/", want: "https://proxy.example.com/v1/messages"},
		{base: " https://proxy.example.com/anthropic ", want: "https://proxy.example.com/anthropic/v1/messages"},
		{base: "http://10.0.0.5:8080/claude/v1", want: "http://10.0.0.5:8080/claude/v1/messages"},
		{base: "api.example.com", wantErr: true},
		{base: "file:///etc/passwd", wantErr: true},
	}
	for _, tt := range tests {
		got, err := RequestURL(&adaptor.Channel{Type: adaptor.TypeAnthropic, BaseURL: tt.base})
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("RequestURL(%q) = %q, %v; want %q (error %v)", tt.base, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestNewRequestHeaders(t *testing.T) {
	t.Parallel()
	for _, stream := range []bool{false, true} {
		ch := &adaptor.Channel{Type: adaptor.TypeAnthropic, Key: fakeKey, BaseURL: "https://proxy.example.com/v1/"}
		body := `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`
		r, err := New().NewRequest(context.Background(), ch, &adaptor.Request{Mode: adaptor.ModeChat, Model: "claude-opus-4-1", Body: []byte(body), Stream: stream})
		if err != nil {
			t.Fatal(err)
		}
		if r.Method != http.MethodPost || r.URL.String() != "https://proxy.example.com/v1/messages" {
			t.Errorf("request = %s %s", r.Method, r.URL)
		}
		want := map[string]string{
			"X-Api-Key":         fakeKey,
			"Anthropic-Version": "2023-06-01",
			"Content-Type":      "application/json",
			"Authorization":     "", // the key goes only in x-api-key
		}
		if stream {
			want["Accept"] = "text/event-stream"
		}
		for k, v := range want {
			if got := r.Header.Get(k); got != v {
				t.Errorf("stream=%v: header %s = %q, want %q", stream, k, got, v)
			}
		}
		var sent messagesRequest
		if err := json.NewDecoder(r.Body).Decode(&sent); err != nil {
			t.Fatal(err)
		}
		if sent.Model != "claude-opus-4-1" || sent.Stream != stream {
			t.Errorf("stream=%v: sent model %q stream %v; want the mapped model and stream %v", stream, sent.Model, sent.Stream, stream)
		}
	}
}

// TestNewRequestGolden converts the OpenAI bodies in testdata/request/*.json
// and compares what would be sent with the .golden files.
func TestNewRequestGolden(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"system", "merge", "images", "tools", "minimal"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			body, err := os.ReadFile(filepath.Join("testdata", "request", name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			var stream struct {
				Stream bool `json:"stream"`
			}
			_ = json.Unmarshal(body, &stream)
			got := sentBody(t, &adaptor.Request{Mode: adaptor.ModeChat, Model: "claude-sonnet-4-5-20250929", Body: body, Stream: stream.Stream})
			adaptortest.CompareGolden(t, filepath.Join("testdata", "request", name+".golden"), got)
		})
	}
}

// sentBody builds the upstream request and returns its body, indented.
func sentBody(t *testing.T, req *adaptor.Request) []byte {
	t.Helper()
	ch := &adaptor.Channel{Type: adaptor.TypeAnthropic, Key: fakeKey}
	r, err := New().NewRequest(context.Background(), ch, req)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, raw, "", "  "); err != nil {
		t.Fatal(err)
	}
	out.WriteByte('\n')
	return out.Bytes()
}

// convert runs a chat body through NewRequest and decodes what would be sent.
func convert(t *testing.T, body string) messagesRequest {
	t.Helper()
	var mr messagesRequest
	if err := json.Unmarshal(sentBody(t, &adaptor.Request{Mode: adaptor.ModeChat, Model: "claude-x", Body: []byte(body)}), &mr); err != nil {
		t.Fatal(err)
	}
	return mr
}

func TestMergeConsecutiveRoles(t *testing.T) {
	t.Parallel()
	mr := convert(t, `{"model":"m","messages":[
		{"role":"user","content":"a"},{"role":"user","content":"b"},
		{"role":"assistant","content":"c"},{"role":"assistant","content":"d"},
		{"role":"tool","tool_call_id":"t1","content":"e"},{"role":"user","content":"f"}]}`)
	var roles, texts []string
	for _, m := range mr.Messages {
		roles = append(roles, m.Role)
		var ts []string
		for _, b := range m.Content {
			switch b.Type {
			case "text":
				ts = append(ts, b.Text)
			case "tool_result":
				ts = append(ts, "result:"+b.ToolUseID+":"+b.Content[0].Text)
			}
		}
		texts = append(texts, strings.Join(ts, "+"))
	}
	if got, want := strings.Join(roles, ","), "user,assistant,user"; got != want {
		t.Errorf("roles = %s, want %s", got, want)
	}
	if got, want := strings.Join(texts, " | "), "a+b | c+d | result:t1:e+f"; got != want {
		t.Errorf("contents = %s, want %s", got, want)
	}
}

func TestSystemMessages(t *testing.T) {
	t.Parallel()
	mr := convert(t, `{"model":"m","messages":[
		{"role":"system","content":"one"},{"role":"user","content":"hi"},
		{"role":"developer","content":[{"type":"text","text":"two"}]},{"role":"system","content":""}]}`)
	if mr.System != "one\n\ntwo" {
		t.Errorf("system = %q, want %q", mr.System, "one\n\ntwo")
	}
	if len(mr.Messages) != 1 || mr.Messages[0].Role != "user" {
		t.Errorf("messages = %+v, want only the user turn", mr.Messages)
	}
	if mr.MaxTokens != defaultMaxTokens {
		t.Errorf("max_tokens = %d, want the default %d", mr.MaxTokens, defaultMaxTokens)
	}
}

func TestImages(t *testing.T) {
	t.Parallel()
	mr := convert(t, `{"model":"m","messages":[{"role":"user","content":[
		{"type":"image_url","image_url":{"url":"data:image/jpeg;base64,/9j/4AAQ"}},
		{"type":"image_url","image_url":{"url":"http://example.com/a.png"}}]}]}`)
	blocks := mr.Messages[0].Content
	if len(blocks) != 2 {
		t.Fatalf("blocks = %+v", blocks)
	}
	if s := blocks[0].Source; blocks[0].Type != "image" || s == nil || *s != (imageSource{Type: "base64", MediaType: "image/jpeg", Data: "/9j/4AAQ"}) {
		t.Errorf("base64 image = %+v %+v", blocks[0], s)
	}
	if s := blocks[1].Source; blocks[1].Type != "image" || s == nil || *s != (imageSource{Type: "url", URL: "http://example.com/a.png"}) {
		t.Errorf("url image = %+v %+v", blocks[1], s)
	}
}

func TestToolChoice(t *testing.T) {
	t.Parallel()
	const tools = `"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{}}}}]`
	tests := []struct {
		choice    string // the tool_choice JSON, "" for none sent
		parallel  string // parallel_tool_calls JSON, "" for none sent
		wantTools bool
		want      *toolChoice
	}{
		{choice: "", wantTools: true},
		{choice: `"auto"`, wantTools: true, want: &toolChoice{Type: "auto"}},
		{choice: `"required"`, wantTools: true, want: &toolChoice{Type: "any"}},
		{choice: `"none"`, wantTools: true, want: &toolChoice{Type: "none"}},
		{choice: `"none"`, parallel: "false", wantTools: true, want: &toolChoice{Type: "none"}},
		{choice: `{"type":"function","function":{"name":"f"}}`, wantTools: true, want: &toolChoice{Type: "tool", Name: "f"}},
		{choice: `"required"`, parallel: "false", wantTools: true, want: &toolChoice{Type: "any", DisableParallelToolUse: true}},
		{choice: "", parallel: "false", wantTools: true, want: &toolChoice{Type: "auto", DisableParallelToolUse: true}},
		{choice: `"auto"`, parallel: "true", wantTools: true, want: &toolChoice{Type: "auto"}},
	}
	for _, tt := range tests {
		body := `{"model":"m","messages":[{"role":"user","content":"hi"}],` + tools
		if tt.choice != "" {
			body += `,"tool_choice":` + tt.choice
		}
		if tt.parallel != "" {
			body += `,"parallel_tool_calls":` + tt.parallel
		}
		mr := convert(t, body+"}")
		if got := len(mr.Tools) == 1; got != tt.wantTools {
			t.Errorf("tool_choice %s: tools sent = %v, want %v", tt.choice, got, tt.wantTools)
		}
		if (mr.ToolChoice == nil) != (tt.want == nil) || (tt.want != nil && *mr.ToolChoice != *tt.want) {
			t.Errorf("tool_choice %s parallel %s: sent %+v, want %+v", tt.choice, tt.parallel, mr.ToolChoice, tt.want)
		}
	}
}

// TestNewRequestClientErrors: what cannot be converted is the client's
// fault (400, ClassClient), so the relay does not try other channels.
func TestNewRequestClientErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want string // in the message
	}{
		{"malformed JSON", `{"model":"m","messages":[`, "invalid chat request"},
		{"content of the wrong type", `{"model":"m","messages":[{"role":"user","content":42}]}`, "messages[0]"},
		{"tool arguments not JSON", `{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"t","type":"function","function":{"name":"f","arguments":"{city: Paris"}}]}]}`, "messages[0]: tool_calls[0]: function arguments must be a JSON object"},
		{"tool arguments not an object", `{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"t","type":"function","function":{"name":"f","arguments":"[1]"}}]}]}`, "JSON object"},
		{"audio part", `{"model":"m","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"x","format":"wav"}}]}]}`, `"input_audio" is not supported`},
		{"image URL scheme", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"file:///etc/passwd"}}]}]}`, "http(s) URL"},
		{"data URL not base64", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png,abc"}}]}]}`, "base64"},
		{"unknown role", `{"model":"m","messages":[{"role":"function","name":"f","content":"x"}]}`, `role "function"`},
		{"tool without id", `{"model":"m","messages":[{"role":"tool","content":"x"}]}`, "tool_call_id"},
		{"unknown tool_choice", `{"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":"sometimes"}`, "tool_choice"},
		{"non-function tool", `{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"custom"}]}`, `tool type "custom"`},
		{"legacy functions", `{"model":"m","messages":[{"role":"user","content":"x"}],"functions":[{"name":"f"}]}`, "functions"},
		{"bad stop", `{"model":"m","messages":[{"role":"user","content":"x"}],"stop":5}`, "stop"},
	}
	for _, tt := range tests {
		_, err := New().NewRequest(context.Background(), &adaptor.Channel{Type: adaptor.TypeAnthropic, Key: fakeKey},
			&adaptor.Request{Mode: adaptor.ModeChat, Model: "claude-x", Body: []byte(tt.body)})
		var ue *adaptor.UpstreamError
		if !errors.As(err, &ue) {
			t.Errorf("%s: err = %v, want an *UpstreamError", tt.name, err)
			continue
		}
		if ue.Status != http.StatusBadRequest || ue.Class != adaptor.ClassClient || !strings.Contains(ue.Message, tt.want) {
			t.Errorf("%s: got status %d class %v message %q; want 400, client, containing %q", tt.name, ue.Status, ue.Class, ue.Message, tt.want)
		}
	}
}

func TestNewRequestOtherModes(t *testing.T) {
	t.Parallel()
	for _, mode := range []adaptor.Mode{adaptor.ModeEmbeddings, adaptor.ModeCompletions, adaptor.ModeResponses, adaptor.ModeImages} {
		_, err := New().NewRequest(context.Background(), &adaptor.Channel{Type: adaptor.TypeAnthropic, Key: fakeKey},
			&adaptor.Request{Mode: mode, Model: "claude-x", Body: []byte(`{}`)})
		if err == nil || !strings.Contains(err.Error(), "not supported by Anthropic channels") {
			t.Errorf("mode %s: err = %v, want not supported", mode, err)
		}
		// Not the client's fault: another channel may serve the mode.
		var ue *adaptor.UpstreamError
		if errors.As(err, &ue) && ue.Class == adaptor.ClassClient {
			t.Errorf("mode %s: class client, want a plain error", mode)
		}
	}
}
