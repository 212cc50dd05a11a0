package gemini

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"oneapi/pricing"
	"oneapi/relay/oai"
)

// UsageOf is u, what the request is billed for, in Gemini's counters.
func UsageOf(u pricing.Usage) *UsageMetadata {
	return &UsageMetadata{
		PromptTokenCount:        u.Input,
		CandidatesTokenCount:    max(u.Output-u.Reasoning, 0),
		ThoughtsTokenCount:      u.Reasoning,
		CachedContentTokenCount: u.CacheRead,
		TotalTokenCount:         u.Input + u.Output,
	}
}

// FinishReason maps OpenAI's finish_reason to Gemini's.
func FinishReason(finish string) string {
	switch finish {
	case "length":
		return "MAX_TOKENS"
	case "content_filter":
		return "SAFETY"
	}
	return "STOP"
}

// FromChat converts an OpenAI chat.completion to a generateContent reply:
// the first choice, its reasoning as a thought part, its text, its tool
// calls as functionCall parts; usage is what the request is billed for.
func FromChat(reply []byte, model string, u pricing.Usage) ([]byte, error) {
	var chat chatReply
	if err := json.Unmarshal(reply, &chat); err != nil {
		return nil, fmt.Errorf("chat reply: %w", err)
	}
	out := Response{Candidates: []Candidate{}, UsageMetadata: UsageOf(u), ModelVersion: model, ResponseID: chat.ID}
	if len(chat.Choices) > 0 {
		c := chat.Choices[0]
		cand := Candidate{Content: Content{Role: "model", Parts: []Part{}}, FinishReason: FinishReason(c.FinishReason)}
		if c.Message.ReasoningContent != "" {
			cand.Content.Parts = append(cand.Content.Parts, Part{Text: c.Message.ReasoningContent, Thought: true})
		}
		m := oai.Message{Content: c.Message.Content}
		if text, _ := m.Text(); text != "" {
			cand.Content.Parts = append(cand.Content.Parts, Part{Text: text})
		}
		for _, tc := range c.Message.ToolCalls {
			cand.Content.Parts = append(cand.Content.Parts, Part{FunctionCall: &FunctionCall{Name: tc.Function.Name, Args: callArgs(tc.Function.Arguments)}})
		}
		out.Candidates = append(out.Candidates, cand)
	}
	return json.Marshal(out)
}

// chatReply is what FromChat reads of a chat.completion.
type chatReply struct {
	ID      string `json:"id"`
	Choices []struct {
		Message struct {
			Content          json.RawMessage `json:"content"`
			ReasoningContent string          `json:"reasoning_content"`
			ToolCalls        []struct {
				Function struct {
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
}

// callArgs is a call's arguments as the JSON object Gemini wants; an
// upstream's arguments that are not one are kept as {"arguments": text}.
func callArgs(args string) json.RawMessage {
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

// Status is Google's status name for an HTTP status.
func Status(code int) string {
	switch code {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusMethodNotAllowed:
		return "INVALID_ARGUMENT"
	case http.StatusUnauthorized:
		return "UNAUTHENTICATED"
	case http.StatusForbidden:
		return "PERMISSION_DENIED"
	case http.StatusNotFound:
		return "NOT_FOUND"
	case http.StatusTooManyRequests:
		return "RESOURCE_EXHAUSTED"
	case http.StatusServiceUnavailable, http.StatusBadGateway:
		return "UNAVAILABLE"
	case http.StatusGatewayTimeout:
		return "DEADLINE_EXCEEDED"
	case 499:
		return "CANCELLED"
	}
	if code >= 400 && code < 500 {
		return "FAILED_PRECONDITION"
	}
	return "INTERNAL"
}

// ErrorBody is Google's error reply (and a stream's error event):
// {"error":{"code":...,"message":...,"status":...}}.
func ErrorBody(code int, status, msg string) []byte {
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"code": code, "message": msg, "status": status}})
	return b
}
