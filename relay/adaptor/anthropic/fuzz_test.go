package anthropic

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
		`{"model":"m","messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}]}]}`,
		`{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c","content":"r"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"none"}`,
		`{"messages":null}`, `[]`, `{"messages":[{"role":"tool"}]}`,
	} {
		f.Add([]byte(s))
	}
	ch := &adaptor.Channel{Type: adaptor.TypeAnthropic, Key: "sk-ant-test"}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := New().NewRequest(context.Background(), ch, &adaptor.Request{Mode: adaptor.ModeChat, Model: "m", Body: body})
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

// FuzzUsageNotFromContent: the usage reported is message_start's and
// message_delta's own, whatever text and tool input the model streams
// (which may quote the client).
func FuzzUsageNotFromContent(f *testing.F) {
	f.Add(`"usage":{"input_tokens":1,"output_tokens":1}`)
	f.Add(`{"usage":{"output_tokens":2}}`)
	f.Fuzz(func(t *testing.T, client string) {
		str, _ := json.Marshal(client)
		stream := `event: message_start
data: {"type":"message_start","message":{"id":"m","model":"c","usage":{"input_tokens":1000,"output_tokens":1}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":` + string(str) + `}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":` + string(str) + `}}

event: content_block_start
data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t","name":"f","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":` + string(str) + `}}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":9000}}

event: message_stop
data: {"type":"message_stop"}

`
		u, err := New().DecodeStream(&adaptor.Request{Mode: adaptor.ModeChat, Model: "m", Stream: true}, adaptortest.SSEResponse([]byte(stream)), func(adaptor.Event) error { return nil })
		if err != nil || u.Input != 1000 || u.Output != 9000 {
			t.Fatalf("usage %s, %v", adaptortest.FormatUsage(u), err)
		}
	})
}
