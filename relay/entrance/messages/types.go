// Package messages is Anthropic's Messages API as an entrance
// (POST /v1/messages): its wire types, the conversion of a Messages request
// to the canonical OpenAI chat request, and of an OpenAI chat reply or
// stream back to a Messages reply or Anthropic's named stream events.
// Requests to Anthropic channels do not come here: they pass through
// untouched (relay/adaptor/anthropic's Native).
package messages

import "encoding/json"

// Request is the body of POST /v1/messages (and of count_tokens, which has
// no max_tokens), reduced to what a conversion reads. Fields without an
// OpenAI counterpart (top_k, cache_control, thinking signatures ...) are
// lost in conversion and kept on passthrough.
type Request struct {
	Model         string          `json:"model"`
	MaxTokens     int             `json:"max_tokens"`
	System        json.RawMessage `json:"system,omitempty"` // a string or text blocks
	Messages      []Message       `json:"messages"`
	StopSequences []string        `json:"stop_sequences,omitempty"`
	Stream        bool            `json:"stream,omitempty"`
	Temperature   *float64        `json:"temperature,omitempty"`
	TopP          *float64        `json:"top_p,omitempty"`
	Tools         []Tool          `json:"tools,omitempty"`
	ToolChoice    *ToolChoice     `json:"tool_choice,omitempty"`
	Metadata      *struct {
		UserID string `json:"user_id"`
	} `json:"metadata,omitempty"`
	Thinking *struct {
		Type         string `json:"type"` // "enabled", "disabled", "adaptive"
		BudgetTokens int    `json:"budget_tokens"`
	} `json:"thinking,omitempty"`
}

// Message is one turn; Content is a string or an array of blocks.
type Message struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// Block is a content block of a request or a reply, told apart by Type:
// text, image, document, tool_use, tool_result, thinking,
// redacted_thinking.
type Block struct {
	Type      string          `json:"type"`
	Text      string          `json:"text,omitempty"`
	Source    *Source         `json:"source,omitempty"`
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
	ToolUseID string          `json:"tool_use_id,omitempty"`
	Content   json.RawMessage `json:"content,omitempty"` // of a tool_result: a string or blocks
	IsError   bool            `json:"is_error,omitempty"`
	Thinking  string          `json:"thinking,omitempty"`
	Signature string          `json:"signature,omitempty"`
	Title     string          `json:"title,omitempty"` // of a document
}

// Source is an image's or a document's data: base64, a URL, or plain text
// (documents).
type Source struct {
	Type      string `json:"type"` // "base64", "url", "text"
	MediaType string `json:"media_type,omitempty"`
	Data      string `json:"data,omitempty"`
	URL       string `json:"url,omitempty"`
}

// Tool is a client tool ({name, description, input_schema}) or one of
// Anthropic's server tools (a Type such as "web_search_20250305"), which
// only Anthropic channels run.
type Tool struct {
	Type        string          `json:"type,omitempty"`
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"input_schema,omitempty"`
}

// ToolChoice is {"type":"auto"|"any"|"tool"|"none","name":...}.
type ToolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name,omitempty"`
	DisableParallelToolUse bool   `json:"disable_parallel_tool_use,omitempty"`
}

// Response is a non-stream reply, and the message of message_start.
type Response struct {
	ID           string  `json:"id"`
	Type         string  `json:"type"` // "message"
	Role         string  `json:"role"`
	Model        string  `json:"model"`
	Content      []Block `json:"content"`
	StopReason   *string `json:"stop_reason"`
	StopSequence *string `json:"stop_sequence"`
	Usage        Usage   `json:"usage"`
}

// Usage is Anthropic's: input_tokens excludes the cached and cache-written
// parts, reported apart.
type Usage struct {
	InputTokens              int `json:"input_tokens"`
	OutputTokens             int `json:"output_tokens"`
	CacheCreationInputTokens int `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int `json:"cache_read_input_tokens"`
}
