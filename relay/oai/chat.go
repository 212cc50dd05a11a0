// Package oai holds the OpenAI wire types: the neutral format every adaptor
// converts to and from.
//
// The types cover what the relay and the converting adaptors read; they are
// not a full copy of OpenAI's schema. Optional fields are pointers or carry
// omitempty so that decoding and re-encoding a request does not invent
// fields the client never sent (a zero temperature is not the same as no
// temperature). Fields whose shape varies (string or array, string or
// object) stay json.RawMessage and are interpreted by helpers.
//
// Unknown fields are dropped when a value is decoded and encoded again, so
// the OpenAI-type adaptor forwards the client's original bytes rather than a
// re-encoded ChatRequest.
package oai

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// ChatRequest is the body of POST /v1/chat/completions.
type ChatRequest struct {
	Model               string          `json:"model"`
	Messages            []Message       `json:"messages"`
	Stream              bool            `json:"stream,omitempty"`
	StreamOptions       *StreamOptions  `json:"stream_options,omitempty"`
	MaxTokens           *int            `json:"max_tokens,omitempty"`
	MaxCompletionTokens *int            `json:"max_completion_tokens,omitempty"`
	Temperature         *float64        `json:"temperature,omitempty"`
	TopP                *float64        `json:"top_p,omitempty"`
	N                   *int            `json:"n,omitempty"`
	Stop                json.RawMessage `json:"stop,omitempty"` // string or array of strings; see StopSequences
	PresencePenalty     *float64        `json:"presence_penalty,omitempty"`
	FrequencyPenalty    *float64        `json:"frequency_penalty,omitempty"`
	Seed                *int64          `json:"seed,omitempty"`
	LogitBias           json.RawMessage `json:"logit_bias,omitempty"`
	Logprobs            *bool           `json:"logprobs,omitempty"`
	TopLogprobs         *int            `json:"top_logprobs,omitempty"`
	Tools               []Tool          `json:"tools,omitempty"`
	ToolChoice          json.RawMessage `json:"tool_choice,omitempty"` // "none" | "auto" | "required" | object
	ParallelToolCalls   *bool           `json:"parallel_tool_calls,omitempty"`
	ResponseFormat      *ResponseFormat `json:"response_format,omitempty"`
	ReasoningEffort     string          `json:"reasoning_effort,omitempty"`
	Modalities          []string        `json:"modalities,omitempty"`
	Audio               json.RawMessage `json:"audio,omitempty"`
	Prediction          json.RawMessage `json:"prediction,omitempty"`
	WebSearchOptions    json.RawMessage `json:"web_search_options,omitempty"`
	ServiceTier         string          `json:"service_tier,omitempty"`
	Store               *bool           `json:"store,omitempty"`
	Metadata            json.RawMessage `json:"metadata,omitempty"`
	User                string          `json:"user,omitempty"`

	// Functions and FunctionCall are the pre-tools API, still sent by old clients.
	Functions    json.RawMessage `json:"functions,omitempty"`
	FunctionCall json.RawMessage `json:"function_call,omitempty"`
}

// StreamOptions is the stream_options object of a streaming request.
type StreamOptions struct {
	IncludeUsage bool `json:"include_usage,omitempty"`
}

// MaxOutputTokens returns the output limit the client asked for:
// max_completion_tokens if set, else max_tokens, else 0.
func (r *ChatRequest) MaxOutputTokens() int {
	if r.MaxCompletionTokens != nil {
		return *r.MaxCompletionTokens
	}
	if r.MaxTokens != nil {
		return *r.MaxTokens
	}
	return 0
}

// StopSequences returns stop as a list, whether it was sent as one string or
// an array.
func (r *ChatRequest) StopSequences() ([]string, error) {
	return stringOrStrings(r.Stop)
}

// Tool is one entry of tools. Only function tools have a Function.
type Tool struct {
	Type     string    `json:"type"`
	Function *Function `json:"function,omitempty"`
}

// Function declares a function the model may call.
type Function struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"` // JSON Schema
	Strict      *bool           `json:"strict,omitempty"`
}

// ResponseFormat is response_format: {"type":"text"|"json_object"|"json_schema"}.
type ResponseFormat struct {
	Type       string          `json:"type"`
	JSONSchema json.RawMessage `json:"json_schema,omitempty"`
}

// Message is one chat message, in a request or in a non-stream response.
type Message struct {
	Role string `json:"role"`
	// Content is a JSON string, an array of content parts, or null (an
	// assistant message that only calls tools). Read it with Parts or Text.
	Content          json.RawMessage `json:"content,omitempty"`
	Name             string          `json:"name,omitempty"`
	ToolCalls        []ToolCall      `json:"tool_calls,omitempty"`
	ToolCallID       string          `json:"tool_call_id,omitempty"`
	Refusal          *string         `json:"refusal,omitempty"`
	ReasoningContent string          `json:"reasoning_content,omitempty"` // DeepSeek and other reasoning models
}

// ToolCall is a call the model made, in a response message or a stream delta.
type ToolCall struct {
	Index    *int         `json:"index,omitempty"` // stream deltas only
	ID       string       `json:"id,omitempty"`
	Type     string       `json:"type,omitempty"`
	Function FunctionCall `json:"function"`
}

// FunctionCall names the function and carries its JSON arguments as a string.
type FunctionCall struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

// Content part types.
const (
	PartText       = "text"
	PartImageURL   = "image_url"
	PartInputAudio = "input_audio"
	PartFile       = "file"
)

// ContentPart is one element of an array content.
type ContentPart struct {
	Type       string          `json:"type"`
	Text       string          `json:"text,omitempty"`
	ImageURL   *ImageURL       `json:"image_url,omitempty"`
	InputAudio json.RawMessage `json:"input_audio,omitempty"`
	File       json.RawMessage `json:"file,omitempty"`
}

