package gemini

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/adaptortest"
)

// FuzzNewRequest: no request body, however malformed, panics the
// conversion; it converts or is refused with an error.
func FuzzNewRequest(f *testing.F) {
	for _, s := range []string{
		`{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"m","messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}]}],"response_format":{"type":"json_schema","json_schema":{"schema":{"type":"object"}}}}`,
		`{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c","content":"r"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"function","function":{"name":"f"}}}`,
		`{"messages":null}`, `[]`, `{"messages":[{"role":"tool"}]}`,
	} {
		f.Add([]byte(s), false)
	}
	f.Add([]byte(`{"model":"e","input":["a","b"],"dimensions":8}`), true)
	ch := &adaptor.Channel{Type: adaptor.TypeGemini, Key: "AIzaTEST"}
	f.Fuzz(func(t *testing.T, body []byte, embeddings bool) {
		mode := adaptor.ModeChat
		if embeddings {
			mode = adaptor.ModeEmbeddings
		}
		r, err := New().NewRequest(context.Background(), ch, &adaptor.Request{Mode: mode, Model: "m", Body: body})
		if (r == nil) == (err == nil) {
			t.Fatalf("request %v with error %v", r, err)
		}
	})
}

// FuzzDecodeStream: whatever an upstream streams, the conversion does not
// panic, and each payload it sends is JSON.
func FuzzDecodeStream(f *testing.F) {
	for _, name := range []string{"text", "truncated", "error_event"} {
		if b, err := os.ReadFile(filepath.Join("testdata", "stream", name+".sse")); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		_, _ = New().DecodeStream(&adaptor.Request{Mode: adaptor.ModeChat, Model: "m", Stream: true}, adaptortest.SSEResponse(body), func(ev adaptor.Event) error {
			data := ev.Data
			if !json.Valid(data) {
				t.Fatalf("sent %q", data)
			}
			return nil
		})
	})
}

// FuzzUsageNotFromContent: the usage reported is the last usageMetadata's,
// whatever the candidates' text and function arguments hold.
func FuzzUsageNotFromContent(f *testing.F) {
	f.Add(`"usageMetadata":{"promptTokenCount":1}`)
	f.Add(`{"usageMetadata":{"candidatesTokenCount":2}}`)
	f.Fuzz(func(t *testing.T, client string) {
		str, _ := json.Marshal(client)
		args := `{"q":` + string(str) + `}`
		stream := `data: {"candidates":[{"content":{"role":"model","parts":[{"text":` + string(str) + `}]},"index":0}]}

data: {"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"f","args":` + args + `}}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":1000,"candidatesTokenCount":9000,"totalTokenCount":10000}}

`
		u, err := New().DecodeStream(&adaptor.Request{Mode: adaptor.ModeChat, Model: "m", Stream: true}, adaptortest.SSEResponse([]byte(stream)), func(adaptor.Event) error { return nil })
		if err != nil || u.Input != 1000 || u.Output != 9000 {
			t.Fatalf("usage %s, %v", adaptortest.FormatUsage(u), err)
		}
	})
}
