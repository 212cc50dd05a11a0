package anthropic

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/adaptortest"
	"oneapi/relay/adaptor/sse"
)

// TestDecodeStreamGolden replays recorded Anthropic streams
// (testdata/stream/*.sse) and compares what reaches send, the usage and the
// error with testdata/stream/*.golden.
func TestDecodeStreamGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		wantUsage     adaptor.Usage
		wantTruncated bool
	}{
		// 12 input + 100 cache writes + 2000 cache reads.
		{name: "text", wantUsage: withCache(adaptortest.Usage(2112, 15), 2000, 100)},
		{name: "tool_use", wantUsage: adaptortest.Usage(472, 89)},
		{name: "max_tokens_crlf", wantUsage: adaptortest.Usage(5, 2)},
		{name: "no_usage"},
		{name: "truncated", wantUsage: adaptortest.Usage(9, 1), wantTruncated: true},
		{name: "error_event", wantUsage: adaptortest.Usage(30, 1), wantTruncated: true},
		{name: "json_instead_of_sse", wantTruncated: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, usage, err := adaptortest.ReplayStream(t, testAdaptor(), &adaptor.Request{Mode: adaptor.ModeChat, Model: "claude-mapped", Stream: true},
				filepath.Join("testdata", "stream", tt.name+".sse"), func(data []byte) {
					if !json.Valid(data) {
						t.Errorf("send got invalid JSON: %s", data)
					}
				})
			if usage != tt.wantUsage {
				t.Errorf("usage = %+v, want %+v", usage, tt.wantUsage)
			}
			if got := errors.Is(err, adaptor.ErrStreamTruncated); got != tt.wantTruncated {
				t.Errorf("errors.Is(err, ErrStreamTruncated) = %v, want %v (err: %v)", got, tt.wantTruncated, err)
			}
			if !tt.wantTruncated && err != nil {
				t.Errorf("err = %v, want nil", err)
			}
			adaptortest.CompareGolden(t, filepath.Join("testdata", "stream", tt.name+".golden"), out)
		})
	}
}

// sentChunk is what send received, decoded, for assertions independent of the
// golden files.
type sentChunk struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Model   string `json:"model"`
	Choices []struct {
		Delta struct {
			Role      *string `json:"role"`
			Content   *string `json:"content"`
			ToolCalls []struct {
				Index    int    `json:"index"`
				ID       string `json:"id"`
				Type     string `json:"type"`
				Function struct {
					Name      string  `json:"name"`
					Arguments *string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *sentUsage `json:"usage"`
}

type sentUsage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

func decodeStream(t *testing.T, name string) ([]sentChunk, error) {
	t.Helper()
	in, err := os.ReadFile(filepath.Join("testdata", "stream", name+".sse"))
	if err != nil {
		t.Fatal(err)
	}
	var chunks []sentChunk
	_, err = testAdaptor().DecodeStream(&adaptor.Request{Mode: adaptor.ModeChat, Stream: true}, adaptortest.SSEResponse(in), func(ev adaptor.Event) error {
		data := ev.Data
		var c sentChunk
		if err := json.Unmarshal(data, &c); err != nil {
			t.Fatalf("chunk %s: %v", data, err)
		}
		chunks = append(chunks, c)
		return nil
	})
	return chunks, err
}

func TestStreamTextChunks(t *testing.T) {
	t.Parallel()
	chunks, err := decodeStream(t, "text")
	if err != nil {
		t.Fatal(err)
	}
	first := chunks[0].Choices[0].Delta
	if first.Role == nil || *first.Role != "assistant" || first.Content == nil || *first.Content != "" {
		t.Errorf("first delta = %+v, want role assistant and empty content", first)
	}
	var text strings.Builder
	var finish []string
	for _, c := range chunks {
		if c.ID != "msg_01TextFake" || c.Object != "chat.completion.chunk" || c.Model != "claude-sonnet-4-5-20250929" {
			t.Errorf("chunk header = %q %q %q", c.ID, c.Object, c.Model)
		}
		for _, ch := range c.Choices {
			if ch.Delta.Content != nil {
				text.WriteString(*ch.Delta.Content)
			}
			if ch.FinishReason != nil {
				finish = append(finish, *ch.FinishReason)
			}
		}
	}
	if text.String() != `Hello, "world"!` {
		t.Errorf("text = %q", text.String())
	}
	if strings.Join(finish, ",") != "stop" {
		t.Errorf("finish reasons = %v, want [stop]", finish)
	}
	last := chunks[len(chunks)-1]
	if len(last.Choices) != 0 || last.Usage == nil || *last.Usage != (sentUsage{2112, 15, 2127}) {
		t.Errorf("last chunk = %+v, want the usage chunk 2112+15=2127", last)
	}
}

func TestStreamToolUseChunks(t *testing.T) {
	t.Parallel()
	chunks, err := decodeStream(t, "tool_use")
	if err != nil {
		t.Fatal(err)
	}
	type call struct{ id, name, args string }
	calls := map[int]*call{}
	var finish string
	for _, c := range chunks {
		for _, ch := range c.Choices {
			for _, tc := range ch.Delta.ToolCalls {
				if calls[tc.Index] == nil {
					if tc.ID == "" || tc.Type != "function" || tc.Function.Arguments == nil || *tc.Function.Arguments != "" {
						t.Errorf("first delta of tool call %d = %+v, want id, type function and arguments \"\"", tc.Index, tc)
					}
					calls[tc.Index] = &call{id: tc.ID, name: tc.Function.Name}
				}
				if tc.Function.Arguments != nil {
					calls[tc.Index].args += *tc.Function.Arguments
				}
			}
			if ch.FinishReason != nil {
				finish = *ch.FinishReason
			}
		}
	}
	want := map[int]call{
		0: {"toolu_01Paris", "get_weather", `{"city": "Paris"}`},
		1: {"toolu_02London", "get_weather", `{"city":"London"}`},
	}
	if len(calls) != len(want) {
		t.Fatalf("tool calls = %d, want %d", len(calls), len(want))
	}
	for i, w := range want {
		if calls[i] == nil || *calls[i] != w {
			t.Errorf("tool call %d = %+v, want %+v", i, calls[i], w)
		}
	}
	if finish != "tool_calls" {
		t.Errorf("finish_reason = %q, want tool_calls", finish)
	}
}

func TestDecodeStreamSendError(t *testing.T) {
	t.Parallel()
	in, err := os.ReadFile(filepath.Join("testdata", "stream", "text.sse"))
	if err != nil {
		t.Fatal(err)
	}
	stop := errors.New("client gone")
	calls := 0
	_, err = testAdaptor().DecodeStream(&adaptor.Request{Mode: adaptor.ModeChat}, adaptortest.SSEResponse(in), func(adaptor.Event) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("err = %v after %d sends, want the send error after 1", err, calls)
	}
}

func TestDecodeStreamLineTooLong(t *testing.T) {
	t.Parallel()
	in := "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"" +
		strings.Repeat("x", maxEventSize) + "\"}}\n\n"
	_, err := testAdaptor().DecodeStream(&adaptor.Request{Mode: adaptor.ModeChat}, adaptortest.SSEResponse([]byte(in)), func(adaptor.Event) error { return nil })
	if !errors.Is(err, adaptor.ErrStreamTruncated) || !errors.Is(err, sse.ErrLineTooLong) {
		t.Errorf("err = %v, want a truncation for a too long line", err)
	}
}

// withCache sets the cache counters Anthropic reports beside input_tokens.
func withCache(u adaptor.Usage, read, write int) adaptor.Usage {
	u.CacheRead, u.CacheWrite = read, write
	return u
}
