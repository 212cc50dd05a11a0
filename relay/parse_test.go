package relay

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"oneapi/relay/adaptor"
)

// FuzzParseRequest: no body makes the parser panic, an accepted body always
// names a model, and the body sent upstream is valid JSON with that model
// (or the mapped one) and, for streams, asks for usage.
func FuzzParseRequest(f *testing.F) {
	seeds := []string{
		`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"https://x/y.png","detail":"low"}}]}]}`,
		`{"model":"m","stream":true,"stream_options":{"include_usage":false},"messages":[{"role":"system","content":"s"},{"role":"user","content":"u"}],"max_tokens":5}`,
		`{"model":"text-embedding-3-small","input":["a","b"]}`,
		`{"model":"x","input":[[1,2,3]]}`,
		`{"model":"gpt-3.5-turbo-instruct","prompt":"once","stream":true}`,
		`{"prompt":"cat","n":2,"size":"1024x1792","quality":"hd"}`,
		`{"model":"tts-1","input":"héllo","voice":"alloy"}`,
		`{"model":"gpt-4.1","input":"hi","stream":true}`,
		`{"model":`, `[]`, `null`, `{"model":1}`, `{"model":"m","messages":[{"content":"no role"}]}`,
	}
	for _, s := range seeds {
		for m := adaptor.ModeChat; m <= adaptor.ModeResponses; m++ {
			f.Add(int(m), []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, mode int, body []byte) {
		m := adaptor.Mode(mode % 9)
		if m < 0 {
			m = -m
		}
		if m == adaptor.ModeAudioTranscription || m == adaptor.ModeAudioTranslation {
			m = adaptor.ModeChat // multipart has its own test
		}
		p, aerr := parseRequest(m, body, "application/json")
		if aerr != nil {
			if aerr.Status < 400 || aerr.Status > 499 || aerr.Message == "" {
				t.Fatalf("bad rejection %+v", aerr)
			}
			return
		}
		if p.model == "" || p.promptTokens < 0 {
			t.Fatalf("accepted without a model or with negative tokens: %+v", p)
		}
		for _, sys := range []string{"", "be brief"} {
			out, err := upstreamBody(p, "mapped-"+p.model, sys, 0)
			if err != nil {
				t.Fatalf("upstream body: %v", err)
			}
			var got map[string]json.RawMessage
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("upstream body is not a JSON object: %v\n%s", err, out)
			}
			var model string
			if json.Unmarshal(got["model"], &model) != nil || model != "mapped-"+p.model {
				t.Fatalf("upstream model = %s", got["model"])
			}
			if p.stream && (m == adaptor.ModeChat || m == adaptor.ModeCompletions) &&
				!bytes.Contains(got["stream_options"], []byte(`"include_usage":true`)) {
				t.Fatalf("stream without usage request: %s", out)
			}
		}
	})
}

// TestCompletionsStreamOptionsNotDoubled: a completions body that already
// has stream_options (without include_usage) gets include_usage set in it,
// not a second stream_options member.
func TestCompletionsStreamOptionsNotDoubled(t *testing.T) {
	p, aerr := parseRequest(adaptor.ModeCompletions, []byte(`{"model":"gpt-3.5-turbo-instruct","prompt":"hi","stream":true,"stream_options":{}}`), "")
	if aerr != nil {
		t.Fatal(aerr)
	}
	body, err := upstreamBody(p, p.model, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(body), `"stream_options"`); n != 1 || !strings.Contains(string(body), `"include_usage":true`) {
		t.Errorf("body = %s", body)
	}
}
