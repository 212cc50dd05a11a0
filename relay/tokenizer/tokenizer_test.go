package tokenizer

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"oneapi/relay/oai"
)

func TestCountText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		model string
		text  string
		want  int
	}{
		{"empty", "gpt-4o", "", 0},
		{"hello world cl100k", "gpt-3.5-turbo", "hello world", 2},
		{"hello world o200k", "gpt-4o", "hello world", 2},
		{"punctuation cl100k", "gpt-4", "Hello, world!", 4},
		{"special token is plain text", "gpt-4", "<|endoftext|>", 7},
		{"unknown model falls back to cl100k", "claude-3-5-sonnet", "hello world", 2},
		// "tiktoken is great!" is 6 tokens in cl100k_base and o200k_base
		// (OpenAI cookbook, How_to_count_tokens_with_tiktoken).
		{"cookbook cl100k", "gpt-4", "tiktoken is great!", 6},
		{"cookbook o200k", "gpt-4o-mini", "tiktoken is great!", 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := CountText(tt.model, tt.text); got != tt.want {
				t.Errorf("CountText(%q, %q) = %d, want %d", tt.model, tt.text, got, tt.want)
			}
			// A second call is served by the cache and must agree.
			if got := CountText(tt.model, tt.text); got != tt.want {
				t.Errorf("cached CountText(%q, %q) = %d, want %d", tt.model, tt.text, got, tt.want)
			}
		})
	}
}

func TestEncodingFor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		model string
		want  string
	}{
		{"gpt-4o", O200K},
		{"gpt-4o-mini-2024-07-18", O200K},
		{"chatgpt-4o-latest", O200K},
		{"gpt-4.1-nano", O200K},
		{"gpt-5", O200K},
		{"o1-preview", O200K},
		{"o3-mini", O200K},
		{"o4-mini", O200K},
		{"openai/gpt-4o", O200K},
		{"gpt-4", CL100K},
		{"gpt-4-turbo", CL100K},
		{"gpt-3.5-turbo", CL100K},
		{"text-embedding-3-small", CL100K},
		{"deepseek-chat", CL100K},
		{"", CL100K},
	}
	for _, tt := range tests {
		t.Run(tt.model, func(t *testing.T) {
			t.Parallel()
			if got := EncodingFor(tt.model); got != tt.want {
				t.Errorf("EncodingFor(%q) = %s, want %s", tt.model, got, tt.want)
			}
		})
	}
}

// cookbookMessages is the example of OpenAI's cookbook
// (How_to_format_inputs_to_ChatGPT_models / How_to_count_tokens_with_tiktoken),
// for which it reports 129 prompt tokens on gpt-3.5-turbo-0613 and gpt-4-0613,
// and 124 on gpt-4o and gpt-4o-mini, matching the API's usage.
var cookbookMessages = []oai.Message{
	{Role: "system", Content: oai.TextContent("You are a helpful, pattern-following assistant that translates corporate jargon into plain English.")},
	{Role: "system", Name: "example_user", Content: oai.TextContent("New synergies will help drive top-line growth.")},
	{Role: "system", Name: "example_assistant", Content: oai.TextContent("Things working well together will increase revenue.")},
	{Role: "system", Name: "example_user", Content: oai.TextContent("Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage.")},
	{Role: "system", Name: "example_assistant", Content: oai.TextContent("Let's talk later when we're less busy about how to do better.")},
	{Role: "user", Content: oai.TextContent("This late pivot means we don't have time to boil the ocean for the client deliverable.")},
}

