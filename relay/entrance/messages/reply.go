package messages

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"oneapi/pricing"
	"oneapi/relay/oai"
)

// UsageOf is u, what the request is billed for, in Anthropic's counters.
func UsageOf(u pricing.Usage) Usage {
	return Usage{
		InputTokens:              max(u.Input-u.CacheRead-u.CacheWrite, 0),
		OutputTokens:             u.Output,
		CacheReadInputTokens:     u.CacheRead,
		CacheCreationInputTokens: u.CacheWrite,
	}
}

// StopReason maps OpenAI's finish_reason to Anthropic's stop_reason.
func StopReason(finish string) string {
	switch finish {
	case "length":
		return "max_tokens"
	case "tool_calls", "function_call":
		return "tool_use"
	case "content_filter":
		return "refusal"
	}
	return "end_turn"
}

// FromChat converts an OpenAI chat.completion to a Messages reply: the
// first choice, its reasoning as a thinking block, its text, its tool
// calls as tool_use blocks; usage is what the request is billed for. An
// id "" is made from the completion's.
func FromChat(reply []byte, id, model string, u pricing.Usage) ([]byte, error) {
	var chat chatReply
	if err := json.Unmarshal(reply, &chat); err != nil {
		return nil, fmt.Errorf("chat reply: %w", err)
	}
	if id == "" {
		id = "msg_" + chat.ID
	}
	out := Response{ID: id, Type: "message", Role: "assistant", Model: model, Content: []Block{}, Usage: UsageOf(u)}
	stop := "end_turn"
	if len(chat.Choices) > 0 {
		c := chat.Choices[0]
		if c.Message.ReasoningContent != "" {
			out.Content = append(out.Content, Block{Type: "thinking", Thinking: c.Message.ReasoningContent})
		}
		m := oai.Message{Content: c.Message.Content}
		if text, _ := m.Text(); text != "" {
			out.Content = append(out.Content, Block{Type: "text", Text: text})
		}
		for _, tc := range c.Message.ToolCalls {
			out.Content = append(out.Content, Block{Type: "tool_use", ID: tc.ID, Name: tc.Function.Name, Input: toolInput(tc.Function.Arguments)})
		}
		stop = StopReason(c.FinishReason)
	}
	out.StopReason = &stop
	return json.Marshal(out)
}

// chatReply is what FromChat reads of a chat.completion (a lean type: the
// full oai.ChatResponse costs several times as much to decode).
type chatReply struct {
	ID      string `json:"id"`
	Choices []struct {
		Message struct {
			Content          json.RawMessage `json:"content"`
			ReasoningContent string          `json:"reasoning_content"`
			ToolCalls        []struct {
				ID       string `json:"id"`
				Function struct {
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
}

// toolInput is a call's arguments as the JSON object Anthropic wants; an
// upstream's arguments that are not one are kept as {"arguments": text}.
func toolInput(args string) json.RawMessage {
	args = strings.TrimSpace(args)
	if args == "" {
		return json.RawMessage(`{}`)
	}
	if args[0] == '{' && json.Valid([]byte(args)) {
		return json.RawMessage(args)
	}
	b, _ := json.Marshal(map[string]string{"arguments": args})
	return b
}

// ErrorType is Anthropic's error type for an HTTP status.
func ErrorType(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "invalid_request_error"
	case http.StatusUnauthorized:
		return "authentication_error"
	case http.StatusPaymentRequired:
		return "billing_error"
	case http.StatusForbidden:
		return "permission_error"
	case http.StatusNotFound:
		return "not_found_error"
	case http.StatusRequestEntityTooLarge:
		return "request_too_large"
	case http.StatusTooManyRequests:
		return "rate_limit_error"
	case http.StatusGatewayTimeout:
		return "timeout_error"
	case http.StatusServiceUnavailable, 529:
		return "overloaded_error"
	}
	if status >= 400 && status < 500 {
		return "invalid_request_error"
	}
	return "api_error"
}

// ErrorBody is Anthropic's error reply and error event:
// {"type":"error","error":{"type":...,"message":...},"request_id":...}.
func ErrorBody(typ, msg, requestID string) []byte {
	b, _ := json.Marshal(map[string]any{
		"type":       "error",
		"error":      map[string]string{"type": typ, "message": msg},
		"request_id": requestID,
	})
	return b
}
