package messages

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"oneapi/pricing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// golden compares got with testdata/name, or writes it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, got, "", "  "); err == nil {
		got = append(pretty.Bytes(), '\n')
	}
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n%s", name, got)
	}
}

// TestToChatGolden: a request with every convertible kind of block.
func TestToChatGolden(t *testing.T) {
	body, _ := os.ReadFile("testdata/request_tools.json")
	req, err := Parse(body, false)
	if err != nil {
		t.Fatal(err)
	}
	chat, err := ToChat(req)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(chat)
	golden(t, "request_tools.chat.json", out)
}

func TestFromChatGolden(t *testing.T) {
	reply := []byte(`{"id":"c1","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"Sure.","reasoning_content":"think","tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":30,"completion_tokens":9,"total_tokens":39}}`)
	out, err := FromChat(reply, "", "gpt-4o", pricing.Usage{Input: 30, CacheRead: 10, Output: 9})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "reply_tools.messages.json", out)
}

// TestStreamGolden: every event type a converted stream sends, in order.
func TestStreamGolden(t *testing.T) {
	var buf bytes.Buffer
	emit := func(name, data []byte) {
		buf.WriteString("event: " + string(name) + "\ndata: " + string(data) + "\n\n")
	}
	s := NewStream("msg_1", "gpt-4o", 12)
	for _, c := range []string{
		`{"choices":[{"index":0,"delta":{"role":"assistant","reasoning_content":"hm"}}]}`,
		`{"choices":[{"index":0,"delta":{"content":"Hi"}}]}`,
		`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","function":{"name":"f","arguments":"{\"a\""}}]}}]}`,
		`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":":1}"}}]},"finish_reason":"tool_calls"}]}`,
		`{"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":5}}`,
	} {
		s.Chunk([]byte(c), emit)
	}
	s.End(pricing.Usage{Input: 12, Output: 5}, emit)
	got := buf.String()
	want, _ := os.ReadFile("testdata/stream_tools.sse")
	if *update {
		_ = os.WriteFile("testdata/stream_tools.sse", []byte(got), 0o644)
		return
	}
	if got != string(want) {
		t.Errorf("stream differs:\n%s", got)
	}
	var fail bytes.Buffer
	s.Fail("overloaded_error", "busy", "rid1", func(name, data []byte) { fail.WriteString(string(name) + " " + string(data)) })
	if fail.String() != `error {"error":{"message":"busy","type":"overloaded_error"},"request_id":"rid1","type":"error"}` {
		t.Errorf("error event %s", fail.String())
	}
}

func TestParseRefuses(t *testing.T) {
	for _, body := range []string{
		`{`, `{"model":"m","max_tokens":10,"messages":[]}`, `{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
		`{"max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`, `{"model":"m","max_tokens":10,"messages":[{"role":"system","content":"hi"}]}`,
		`{"model":"m","max_tokens":10,"messages":[{"role":"user","content":5}]}`,
	} {
		if _, err := Parse([]byte(body), false); err == nil {
			t.Errorf("%s accepted", body)
		} else if _, ok := err.(*RequestError); !ok || strings.TrimSpace(err.Error()) == "" {
			t.Errorf("%s: %v", body, err)
		}
	}
}

// FuzzParse: no body makes the parser or the conversion panic, and what
// is accepted converts to a chat request that encodes.
func FuzzParse(f *testing.F) {
	seed, _ := os.ReadFile("testdata/request_tools.json")
	f.Add(seed)
	f.Add([]byte(`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"hi"}]}`))
	f.Add([]byte(`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"tool_result","content":null}]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := Parse(body, false)
		if err != nil {
			return
		}
		chat, err := ToChat(req)
		if err != nil {
			return
		}
		if _, err := json.Marshal(chat); err != nil {
			t.Fatalf("accepted request does not encode: %v", err)
		}
	})
}
