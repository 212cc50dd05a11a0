package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"oneapi/relay/oai"
)

// defaultMaxTokens is sent when the client sets no limit: Anthropic requires
// max_tokens, OpenAI does not.
const defaultMaxTokens = 4096

// defaultInputSchema is the schema of a function declared without
// parameters: Anthropic requires one.
var defaultInputSchema = json.RawMessage(`{"type":"object"}`)

// toAnthropicRequest converts an OpenAI chat request. Fields Anthropic has
// no equivalent for (n, seed, penalties, logprobs, response_format ...) are
// dropped. The errors say what the client must change.
func toAnthropicRequest(chat *oai.ChatRequest, model string, stream bool) (*messagesRequest, error) {
	if len(chat.Functions) > 0 || len(chat.FunctionCall) > 0 {
		return nil, errors.New("functions and function_call are not supported by Anthropic channels: use tools and tool_choice")
	}
	system, msgs, err := toAnthropicMessages(chat.Messages)
	if err != nil {
		return nil, err
	}
	stop, err := chat.StopSequences()
	if err != nil {
		return nil, fmt.Errorf("stop: %w", err)
	}
	mr := &messagesRequest{
		Model:         model,
		System:        system,
		Messages:      msgs,
		MaxTokens:     chat.MaxOutputTokens(),
		Temperature:   chat.Temperature,
		TopP:          chat.TopP,
		StopSequences: stop,
		Stream:        stream,
	}
	if mr.MaxTokens <= 0 {
		mr.MaxTokens = defaultMaxTokens
	}
	if chat.User != "" {
		mr.Metadata = &metadata{UserID: chat.User}
	}
	choice, err := toAnthropicToolChoice(chat.ToolChoice)
	if err != nil {
		return nil, err
	}
	if len(chat.Tools) > 0 {
		if mr.Tools, err = toAnthropicTools(chat.Tools); err != nil {
			return nil, err
		}
		if chat.ParallelToolCalls != nil && !*chat.ParallelToolCalls && (choice == nil || choice.Type != "none") {
			if choice == nil {
				choice = &toolChoice{Type: "auto"}
			}
			choice.DisableParallelToolUse = true
		}
		mr.ToolChoice = choice
	}
	return mr, nil
}

// toAnthropicMessages splits off the system prompt and converts the rest.
// Tool results become user turns, and consecutive turns of one role are
// merged: Anthropic requires user and assistant to alternate.
func toAnthropicMessages(in []oai.Message) (system string, out []message, err error) {
	var systems []string
	for i := range in {
		m := &in[i]
		role := m.Role
		var blocks []contentBlock
		switch m.Role {
		case "system", "developer":
			var text string
			if text, err = m.Text(); err != nil {
				return "", nil, fmt.Errorf("messages[%d]: %w", i, err)
			}
			if text != "" {
				systems = append(systems, text)
			}
			continue
		case "user":
			blocks, err = toAnthropicBlocks(m)
		case "assistant":
			blocks, err = toAnthropicAssistantBlocks(m)
		case "tool":
			role = "user"
			blocks, err = toAnthropicToolResult(m)
		default:
			err = fmt.Errorf("role %q is not supported by Anthropic channels", m.Role)
		}
		if err != nil {
			return "", nil, fmt.Errorf("messages[%d]: %w", i, err)
		}
		out = appendMessage(out, role, blocks)
	}
	return strings.Join(systems, "\n\n"), out, nil
}

// appendMessage adds blocks as a turn of role, or to the last turn if it has
// the same role. A turn without content is dropped: Anthropic rejects it.
func appendMessage(msgs []message, role string, blocks []contentBlock) []message {
	if len(blocks) == 0 {
		return msgs
	}
	if n := len(msgs); n > 0 && msgs[n-1].Role == role {
		msgs[n-1].Content = append(msgs[n-1].Content, blocks...)
		return msgs
	}
	return append(msgs, message{Role: role, Content: blocks})
}

// toAnthropicBlocks converts a message's text and image parts. Empty text is
// skipped: Anthropic rejects empty text blocks.
func toAnthropicBlocks(m *oai.Message) ([]contentBlock, error) {
	parts, err := m.Parts()
	if err != nil {
		return nil, err
	}
	var blocks []contentBlock
	for _, p := range parts {
		switch p.Type {
		case oai.PartText:
			if p.Text != "" {
				blocks = append(blocks, contentBlock{Type: "text", Text: p.Text})
			}
		case oai.PartImageURL:
			if p.ImageURL == nil {
				return nil, errors.New("image_url part without image_url")
			}
			src, err := toAnthropicImage(p.ImageURL.URL)
			if err != nil {
				return nil, err
			}
			blocks = append(blocks, contentBlock{Type: "image", Source: src})
		default:
			return nil, fmt.Errorf("content part type %q is not supported by Anthropic channels", p.Type)
		}
	}
	return blocks, nil
}

// toAnthropicImage converts an image_url: a base64 data URL is sent inline,
// an http(s) URL is passed on for Anthropic to fetch. The gateway never
// fetches a URL itself (that would let clients make it reach internal hosts).
func toAnthropicImage(u string) (*imageSource, error) {
	if rest, ok := strings.CutPrefix(u, "data:"); ok {
		meta, data, found := strings.Cut(rest, ",")
		mediaType, isBase64 := strings.CutSuffix(meta, ";base64")
		if !found || !isBase64 || mediaType == "" || data == "" {
			return nil, errors.New("image data URL must be data:<media type>;base64,<data>")
		}
		return &imageSource{Type: "base64", MediaType: mediaType, Data: data}, nil
	}
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return nil, errors.New("image_url must be an http(s) URL or a base64 data URL")
	}
	return &imageSource{Type: "url", URL: u}, nil
}

