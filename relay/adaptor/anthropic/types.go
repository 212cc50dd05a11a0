package anthropic

import (
	"encoding/json"

	"oneapi/relay/adaptor"
	"oneapi/relay/oai"
)

// Anthropic Messages API wire types (https://docs.anthropic.com/en/api/messages),
// reduced to the fields this adaptor writes or reads.

// messagesRequest is the body of POST /v1/messages.
type messagesRequest struct {
	Model         string      `json:"model,omitempty"` // "" for clouds that name it in the URL
	System        string      `json:"system,omitempty"`
	Messages      []message   `json:"messages"`
	MaxTokens     int         `json:"max_tokens"`
	Temperature   *float64    `json:"temperature,omitempty"`
	TopP          *float64    `json:"top_p,omitempty"`
	StopSequences []string    `json:"stop_sequences,omitempty"`
	Stream        bool        `json:"stream,omitempty"`
	Tools         []tool      `json:"tools,omitempty"`
	ToolChoice    *toolChoice `json:"tool_choice,omitempty"`
	Metadata      *metadata   `json:"metadata,omitempty"`

	// AnthropicVersion is the version field of clouds serving Claude
	// (Vertex AI); the direct API takes its version as a header.
	AnthropicVersion string `json:"anthropic_version,omitempty"`
}

// message is one turn. Roles must alternate between "user" and "assistant".
type message struct {
	Role    string         `json:"role"`
	Content []contentBlock `json:"content"`
}

// contentBlock is a request content block: text, image, tool_use or
// tool_result, told apart by Type.
type contentBlock struct {
	Type      string          `json:"type"`
	Text      string          `json:"text,omitempty"`
	Source    *imageSource    `json:"source,omitempty"`
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
	ToolUseID string          `json:"tool_use_id,omitempty"`
	Content   []contentBlock  `json:"content,omitempty"` // of a tool_result: text and image blocks
}

// imageSource is inline base64 data or a URL Anthropic fetches itself.
type imageSource struct {
	Type      string `json:"type"` // "base64" or "url"
	MediaType string `json:"media_type,omitempty"`
	Data      string `json:"data,omitempty"`
	URL       string `json:"url,omitempty"`
}

type tool struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"input_schema"`
}

type toolChoice struct {
	Type                   string `json:"type"` // "auto", "any", "tool" or "none"
	Name                   string `json:"name,omitempty"`
	DisableParallelToolUse bool   `json:"disable_parallel_tool_use,omitempty"`
}

type metadata struct {
	UserID string `json:"user_id"`
}

// messagesResponse is a non-stream reply, and the message of a
// message_start event.
type messagesResponse struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"` // "message", or "error" from a misbehaving proxy
	Model      string          `json:"model"`
	Content    []responseBlock `json:"content"`
	StopReason string          `json:"stop_reason"`
	Usage      *usage          `json:"usage"`
	Error      *apiError       `json:"error"`
}

// responseBlock is a content block of a reply. Types other than text and
// tool_use (thinking, server tool results ...) are ignored.
type responseBlock struct {
	Type  string          `json:"type"`
	Text  string          `json:"text"`
	ID    string          `json:"id"`
	Name  string          `json:"name"`
	Input json.RawMessage `json:"input"`
}

type usage struct {
	InputTokens              int            `json:"input_tokens"`
	OutputTokens             int            `json:"output_tokens"`
	CacheCreationInputTokens int            `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int            `json:"cache_read_input_tokens"`
	ServerToolUse            *serverToolUse `json:"server_tool_use,omitempty"`
}

// serverToolUse counts Anthropic's server tools, billed per call.
type serverToolUse struct {
	WebSearchRequests int `json:"web_search_requests"`
}

// promptTokens counts every input token: Anthropic reports the cached and
// cache-writing parts apart from input_tokens, OpenAI includes them.
func (u *usage) promptTokens() int {
	return u.InputTokens + u.CacheCreationInputTokens + u.CacheReadInputTokens
}

// toUsage is the usage in pricing's counters: cache reads and writes are
// parts of the input, priced apart.
func (u *usage) toUsage() adaptor.Usage {
	out := adaptor.Usage{Reported: true}
	out.Input = u.promptTokens()
	out.CacheRead = u.CacheReadInputTokens
	out.CacheWrite = u.CacheCreationInputTokens
	out.Output = u.OutputTokens
	if u.ServerToolUse != nil {
		out.WebSearch = u.ServerToolUse.WebSearchRequests
	}
	return out
}

func (u *usage) toOAI() *oai.Usage {
	prompt := u.promptTokens()
	out := &oai.Usage{PromptTokens: prompt, CompletionTokens: u.OutputTokens, TotalTokens: prompt + u.OutputTokens}
	if u.CacheReadInputTokens > 0 {
		out.PromptTokensDetails = &oai.PromptTokensDetails{CachedTokens: u.CacheReadInputTokens}
	}
	return out
}

// errorBody is Anthropic's error reply and the data of an error event:
// {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}.
type errorBody struct {
	Type  string    `json:"type"`
	Error *apiError `json:"error"`
}

type apiError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// streamEvent is the data of one SSE event; which fields are set depends on
// Type.
type streamEvent struct {
	Type         string            `json:"type"`
	Message      *messagesResponse `json:"message"`       // message_start
	Index        int               `json:"index"`         // content_block_*
	ContentBlock *responseBlock    `json:"content_block"` // content_block_start
	Delta        *streamDelta      `json:"delta"`         // content_block_delta, message_delta
	Usage        *deltaUsage       `json:"usage"`         // message_delta
	Error        *apiError         `json:"error"`         // error
}

type streamDelta struct {
	Type        string `json:"type"` // text_delta, input_json_delta ...
	Text        string `json:"text"`
	PartialJSON string `json:"partial_json"`
	StopReason  string `json:"stop_reason"` // message_delta
}

// deltaUsage is the usage of message_delta: cumulative counts, where an
// absent field means "unchanged since message_start".
type deltaUsage struct {
	InputTokens              *int           `json:"input_tokens"`
	OutputTokens             *int           `json:"output_tokens"`
	CacheCreationInputTokens *int           `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     *int           `json:"cache_read_input_tokens"`
	ServerToolUse            *serverToolUse `json:"server_tool_use"`
}

// chatChunk is an OpenAI chat.completion.chunk. It is not oai.ChatChunk
// because the first chunk must carry "content":"", which oai.Delta omits.
type chatChunk struct {
	ID      string        `json:"id"`
	Object  string        `json:"object"`
	Created int64         `json:"created"`
	Model   string        `json:"model"`
	Choices []chunkChoice `json:"choices"`
	Usage   *oai.Usage    `json:"usage,omitempty"`
}

type chunkChoice struct {
	Index        int        `json:"index"`
	Delta        chunkDelta `json:"delta"`
	FinishReason *string    `json:"finish_reason"`
}

type chunkDelta struct {
	Role      string         `json:"role,omitempty"`
	Content   *string        `json:"content,omitempty"`
	ToolCalls []oai.ToolCall `json:"tool_calls,omitempty"`
}
