package openai

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/adaptortest"
)

// echo is the client's text put where upstreams echo the request: as a tool
// schema and text.format schema (JSON objects the client wrote), as
// metadata, and as content.
func echoed(s string) (raw json.RawMessage, str string) {
	b, _ := json.Marshal(s)
	var c bytes.Buffer
	if json.Compact(&c, []byte(s)) == nil { // as an upstream writes it: on one line
		raw = c.Bytes()
	} else {
		raw = b // not JSON: the client's schema is a string then
	}
	return raw, string(b)
}

// FuzzResponsesStreamUsageNotEchoed: whatever the client puts in the schemas
// and metadata the Responses API echoes in its events, the usage billed is
// the terminal event's response.usage.
func FuzzResponsesStreamUsageNotEchoed(f *testing.F) {
	f.Add(`{"usage":{"input_tokens":1,"output_tokens":1}}`, true)
	f.Add(`{"properties":{"usage":{"type":"object"}}}`, false)
	f.Add(`"\"usage\":{\"input_tokens\":2}"`, true)
	f.Fuzz(func(t *testing.T, client string, typeFirst bool) {
		raw, str := echoed(client)
		completed := fmt.Sprintf(`{"sequence_number":3,"response":{"tools":[{"type":"function","parameters":%s}],"metadata":{"k":%s},"usage":{"input_tokens":1000,"output_tokens":9000}},"type":"response.completed"}`, raw, str)
		if typeFirst {
			completed = fmt.Sprintf(`{"type":"response.completed","sequence_number":3,"response":{"text":{"format":{"schema":%s}},"usage":{"input_tokens":1000,"output_tokens":9000},"tools":[{"parameters":%s}]}}`, raw, raw)
		}
		stream := fmt.Sprintf("event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"tools\":[{\"parameters\":%s}],\"text\":{\"format\":{\"schema\":%s}},\"usage\":null}}\n\n"+
			"event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":%s}\n\n"+
			"event: response.completed\ndata: %s\n\n", raw, raw, str, completed)
		u, err := New().DecodeStream(&adaptor.Request{Mode: adaptor.ModeResponses, Stream: true}, adaptortest.SSEResponse([]byte(stream)), func(adaptor.Event) error { return nil })
		if err != nil {
			t.Fatalf("stream %q: %v", stream, err)
		}
		if u.Input != 1000 || u.Output != 9000 {
			t.Fatalf("usage %s from %q", adaptortest.FormatUsage(u), stream)
		}
	})
}

// FuzzChatUsageNotEchoed: a chat stream's and reply's usage is their own
// top-level member, whatever the content and tool arguments hold.
func FuzzChatUsageNotEchoed(f *testing.F) {
	f.Add(`"usage":{"prompt_tokens":1}`)
	f.Add(`}],"usage":{"prompt_tokens":1,"completion_tokens":1}}`)
	f.Fuzz(func(t *testing.T, client string) {
		_, str := echoed(client)
		stream := fmt.Sprintf("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":%s,\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":%s}}]}}],\"usage\":null}\n\n"+
			"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1000,\"completion_tokens\":9000}}\n\ndata: [DONE]\n\n", str, str)
		u, err := New().DecodeStream(&adaptor.Request{Mode: adaptor.ModeChat, Stream: true}, adaptortest.SSEResponse([]byte(stream)), func(adaptor.Event) error { return nil })
		if err != nil || u.Input != 1000 || u.Output != 9000 {
			t.Fatalf("stream usage %s, %v from %q", adaptortest.FormatUsage(u), err, stream)
		}
		reply := fmt.Sprintf(`{"choices":[{"message":{"content":%s}}],"usage":{"prompt_tokens":1000,"completion_tokens":9000},"system_fingerprint":%s}`, str, str)
		resp := &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader(reply)), ContentLength: -1}
		if _, u, err := New().DecodeResponse(&adaptor.Request{Mode: adaptor.ModeChat}, resp); err != nil || u.Input != 1000 || u.Output != 9000 {
			t.Fatalf("reply usage %s, %v from %q", adaptortest.FormatUsage(u), err, reply)
		}
	})
}
