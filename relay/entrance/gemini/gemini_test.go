package gemini

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

// TestToChatGolden: a request with every convertible kind of part: system
// instruction, text, inline image, thoughts, function calls and their
// responses (matched by name, in any order), declarations in both schema
// forms, toolConfig, generationConfig with a response schema.
func TestToChatGolden(t *testing.T) {
	body, _ := os.ReadFile("testdata/request_tools.json")
	req, err := Parse(body)
	if err != nil {
		t.Fatal(err)
	}
	chat, err := ToChat(req, "gpt-4o", false)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(chat)
	golden(t, "request_tools.chat.json", out)
}

func TestFromChatGolden(t *testing.T) {
	reply := []byte(`{"id":"c1","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"Sure.","reasoning_content":"think","tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":30,"completion_tokens":9,"total_tokens":39}}`)
	out, err := FromChat(reply, "gpt-4o", pricing.Usage{Input: 30, CacheRead: 10, Output: 9, Reasoning: 4})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "reply_tools.gemini.json", out)
}

// TestStreamGolden: the items a converted stream sends: thoughts and text
// as they come, the function call whole at the end with the finishReason
// and the usage billed.
func TestStreamGolden(t *testing.T) {
	var items []json.RawMessage
	emit := func(data []byte) { items = append(items, append([]byte(nil), data...)) }
	s := NewStream("r1", "gpt-4o")
	for _, c := range []string{
		`{"choices":[{"index":0,"delta":{"role":"assistant","reasoning_content":"hm"}}]}`,
		`{"choices":[{"index":0,"delta":{"content":"Hi"}}]}`,
		`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","function":{"name":"f","arguments":"{\"a\""}}]}}]}`,
		`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":":1}"}}]},"finish_reason":"tool_calls"}]}`,
		`{"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":5}}`,
		`not json`,
	} {
		s.Chunk([]byte(c), emit)
	}
	s.End(pricing.Usage{Input: 12, Output: 5}, emit)
	out, _ := json.Marshal(items)
	golden(t, "stream_tools.gemini.json", out)
}

func TestEmbeddingsConversion(t *testing.T) {
	body, err := EmbeddingsBody([]byte(`{"requests":[{"model":"models/text-embedding-004","content":{"parts":[{"text":"a"},{"text":"b"}]}},{"content":{"parts":[{"text":"c"}]},"outputDimensionality":8}]}`), "text-embedding-004", true)
	if err != nil || string(body) != `{"dimensions":8,"input":["a\nb","c"],"model":"text-embedding-004"}` {
		t.Errorf("batch = %s %v", body, err)
	}
	for _, bad := range []string{`{"requests":[]}`, `{"requests":[{"model":"models/other","content":{"parts":[{"text":"a"}]}}]}`, `{"requests":[{"content":{"parts":[]}}]}`, `[`} {
		if _, err := EmbeddingsBody([]byte(bad), "text-embedding-004", true); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	reply := []byte(`{"object":"list","data":[{"index":1,"embedding":[0.3]},{"index":0,"embedding":[0.1,0.2]}]}`)
	out, err := FromEmbeddings(reply, true)
	if err != nil || string(out) != `{"embeddings":[{"values":[0.1,0.2]},{"values":[0.3]}]}` {
		t.Errorf("batch reply = %s %v", out, err)
	}
	if _, err := FromEmbeddings(reply, false); err == nil {
		t.Error("two embeddings for one embedContent accepted")
	}
	out, _ = FromEmbeddings([]byte(`{"data":[{"index":0,"embedding":[1]}]}`), false)
	if string(out) != `{"embedding":{"values":[1]}}` {
		t.Errorf("single reply = %s", out)
	}
}

func TestParseRefuses(t *testing.T) {
	for _, body := range []string{
		`{`, `{"contents":[]}`, `{"contents":[{"role":"system","parts":[{"text":"x"}]}]}`,
		`{"contents":[{"role":"user","parts":[]}]}`, `{"contents":"hi"}`,
	} {
		if _, err := Parse([]byte(body)); err == nil {
			t.Errorf("%s accepted", body)
		} else if _, ok := err.(*RequestError); !ok || strings.TrimSpace(err.Error()) == "" {
			t.Errorf("%s: %v", body, err)
		}
	}
	// Convertible only for Gemini channels: refused, with a reason.
	for _, body := range []string{
		`{"contents":[{"parts":[{"inlineData":{"mimeType":"audio/wav","data":"AAAA"}}]}]}`,
		`{"contents":[{"parts":[{"text":"x"}]}],"generationConfig":{"candidateCount":2}}`,
		`{"contents":[{"parts":[{"text":"x"}]}],"generationConfig":{"responseMimeType":"text/x.enum"}}`,
		`{"contents":[{"parts":[{"functionCall":{"name":"f"}}]}]}`,
	} {
		req, err := Parse([]byte(body))
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		if _, err := ToChat(req, "m", false); err == nil {
			t.Errorf("%s converted", body)
		}
	}
}

// FuzzParse: no body makes the parser or the conversion panic, and what
// is accepted converts to a chat request that encodes.
func FuzzParse(f *testing.F) {
	seed, _ := os.ReadFile("testdata/request_tools.json")
	f.Add(seed)
	f.Add([]byte(`{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`))
	f.Add([]byte(`{"contents":[{"parts":[{"functionResponse":{"name":"f","response":null}}]}],"tools":[{"functionDeclarations":[{"name":"f","parameters":[1]}]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := Parse(body)
		if err != nil {
			return
		}
		chat, err := ToChat(req, "m", true)
		if err != nil {
			return
		}
		if _, err := json.Marshal(chat); err != nil {
			t.Fatalf("accepted request does not encode: %v", err)
		}
	})
}