// ImageURL is the image_url of an image part: an https URL or a data: URL.
type ImageURL struct {
	URL    string `json:"url"`
	Detail string `json:"detail,omitempty"` // "low", "high", "auto" or empty
}

// TextContent encodes s as a string content, for adaptors building messages.
func TextContent(s string) json.RawMessage {
	b, _ := json.Marshal(s) // a string always marshals
	return b
}

// Parts returns the content as parts: a string content becomes a single text
// part, null or absent content none.
func (m *Message) Parts() ([]ContentPart, error) {
	c := bytes.TrimLeft(m.Content, " \t\r\n")
	if len(c) == 0 || string(c) == "null" {
		return nil, nil
	}
	if c[0] == '"' {
		var s string
		if err := json.Unmarshal(c, &s); err != nil {
			return nil, fmt.Errorf("message content: %w", err)
		}
		return []ContentPart{{Type: PartText, Text: s}}, nil
	}
	var parts []ContentPart
	if err := json.Unmarshal(c, &parts); err != nil {
		return nil, fmt.Errorf("message content: %w", err)
	}
	return parts, nil
}

// Text returns the text of the content: the string itself, or the text parts
// joined by newlines. Non-text parts are ignored.
func (m *Message) Text() (string, error) {
	c := bytes.TrimLeft(m.Content, " \t\r\n")
	if len(c) > 0 && c[0] == '"' {
		var s string
		if err := json.Unmarshal(c, &s); err != nil {
			return "", fmt.Errorf("message content: %w", err)
		}
		return s, nil
	}
	parts, err := m.Parts()
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	for _, p := range parts {
		if p.Type != PartText {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(p.Text)
	}
	return b.String(), nil
}

// Images returns the image parts of the content.
func (m *Message) Images() ([]ImageURL, error) {
	parts, err := m.Parts()
	if err != nil {
		return nil, err
	}
	var imgs []ImageURL
	for _, p := range parts {
		if p.Type == PartImageURL && p.ImageURL != nil {
			imgs = append(imgs, *p.ImageURL)
		}
	}
	return imgs, nil
}

// ChatResponse is the body of a non-stream chat completion.
type ChatResponse struct {
	ID                string       `json:"id"`
	Object            string       `json:"object"` // "chat.completion"
	Created           int64        `json:"created"`
	Model             string       `json:"model"`
	Choices           []ChatChoice `json:"choices"`
	Usage             *Usage       `json:"usage,omitempty"`
	SystemFingerprint string       `json:"system_fingerprint,omitempty"`
	ServiceTier       string       `json:"service_tier,omitempty"`
}

// ChatChoice is one choice of a ChatResponse.
type ChatChoice struct {
	Index        int             `json:"index"`
	Message      Message         `json:"message"`
	FinishReason string          `json:"finish_reason"`
	Logprobs     json.RawMessage `json:"logprobs,omitempty"`
}

// ChatChunk is one event of a streamed chat completion.
type ChatChunk struct {
	ID                string        `json:"id"`
	Object            string        `json:"object"` // "chat.completion.chunk"
	Created           int64         `json:"created"`
	Model             string        `json:"model"`
	Choices           []ChunkChoice `json:"choices"`
	Usage             *Usage        `json:"usage,omitempty"` // last chunk only, when include_usage
	SystemFingerprint string        `json:"system_fingerprint,omitempty"`
}

// ChunkChoice is one choice of a ChatChunk.
type ChunkChoice struct {
	Index        int             `json:"index"`
	Delta        Delta           `json:"delta"`
	FinishReason *string         `json:"finish_reason"` // null until the last chunk of the choice
	Logprobs     json.RawMessage `json:"logprobs,omitempty"`
}

// Delta is the incremental message of a ChunkChoice.
type Delta struct {
	Role             string     `json:"role,omitempty"`
	Content          string     `json:"content,omitempty"`
	ReasoningContent string     `json:"reasoning_content,omitempty"`
	ToolCalls        []ToolCall `json:"tool_calls,omitempty"`
	Refusal          string     `json:"refusal,omitempty"`
}

// Usage is the token usage an upstream reports.
type Usage struct {
	PromptTokens            int                      `json:"prompt_tokens"`
	CompletionTokens        int                      `json:"completion_tokens"`
	TotalTokens             int                      `json:"total_tokens"`
	PromptTokensDetails     *PromptTokensDetails     `json:"prompt_tokens_details,omitempty"`
	CompletionTokensDetails *CompletionTokensDetails `json:"completion_tokens_details,omitempty"`
}

// PromptTokensDetails breaks down prompt tokens.
type PromptTokensDetails struct {
	CachedTokens int `json:"cached_tokens"`
	AudioTokens  int `json:"audio_tokens,omitempty"`
}

// CompletionTokensDetails breaks down completion tokens.
type CompletionTokensDetails struct {
	ReasoningTokens int `json:"reasoning_tokens"`
	AudioTokens     int `json:"audio_tokens,omitempty"`
}

// stringOrStrings decodes a field that is a string, an array of strings or
// absent/null.
func stringOrStrings(raw json.RawMessage) ([]string, error) {
	c := bytes.TrimLeft(raw, " \t\r\n")
	if len(c) == 0 || string(c) == "null" {
		return nil, nil
	}
	switch c[0] {
	case '"':
		var s string
		if err := json.Unmarshal(c, &s); err != nil {
			return nil, err
		}
		return []string{s}, nil
	case '[':
		var ss []string
		if err := json.Unmarshal(c, &ss); err != nil {
			return nil, err
		}
		return ss, nil
	}
	return nil, errors.New("want a string or an array of strings")
}
