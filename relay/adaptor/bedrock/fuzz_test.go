package bedrock

import (
	"context"
	"encoding/json"
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
		`{"model":"m","messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}},{"type":"file","file":{"file_data":"data:application/pdf;base64,AA=="}}]}]}`,
		`{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c","content":"r"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"none"}`,
		`{"messages":null}`, `[]`, `{"messages":[{"role":"tool"}]}`, `{"response_format":{"type":"json_schema","json_schema":{"schema":1}}}`,
	} {
		f.Add([]byte(s))
	}
	ch := &adaptor.Channel{Type: adaptor.TypeAwsClaude, Key: fakeKey}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, mode := range []adaptor.Mode{adaptor.ModeChat, adaptor.ModeEmbeddings} {
			r, err := testAdaptor().NewRequest(context.Background(), ch, &adaptor.Request{Mode: mode, Model: "cohere.embed-v4:0", Body: body})
			if (r == nil) == (err == nil) {
				t.Fatalf("request %v with error %v", r, err)
			}
		}
	})
}

// FuzzDecodeStream: whatever bytes an upstream streams, the event-stream
// decoding does not panic, each payload sent is JSON, and any usage comes
// from a metadata event.
func FuzzDecodeStream(f *testing.F) {
	for _, name := range []string{"text", "tool_use", "exception_throttling", "no_metadata"} {
		f.Add(adaptortest.EventStreamBody(adaptortest.LoadFrames(f, filepath.Join("testdata", "stream", name+".jsonl"))))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		_, _ = testAdaptor().DecodeStream(&adaptor.Request{Mode: adaptor.ModeChat, Model: "m", Stream: true}, streamResponse(body), func(ev adaptor.Event) error {
			if !json.Valid(ev.Data) {
				t.Fatalf("sent %q", ev.Data)
			}
			return nil
		})
	})
}

// FuzzUsageNotFromContent: the usage reported is the metadata event's,
// whatever text and tool input the model streams (which may quote the
// client's own usage-shaped text).
func FuzzUsageNotFromContent(f *testing.F) {
	f.Add(`"usage":{"inputTokens":1,"outputTokens":1}`)
	f.Add(`{"usage":{"outputTokens":2}}`)
	f.Fuzz(func(t *testing.T, client string) {
		str, _ := json.Marshal(client)
		frames := []adaptortest.Frame{
			{EventType: "messageStart", Payload: []byte(`{"role":"assistant"}`)},
			{EventType: "contentBlockDelta", Payload: []byte(`{"contentBlockIndex":0,"delta":{"text":` + string(str) + `}}`)},
			{EventType: "contentBlockStart", Payload: []byte(`{"contentBlockIndex":1,"start":{"toolUse":{"toolUseId":"t","name":"f"}}}`)},
			{EventType: "contentBlockDelta", Payload: []byte(`{"contentBlockIndex":1,"delta":{"toolUse":{"input":` + string(str) + `}}}`)},
			{EventType: "messageStop", Payload: []byte(`{"stopReason":"end_turn"}`)},
			{EventType: "metadata", Payload: []byte(`{"usage":{"inputTokens":1000,"outputTokens":9000,"totalTokens":10000}}`)},
		}
		u, err := testAdaptor().DecodeStream(&adaptor.Request{Mode: adaptor.ModeChat, Model: "m", Stream: true},
			streamResponse(adaptortest.EventStreamBody(frames)), func(adaptor.Event) error { return nil })
		if err != nil || u.Input != 1000 || u.Output != 9000 {
			t.Fatalf("usage %s, %v", adaptortest.FormatUsage(u), err)
		}
	})
}