// toAnthropicAssistantBlocks converts an assistant turn: its text, then its
// tool calls as tool_use blocks.
func toAnthropicAssistantBlocks(m *oai.Message) ([]contentBlock, error) {
	blocks, err := toAnthropicBlocks(m)
	if err != nil {
		return nil, err
	}
	for i, tc := range m.ToolCalls {
		input, err := toolInput(tc.Function.Arguments)
		if err != nil {
			return nil, fmt.Errorf("tool_calls[%d]: %w", i, err)
		}
		blocks = append(blocks, contentBlock{Type: "tool_use", ID: tc.ID, Name: tc.Function.Name, Input: input})
	}
	return blocks, nil
}

// toolInput turns a tool call's arguments string into the JSON object
// Anthropic wants as input. Clients send "" for a call without arguments.
func toolInput(args string) (json.RawMessage, error) {
	args = strings.TrimSpace(args)
	if args == "" {
		return json.RawMessage(`{}`), nil
	}
	if args[0] != '{' || !json.Valid([]byte(args)) {
		return nil, errors.New("function arguments must be a JSON object")
	}
	return json.RawMessage(args), nil
}

// toAnthropicToolResult converts a tool message to a tool_result block.
func toAnthropicToolResult(m *oai.Message) ([]contentBlock, error) {
	if m.ToolCallID == "" {
		return nil, errors.New("tool message without tool_call_id")
	}
	content, err := toAnthropicBlocks(m)
	if err != nil {
		return nil, err
	}
	return []contentBlock{{Type: "tool_result", ToolUseID: m.ToolCallID, Content: content}}, nil
}

// toAnthropicTools converts function tools, the only kind Anthropic's
// client tools match.
func toAnthropicTools(tools []oai.Tool) ([]tool, error) {
	out := make([]tool, 0, len(tools))
	for i, t := range tools {
		if t.Type != "function" || t.Function == nil {
			return nil, fmt.Errorf("tools[%d]: tool type %q is not supported by Anthropic channels", i, t.Type)
		}
		schema := t.Function.Parameters
		if len(bytes.TrimSpace(schema)) == 0 || string(schema) == "null" {
			schema = defaultInputSchema
		}
		out = append(out, tool{Name: t.Function.Name, Description: t.Function.Description, InputSchema: schema})
	}
	return out, nil
}

// toAnthropicToolChoice converts tool_choice. "none" keeps the tools
// (a history with tool_use blocks needs them defined) and forbids their use.
func toAnthropicToolChoice(raw json.RawMessage) (*toolChoice, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("tool_choice: %w", err)
		}
		switch s {
		case "auto":
			return &toolChoice{Type: "auto"}, nil
		case "required":
			return &toolChoice{Type: "any"}, nil
		case "none":
			return &toolChoice{Type: "none"}, nil
		}
		return nil, fmt.Errorf("tool_choice %q is not supported", s)
	}
	var obj struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, fmt.Errorf("tool_choice: %w", err)
	}
	if obj.Type != "function" || obj.Function.Name == "" {
		return nil, errors.New(`tool_choice must be "none", "auto", "required" or {"type":"function","function":{"name":...}}`)
	}
	return &toolChoice{Type: "tool", Name: obj.Function.Name}, nil
}

// fromAnthropicResponse converts a reply to an OpenAI chat.completion.
func fromAnthropicResponse(m *messagesResponse, created int64) *oai.ChatResponse {
	var text strings.Builder
	var calls []oai.ToolCall
	for _, b := range m.Content {
		switch b.Type {
		case "text":
			text.WriteString(b.Text)
		case "tool_use":
			calls = append(calls, oai.ToolCall{
				ID:       b.ID,
				Type:     "function",
				Function: oai.FunctionCall{Name: b.Name, Arguments: compactArguments(b.Input)},
			})
		}
	}
	msg := oai.Message{Role: "assistant", Content: oai.TextContent(text.String()), ToolCalls: calls}
	if text.Len() == 0 && len(calls) > 0 {
		msg.Content = json.RawMessage("null") // as OpenAI answers a tool-calling turn
	}
	out := &oai.ChatResponse{
		ID:      m.ID,
		Object:  "chat.completion",
		Created: created,
		Model:   m.Model,
		Choices: []oai.ChatChoice{{Index: 0, Message: msg, FinishReason: finishReason(m.StopReason)}},
	}
	if m.Usage != nil {
		out.Usage = m.Usage.toOAI()
	}
	return out
}

// compactArguments returns a tool_use input as OpenAI's arguments string.
func compactArguments(input json.RawMessage) string {
	var b bytes.Buffer
	if len(input) == 0 || json.Compact(&b, input) != nil {
		return "{}"
	}
	return b.String()
}

// finishReason maps Anthropic's stop_reason to OpenAI's finish_reason.
func finishReason(stopReason string) string {
	switch stopReason {
	case "max_tokens":
		return "length"
	case "tool_use":
		return "tool_calls"
	case "refusal":
		return "content_filter"
	}
	return "stop" // end_turn, stop_sequence, pause_turn and future reasons
}
