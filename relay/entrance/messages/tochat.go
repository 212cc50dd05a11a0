package messages

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"oneapi/relay/oai"
)

// RequestError is a Messages request the gateway refuses: the client must
// change it (Anthropic's invalid_request_error).
type RequestError struct{ Msg string }

func (e *RequestError) Error() string { return e.Msg }

func bad(format string, a ...any) error { return &RequestError{fmt.Sprintf(format, a...)} }

// Parse decodes and checks a Messages request. countOnly is for
// count_tokens, which takes no max_tokens.
func Parse(body []byte, countOnly bool) (*Request, error) {
	var req Request
	if err := json.Unmarshal(body, &req); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return nil, bad("%s: %s is not valid there", te.Field, te.Value)
		}
		return nil, bad("the request body is not valid JSON")
	}
	switch {
	case req.Model == "":
		return nil, bad("model: Field required")
	case len(req.Messages) == 0:
		return nil, bad("messages: at least one message is required")
	case !countOnly && req.MaxTokens <= 0:
		return nil, bad("max_tokens: must be a positive integer")
	}
	for i, m := range req.Messages {
		if m.Role != "user" && m.Role != "assistant" {
			return nil, bad("messages.%d.role: must be \"user\" or \"assistant\"", i)
		}
		if _, err := blocks(m.Content); err != nil {
			return nil, bad("messages.%d.content: %v", i, err)
		}
	}
	if _, err := blocks(req.System); err != nil {
		return nil, bad("system: %v", err)
	}
	return &req, nil
}

// blocks reads a content that is a string or an array of blocks; a string
// is one text block.
func blocks(raw json.RawMessage) ([]Block, error) {
	c := bytes.TrimSpace(raw)
	if len(c) == 0 || string(c) == "null" {
		return nil, nil
	}
	if c[0] == '"' {
		var s string
		if err := json.Unmarshal(c, &s); err != nil {
			return nil, errors.New("must be a string or an array of content blocks")
		}
		return []Block{{Type: "text", Text: s}}, nil
	}
	var bs []Block
	if err := json.Unmarshal(c, &bs); err != nil {
		return nil, errors.New("must be a string or an array of content blocks")
	}
	return bs, nil
}

// ToChat converts a parsed Messages request to the canonical OpenAI chat
// request. Lost on the way: cache_control, top_k, thinking signatures and
// redacted thinking, citations, and Anthropic's server tools (they run only
// on Anthropic channels, which are passed the request untouched).
func ToChat(req *Request) (*oai.ChatRequest, error) {
	chat := &oai.ChatRequest{Model: req.Model, Stream: req.Stream, Temperature: req.Temperature, TopP: req.TopP}
	if req.MaxTokens > 0 {
		n := req.MaxTokens
		chat.MaxTokens = &n
	}
	if len(req.StopSequences) > 0 {
		chat.Stop, _ = json.Marshal(req.StopSequences)
	}
	if req.Metadata != nil {
		chat.User = req.Metadata.UserID
	}
	if t := req.Thinking; t != nil && t.Type == "enabled" {
		chat.ReasoningEffort = effortFor(t.BudgetTokens)
	}
	sys, _ := blocks(req.System)
	if text := joinText(sys); text != "" {
		chat.Messages = append(chat.Messages, oai.Message{Role: "system", Content: oai.TextContent(text)})
	}
	for i, m := range req.Messages {
		bs, _ := blocks(m.Content)
		var err error
		if m.Role == "assistant" {
			chat.Messages, err = appendAssistant(chat.Messages, bs)
		} else {
			chat.Messages, err = appendUser(chat.Messages, bs)
		}
		if err != nil {
			return nil, bad("messages.%d: %v", i, err)
		}
	}
	for _, t := range req.Tools {
		if t.Type != "" && t.Type != "custom" {
			continue // a server tool: Anthropic's alone
		}
		params := t.InputSchema
		if len(params) == 0 {
			params = json.RawMessage(`{"type":"object"}`)
		}
		chat.Tools = append(chat.Tools, oai.Tool{Type: "function", Function: &oai.Function{Name: t.Name, Description: t.Description, Parameters: params}})
	}
	if tc := req.ToolChoice; tc != nil && len(chat.Tools) > 0 {
		switch tc.Type {
		case "auto":
			chat.ToolChoice = json.RawMessage(`"auto"`)
		case "any":
			chat.ToolChoice = json.RawMessage(`"required"`)
		case "none":
			chat.ToolChoice = json.RawMessage(`"none"`)
		case "tool":
			chat.ToolChoice, _ = json.Marshal(map[string]any{"type": "function", "function": map[string]string{"name": tc.Name}})
		default:
			return nil, bad("tool_choice.type: %q is not one of auto, any, tool, none", tc.Type)
		}
		if tc.DisableParallelToolUse {
			f := false
			chat.ParallelToolCalls = &f
		}
	}
	return chat, nil
}

// effortFor maps a thinking budget to OpenAI's reasoning effort.
func effortFor(budget int) string {
	switch {
	case budget < 4096:
		return "low"
	case budget < 16384:
		return "medium"
	}
	return "high"
}