func TestCountChat(t *testing.T) {
	t.Parallel()
	hello := CountText("gpt-4o", "hello world")
	tests := []struct {
		name  string
		model string
		msgs  []oai.Message
		want  int
	}{
		{"cookbook gpt-4", "gpt-4-0613", cookbookMessages, 129},
		{"cookbook gpt-3.5", "gpt-3.5-turbo-0613", cookbookMessages, 129},
		{"cookbook gpt-4o", "gpt-4o", cookbookMessages, 124},
		{"cookbook gpt-4o-mini", "gpt-4o-mini", cookbookMessages, 124},
		{"no messages", "gpt-4o", nil, 3},
		{
			// 3 per message + role "user" (1) + content + 3 priming.
			name: "string content", model: "gpt-4o",
			msgs: []oai.Message{{Role: "user", Content: oai.TextContent("hello world")}},
			want: 3 + 1 + hello + 3,
		},
		{
			name: "array content with images", model: "gpt-4o",
			msgs: []oai.Message{{Role: "user", Content: json.RawMessage(`[
				{"type":"text","text":"hello world"},
				{"type":"image_url","image_url":{"url":"https://example.com/a.png","detail":"low"}},
				{"type":"image_url","image_url":{"url":"https://example.com/b.png","detail":"high"}},
				{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}
			]`)}},
			want: 3 + 1 + hello + 85 + 765 + 765 + 3,
		},
		{
			name: "null content with tool call", model: "gpt-4o",
			msgs: []oai.Message{{Role: "assistant", Content: json.RawMessage(`null`), ToolCalls: []oai.ToolCall{
				{ID: "call_1", Type: "function", Function: oai.FunctionCall{Name: "hello", Arguments: "hello world"}},
			}}},
			want: 3 + CountText("gpt-4o", "assistant") + CountText("gpt-4o", "hello") + hello + 3,
		},
		{
			name: "malformed content counted as text", model: "gpt-4o",
			msgs: []oai.Message{{Role: "user", Content: json.RawMessage(`{"oops":1}`)}},
			want: 3 + 1 + CountText("gpt-4o", `{"oops":1}`) + 3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := mustCount(CountChat(context.Background(), tt.model, tt.msgs)); got != tt.want {
				t.Errorf("CountChat = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestCountChatRequest(t *testing.T) {
	t.Parallel()
	req := &oai.ChatRequest{
		Model:    "gpt-4o",
		Messages: []oai.Message{{Role: "user", Content: oai.TextContent("hello world")}},
		Tools: []oai.Tool{{Type: "function", Function: &oai.Function{
			Name: "get_weather", Parameters: json.RawMessage(`{"type":"object"}`),
		}}},
	}
	tools, _ := json.Marshal(req.Tools)
	want := mustCount(CountChat(context.Background(), req.Model, req.Messages)) + CountText(req.Model, string(tools))
	if got := mustCount(CountChatRequest(context.Background(), req)); got != want {
		t.Errorf("CountChatRequest = %d, want %d", got, want)
	}
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	want := mustCount(CountChat(context.Background(), "gpt-4o", cookbookMessages))
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 50 {
				text := fmt.Sprintf("message %d from goroutine %d", j, i)
				if CountText("gpt-4", text) <= 0 {
					t.Error("no tokens")
				}
				if got := mustCount(CountChat(context.Background(), "gpt-4o", cookbookMessages)); got != want {
					t.Errorf("CountChat = %d, want %d", got, want)
				}
			}
		})
	}
	wg.Wait()
}

func TestCache(t *testing.T) {
	t.Parallel()
	var c countCache
	h := c.hash("some text")
	if _, ok := c.get(h); ok {
		t.Fatal("hit in an empty cache")
	}
	c.put(h, 0)
	if n, ok := c.get(h); !ok || n != 0 {
		t.Errorf("get = %d, %v; want 0, true", n, ok)
	}
	c.put(h, 42)
	if n, ok := c.get(h); !ok || n != 42 {
		t.Errorf("get = %d, %v; want 42, true", n, ok)
	}
	// Same slot, other tag: a miss, not someone else's count.
	other := h ^ 1<<63
	if _, ok := c.get(other); ok {
		t.Error("hit for a different tag")
	}
	c.put(h, countMask) // too large to store
	if n, _ := c.get(h); n != 42 {
		t.Errorf("oversized count replaced the slot: got %d", n)
	}
}

// shortPrompt is a typical two-message request.
var shortPrompt = []oai.Message{
	{Role: "system", Content: oai.TextContent("You are a helpful assistant. Answer concisely and cite sources when you can.")},
	{Role: "user", Content: oai.TextContent("What is the capital of Australia, and why was it chosen over Sydney and Melbourne?")},
}

func BenchmarkCountChat(b *testing.B) {
	Warm()
	b.Run("cached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			mustCount(CountChat(context.Background(), "gpt-4o", shortPrompt))
		}
	})
	b.Run("uncached", func(b *testing.B) {
		// What CountChat costs without the cache: every text encoded.
		tk := o200k.get()
		texts := []string{"system", "user"}
		for i := range shortPrompt {
			s, _ := shortPrompt[i].Text()
			texts = append(texts, s)
		}
		b.ReportAllocs()
		for b.Loop() {
			n := 0
			for _, s := range texts {
				n += len(tk.EncodeOrdinary(s))
			}
			_ = n
		}
	})
	b.Run("new-user-message", func(b *testing.B) {
		// The usual case: the system prompt repeats, the user text is new.
		users := make([]oai.Message, 1<<16)
		for i := range users {
			users[i] = oai.Message{Role: "user", Content: oai.TextContent(fmt.Sprintf("Question %d: what is the capital of Australia, and why?", i))}
		}
		msgs := []oai.Message{shortPrompt[0], {}}
		i := 0
		b.ReportAllocs()
		for b.Loop() {
			msgs[1] = users[i%len(users)]
			i++
			mustCount(CountChat(context.Background(), "gpt-4o", msgs))
		}
	})
	b.Run("cached/long-system-prompt", func(b *testing.B) {
		msgs := []oai.Message{
			{Role: "system", Content: oai.TextContent(strings.Repeat("You are a careful assistant who follows the style guide. ", 40))},
			shortPrompt[1],
		}
		b.ReportAllocs()
		for b.Loop() {
			mustCount(CountChat(context.Background(), "gpt-4o", msgs))
		}
	})
}

func mustCount(n int, err error) int {
	if err != nil {
		panic(err)
	}
	return n
}
