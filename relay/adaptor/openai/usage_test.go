package openai

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/adaptortest"
)

func usage(f func(u *adaptor.Usage)) adaptor.Usage {
	u := adaptor.Usage{Reported: true}
	f(&u)
	return u
}

func TestParseUsage(t *testing.T) {
	tests := []struct {
		name string
		mode adaptor.Mode
		raw  string
		want adaptor.Usage
	}{
		{"chat", adaptor.ModeChat, `{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}`, adaptortest.Usage(3, 4)},
		{"chat details", adaptor.ModeChat, `{"prompt_tokens":100,"completion_tokens":50,"prompt_tokens_details":{"cached_tokens":80,"audio_tokens":10},"completion_tokens_details":{"reasoning_tokens":30,"audio_tokens":5}}`,
			usage(func(u *adaptor.Usage) {
				u.Input, u.CacheRead, u.AudioIn, u.Output, u.Reasoning, u.AudioOut = 100, 80, 10, 50, 30, 5
			})},
		{"responses", adaptor.ModeResponses, `{"input_tokens":7,"input_tokens_details":{"cached_tokens":2},"output_tokens":9,"output_tokens_details":{"reasoning_tokens":4},"total_tokens":16}`,
			usage(func(u *adaptor.Usage) { u.Input, u.CacheRead, u.Output, u.Reasoning = 7, 2, 9, 4 })},
		{"gpt-image-1", adaptor.ModeImages, `{"input_tokens":50,"input_tokens_details":{"text_tokens":10,"image_tokens":40},"output_tokens":4160,"total_tokens":4210}`,
			usage(func(u *adaptor.Usage) { u.Input, u.ImageIn, u.Output, u.ImageOut = 50, 40, 4160, 4160 })},
		{"transcription", adaptor.ModeAudioTranscription, `{"type":"tokens","input_tokens":14,"input_token_details":{"text_tokens":0,"audio_tokens":14},"output_tokens":45,"total_tokens":59}`,
			usage(func(u *adaptor.Usage) { u.Input, u.AudioIn, u.Output = 14, 14, 45 })},
		{"deepseek cache", adaptor.ModeChat, `{"prompt_tokens":10,"completion_tokens":1,"prompt_cache_hit_tokens":6,"prompt_cache_miss_tokens":4}`,
			usage(func(u *adaptor.Usage) { u.Input, u.CacheRead, u.Output = 10, 6, 1 })},
		{"total only", adaptor.ModeChat, `{"total_tokens":12}`, adaptortest.Usage(0, 12)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseUsage([]byte(tt.raw), tt.mode)
			if !ok {
				t.Fatal("not parsed")
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("usage (-want +got):\n%s", diff)
			}
		})
	}
	for _, raw := range []string{"", "null", `"x"`, `[1]`, `{"prompt_tokens":"many"}`} {
		if _, ok := parseUsage([]byte(raw), adaptor.ModeChat); ok {
			t.Errorf("parseUsage(%q) ok", raw)
		}
	}
}

// TestReplyUsageNotFromEchoedContent: a reply's usage is its own top-level
// member; the Responses API echoes the request's tool and text.format
// schemas (and metadata), which may hold a "usage" of the client's making.
func TestReplyUsageNotFromEchoedContent(t *testing.T) {
	bodies := map[string]string{
		"schema before usage": `{"object":"response","text":{"format":{"type":"json_schema","schema":{"properties":{"usage":{"input_tokens":1,"output_tokens":1}}}}},` +
			`"usage":{"input_tokens":1000,"output_tokens":9000},"tools":[{"type":"function","parameters":{"usage":{"input_tokens":1}}}],"metadata":{"usage":"{\"input_tokens\":1}"}}`,
		"schema after usage": `{"object":"response","usage":{"input_tokens":1000,"output_tokens":9000},"tools":[{"type":"function","parameters":{"properties":{"usage":{"input_tokens":1,"output_tokens":1}}}}]}`,
		"quoted in content":  `{"choices":[{"message":{"content":"\"usage\":{\"prompt_tokens\":1}"}}],"usage":{"prompt_tokens":1000,"completion_tokens":9000}}`,
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			mode := adaptor.ModeResponses
			if strings.Contains(body, "choices") {
				mode = adaptor.ModeChat
			}
			resp := &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(strings.NewReader(body)), ContentLength: -1}
			out, u, err := New().DecodeResponse(&adaptor.Request{Mode: mode}, resp)
			if err != nil || !bytes.Equal(out, []byte(body)) {
				t.Fatalf("DecodeResponse: %v", err)
			}
			if u.Input != 1000 || u.Output != 9000 || !u.Reported {
				t.Errorf("usage %s, want input=1000 output=9000", adaptortest.FormatUsage(u))
			}
		})
	}
}
