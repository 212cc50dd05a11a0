package oai

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMessageParts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		content    string
		wantParts  []ContentPart
		wantText   string
		wantImages []ImageURL
		wantErr    bool
	}{
		{name: "absent"},
		{name: "null", content: `null`},
		{name: "string", content: `"hello"`, wantParts: []ContentPart{{Type: "text", Text: "hello"}}, wantText: "hello"},
		{
			name:    "parts",
			content: `[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"https://example.com/x.png","detail":"high"}},{"type":"text","text":"b"},{"type":"input_audio","input_audio":{"data":"AAAA","format":"wav"}}]`,
			wantParts: []ContentPart{
				{Type: "text", Text: "a"},
				{Type: "image_url", ImageURL: &ImageURL{URL: "https://example.com/x.png", Detail: "high"}},
				{Type: "text", Text: "b"},
				{Type: "input_audio", InputAudio: json.RawMessage(`{"data":"AAAA","format":"wav"}`)},
			},
			wantText:   "a\nb",
			wantImages: []ImageURL{{URL: "https://example.com/x.png", Detail: "high"}},
		},
		{name: "number", content: `42`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := Message{Role: "user", Content: json.RawMessage(tt.content)}
			parts, err := m.Parts()
			if (err != nil) != tt.wantErr {
				t.Fatalf("Parts() error = %v, wantErr %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if diff := cmp.Diff(tt.wantParts, parts); diff != "" {
				t.Errorf("Parts() (-want +got):\n%s", diff)
			}
			text, err := m.Text()
			if err != nil || text != tt.wantText {
				t.Errorf("Text() = %q, %v; want %q", text, err, tt.wantText)
			}
			imgs, err := m.Images()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantImages, imgs); diff != "" {
				t.Errorf("Images() (-want +got):\n%s", diff)
			}
		})
	}
}

// TestChatRequestRoundTrip checks that decoding and encoding a request keeps
// what the client sent and invents nothing: zero values that were sent stay,
// absent fields stay absent.
func TestChatRequestRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
	}{
		{"minimal", `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`},
		{"explicit zeros", `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"max_tokens":0,"temperature":0,"top_p":0,"n":1,"presence_penalty":0,"seed":0,"logprobs":false,"parallel_tool_calls":false,"store":false}`},
		{"stream options", `{"model":"gpt-4o","messages":[],"stream":true,"stream_options":{"include_usage":true}}`},
		{"tools", `{"model":"gpt-4o","messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","content":"42","tool_call_id":"call_1"}],"tools":[{"type":"function","function":{"name":"f","description":"d","parameters":{"type":"object","properties":{}},"strict":true}}],"tool_choice":{"type":"function","function":{"name":"f"}}}`},
		{"stop and format", `{"model":"gpt-4o","messages":[],"stop":["a","b"],"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{}}},"max_completion_tokens":100,"reasoning_effort":"low","user":"u1"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var r ChatRequest
			if err := json.Unmarshal([]byte(tt.in), &r); err != nil {
				t.Fatal(err)
			}
			out, err := json.Marshal(&r)
			if err != nil {
				t.Fatal(err)
			}
			var want, got any
			json.Unmarshal([]byte(tt.in), &want)
			json.Unmarshal(out, &got)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("re-encoded request differs (-sent +re-encoded):\n%s", diff)
			}
		})
	}
}

func TestChatRequestHelpers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		in       string
		wantMax  int
		wantStop []string
	}{
		{name: "none", in: `{}`},
		{name: "max_tokens", in: `{"max_tokens":10,"stop":"x"}`, wantMax: 10, wantStop: []string{"x"}},
		{name: "max_completion_tokens wins", in: `{"max_tokens":10,"max_completion_tokens":20,"stop":["x","y"]}`, wantMax: 20, wantStop: []string{"x", "y"}},
		{name: "null stop", in: `{"stop":null}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var r ChatRequest
			if err := json.Unmarshal([]byte(tt.in), &r); err != nil {
				t.Fatal(err)
			}
			if got := r.MaxOutputTokens(); got != tt.wantMax {
				t.Errorf("MaxOutputTokens() = %d, want %d", got, tt.wantMax)
			}
			stop, err := r.StopSequences()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantStop, stop); diff != "" {
				t.Errorf("StopSequences() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestErrorCode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		in       string
		wantCode Code
		out      string
	}{
		{"string", `{"message":"m","type":"t","param":null,"code":"invalid_api_key"}`, "invalid_api_key", `{"message":"m","type":"t","param":null,"code":"invalid_api_key"}`},
		{"null", `{"message":"m","type":"t","param":null,"code":null}`, "", `{"message":"m","type":"t","param":null,"code":null}`},
		{"number", `{"message":"m","type":"t","code":1002}`, "1002", `{"message":"m","type":"t","param":null,"code":"1002"}`},
		{"param", `{"message":"m","type":"t","param":"messages","code":null}`, "", `{"message":"m","type":"t","param":"messages","code":null}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var e Error
			if err := json.Unmarshal([]byte(tt.in), &e); err != nil {
				t.Fatal(err)
			}
			if e.Code != tt.wantCode {
				t.Errorf("Code = %q, want %q", e.Code, tt.wantCode)
			}
			out, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tt.out {
				t.Errorf("Marshal = %s, want %s", out, tt.out)
			}
		})
	}
}

func TestParseInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		input     string
		wantTexts []string
		wantIDs   int
		wantErr   bool
	}{
		{name: "string", input: `"hello"`, wantTexts: []string{"hello"}},
		{name: "strings", input: `["a","b"]`, wantTexts: []string{"a", "b"}},
		{name: "token ids", input: `[1,2,3]`, wantIDs: 3},
		{name: "token id arrays", input: `[[1,2],[3]]`, wantIDs: 3},
		{name: "absent"},
		{name: "object", input: `{}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := EmbeddingRequest{Input: json.RawMessage(tt.input)}
			texts, ids, err := r.ParseInput()
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.wantTexts, texts); diff != "" {
				t.Errorf("texts (-want +got):\n%s", diff)
			}
			if ids != tt.wantIDs {
				t.Errorf("token ids = %d, want %d", ids, tt.wantIDs)
			}
		})
	}
}