func joinText(bs []Block) string {
	var parts []string
	for _, b := range bs {
		if b.Type == "text" && b.Text != "" {
			parts = append(parts, b.Text)
		}
	}
	return strings.Join(parts, "\n\n")
}

// appendUser converts a user turn. Its tool results become tool messages,
// which OpenAI wants right after the assistant's calls, so they go first;
// the rest is one user message.
func appendUser(msgs []oai.Message, bs []Block) ([]oai.Message, error) {
	var parts []oai.ContentPart
	for _, b := range bs {
		switch b.Type {
		case "tool_result":
			inner, err := blocks(b.Content)
			if err != nil {
				return nil, fmt.Errorf("tool_result content %w", err)
			}
			text := joinText(inner)
			if b.IsError && text == "" {
				text = "error"
			}
			msgs = append(msgs, oai.Message{Role: "tool", ToolCallID: b.ToolUseID, Content: oai.TextContent(text)})
			for _, ib := range inner { // images a tool returned follow as the user's
				if ib.Type == "image" {
					p, err := imagePart(ib.Source)
					if err != nil {
						return nil, err
					}
					parts = append(parts, p)
				}
			}
		default:
			p, ok, err := userPart(b)
			if err != nil {
				return nil, err
			}
			if ok {
				parts = append(parts, p)
			}
		}
	}
	if len(parts) == 0 {
		return msgs, nil
	}
	content, err := partsContent(parts)
	if err != nil {
		return nil, err
	}
	return append(msgs, oai.Message{Role: "user", Content: content}), nil
}

// partsContent is a lone text part as a string (what every vendor reads),
// else the array.
func partsContent(parts []oai.ContentPart) (json.RawMessage, error) {
	if len(parts) == 1 && parts[0].Type == oai.PartText {
		return oai.TextContent(parts[0].Text), nil
	}
	return json.Marshal(parts)
}

func userPart(b Block) (oai.ContentPart, bool, error) {
	switch b.Type {
	case "text":
		return oai.ContentPart{Type: oai.PartText, Text: b.Text}, b.Text != "", nil
	case "image":
		p, err := imagePart(b.Source)
		return p, err == nil, err
	case "document":
		s := b.Source
		switch {
		case s == nil:
			return oai.ContentPart{}, false, errors.New("document without source")
		case s.Type == "text":
			return oai.ContentPart{Type: oai.PartText, Text: s.Data}, s.Data != "", nil
		case s.Type == "base64":
			name := b.Title
			if name == "" {
				name = "document.pdf"
			}
			file, _ := json.Marshal(map[string]string{"filename": name, "file_data": "data:" + s.MediaType + ";base64," + s.Data})
			return oai.ContentPart{Type: oai.PartFile, File: file}, true, nil
		}
		return oai.ContentPart{}, false, fmt.Errorf("document source type %q is served only by Anthropic channels", s.Type)
	case "thinking", "redacted_thinking":
		return oai.ContentPart{}, false, nil
	}
	return oai.ContentPart{}, false, fmt.Errorf("content block type %q is served only by Anthropic channels", b.Type)
}

func imagePart(s *Source) (oai.ContentPart, error) {
	switch {
	case s == nil:
		return oai.ContentPart{}, errors.New("image without source")
	case s.Type == "base64" && s.MediaType != "" && s.Data != "":
		return oai.ContentPart{Type: oai.PartImageURL, ImageURL: &oai.ImageURL{URL: "data:" + s.MediaType + ";base64," + s.Data}}, nil
	case s.Type == "url" && s.URL != "":
		return oai.ContentPart{Type: oai.PartImageURL, ImageURL: &oai.ImageURL{URL: s.URL}}, nil
	}
	return oai.ContentPart{}, errors.New("image source must be base64 with media_type and data, or a url")
}

// appendAssistant converts an assistant turn: text, thinking as
// reasoning_content, tool_use blocks as tool calls.
func appendAssistant(msgs []oai.Message, bs []Block) ([]oai.Message, error) {
	m := oai.Message{Role: "assistant"}
	var text, thinking []string
	for _, b := range bs {
		switch b.Type {
		case "text":
			text = append(text, b.Text)
		case "thinking":
			thinking = append(thinking, b.Thinking)
		case "redacted_thinking":
		case "tool_use":
			args := strings.TrimSpace(string(b.Input))
			if args == "" || args == "null" {
				args = "{}"
			}
			m.ToolCalls = append(m.ToolCalls, oai.ToolCall{ID: b.ID, Type: "function", Function: oai.FunctionCall{Name: b.Name, Arguments: args}})
		default:
			return nil, fmt.Errorf("assistant content block type %q is served only by Anthropic channels", b.Type)
		}
	}
	if len(text) > 0 {
		m.Content = oai.TextContent(strings.Join(text, ""))
	}
	m.ReasoningContent = strings.Join(thinking, "")
	if len(m.Content) == 0 && len(m.ToolCalls) == 0 {
		return msgs, nil
	}
	return append(msgs, m), nil
}
