package cohere

import (
	"bytes"
	"encoding/json"
	"strings"

	"oneapi/relay/adaptor"
	"oneapi/relay/oai"
)

// chatRequest is POST /v2/chat.
type chatRequest struct {
	Model            string          `json:"model"`
	Messages         []message       `json:"messages"`
	Tools            []oai.Tool      `json:"tools,omitempty"`
	ToolChoice       string          `json:"tool_choice,omitempty"` // REQUIRED or NONE
	Stream           bool            `json:"stream"`
	MaxTokens        *int            `json:"max_tokens,omitempty"`
	Temperature      *float64        `json:"temperature,omitempty"`
	P                *float64        `json:"p,omitempty"`
	StopSequences    []string        `json:"stop_sequences,omitempty"`
	Seed             *int64          `json:"seed,omitempty"`
	FrequencyPenalty *float64        `json:"frequency_penalty,omitempty"`
	PresencePenalty  *float64        `json:"presence_penalty,omitempty"`
	ResponseFormat   *responseFormat `json:"response_format,omitempty"`
}

type responseFormat struct {
	Type       string          `json:"type"` // json_object
	JSONSchema json.RawMessage `json:"json_schema,omitempty"`
}

// message is a v2 chat message. Content is a string or a list of parts
// (text, image_url) as OpenAI's; Cohere's tool calls have OpenAI's shape.
type message struct {
	Role       string          `json:"role"`
	Content    json.RawMessage `json:"content,omitempty"`
	ToolCalls  []oai.ToolCall  `json:"tool_calls,omitempty"`
	ToolCallID string          `json:"tool_call_id,omitempty"`
}

func toChatRequest(req *adaptor.Request) ([]byte, error) {
	var chat oai.ChatRequest
	if err := json.Unmarshal(req.Body, &chat); err != nil {
		return nil, clientError("invalid_request", "invalid chat request: %v", err)
	}
	if chat.N != nil && *chat.N > 1 {
		return nil, clientError("unsupported_parameter", "n > 1 is not supported by Cohere.")
	}
	out := chatRequest{Model: req.Model, Stream: req.Stream, Tools: chat.Tools, MaxTokens: chat.MaxTokens,
		Temperature: chat.Temperature, P: chat.TopP, Seed: chat.Seed, FrequencyPenalty: chat.FrequencyPenalty, PresencePenalty: chat.PresencePenalty}
	if out.Model == "" {
		out.Model = chat.Model
	}
	if n := chat.MaxOutputTokens(); n > 0 {
		out.MaxTokens = &n
	}
	for i, m := range chat.Messages {
		cm := message{Role: m.Role, ToolCallID: m.ToolCallID}
		switch m.Role {
		case "system", "developer":
			cm.Role = "system"
		case "user", "assistant", "tool":
		default:
			return nil, clientError("invalid_message", "messages[%d]: role %q is not supported by Cohere.", i, m.Role)
		}
		parts, err := m.Parts()
		if err != nil {
			return nil, clientError("invalid_message", "messages[%d]: %v", i, err)
		}
		switch {
		case len(parts) == 0:
		case m.Role == "user":
			for _, p := range parts {
				if p.Type != oai.PartText && p.Type != oai.PartImageURL {
					return nil, clientError("unsupported_content", "messages[%d]: %s content is not supported by Cohere.", i, p.Type)
				}
			}
			cm.Content = m.Content
		default:
			// System, assistant and tool messages take text.
			text, _ := m.Text()
			cm.Content = oai.TextContent(text)
		}
		for _, tc := range m.ToolCalls {
			tc.Index = nil
			if tc.Type == "" {
				tc.Type = "function"
			}
			cm.ToolCalls = append(cm.ToolCalls, tc)
		}
		out.Messages = append(out.Messages, cm)
	}
	switch tc := strings.Trim(string(bytes.TrimSpace(chat.ToolChoice)), `"`); {
	case tc == "required" || strings.HasPrefix(tc, "{"):
		out.ToolChoice = "REQUIRED" // Cohere cannot name the one function: it must call one
	case tc == "none":
		out.ToolChoice = "NONE"
	}
	if rf := chat.ResponseFormat; rf != nil {
		switch rf.Type {
		case "json_object":
			out.ResponseFormat = &responseFormat{Type: "json_object"}
		case "json_schema":
			var js struct {
				Schema json.RawMessage `json:"schema"`
			}
			_ = json.Unmarshal(rf.JSONSchema, &js)
			out.ResponseFormat = &responseFormat{Type: "json_object", JSONSchema: js.Schema}
		}
	}
	stop, err := chat.StopSequences()
	if err != nil {
		return nil, clientError("invalid_request", "stop: %v", err)
	}
	out.StopSequences = stop
	return json.Marshal(out)
}

// chatResponse is a /v2/chat reply.
type chatResponse struct {
	ID           string `json:"id"`
	FinishReason string `json:"finish_reason"`
	Message      *struct {
		Content   []contentPart  `json:"content"`
		ToolPlan  string         `json:"tool_plan"`
		ToolCalls []oai.ToolCall `json:"tool_calls"`
	} `json:"message"`
	Usage *usage `json:"usage"`
}

type contentPart struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	Thinking string `json:"thinking"`
}

// usage is Cohere's: billed_units is what it charges, tokens what the
// model read and wrote (the template included).
type usage struct {
	BilledUnits *struct {
		InputTokens  *float64 `json:"input_tokens"`
		OutputTokens *float64 `json:"output_tokens"`
		SearchUnits  *float64 `json:"search_units"`
	} `json:"billed_units"`
	Tokens *struct {
		InputTokens  *float64 `json:"input_tokens"`
		OutputTokens *float64 `json:"output_tokens"`
	} `json:"tokens"`
	CachedTokens float64 `json:"cached_tokens"`
}

// toUsage prefers billed_units, then tokens.
func (u *usage) toUsage() adaptor.Usage {
	if u == nil {
		return adaptor.Usage{}
	}
	var in, out *float64
	if b := u.BilledUnits; b != nil {
		in, out = b.InputTokens, b.OutputTokens
	}
	if t := u.Tokens; t != nil && in == nil && out == nil {
		in, out = t.InputTokens, t.OutputTokens
	}
	if in == nil && out == nil {
		return adaptor.Usage{}
	}
	r := adaptor.Usage{Reported: true}
	if in != nil {
		r.Input = int(*in)
	}
	if out != nil {
		r.Output = int(*out)
	}
	return r
}

func finishReason(r string) string {
	switch r {
	case "MAX_TOKENS":
		return "length"
	case "TOOL_CALL":
		return "tool_calls"
	case "ERROR_TOXIC":
		return "content_filter"
	}
	return "stop"
}

func (a *Adaptor) fromChat(req *adaptor.Request, body []byte) ([]byte, adaptor.Usage, error) {
	var r chatResponse
	if err := json.Unmarshal(body, &r); err != nil || r.Message == nil {
		return nil, adaptor.Usage{}, badReply("chat reply", body, err)
	}
	var text, thinking strings.Builder
	for _, p := range r.Message.Content {
		switch p.Type {
		case "text":
			text.WriteString(p.Text)
		case "thinking":
			thinking.WriteString(p.Thinking)
		}
	}
	if thinking.Len() == 0 && r.Message.ToolPlan != "" {
		thinking.WriteString(r.Message.ToolPlan)
	}
	msg := oai.Message{Role: "assistant", Content: oai.TextContent(text.String()), ReasoningContent: thinking.String()}
	for _, tc := range r.Message.ToolCalls {
		tc.Index = nil
		if tc.Type == "" {
			tc.Type = "function"
		}
		msg.ToolCalls = append(msg.ToolCalls, tc)
	}
	if len(msg.ToolCalls) > 0 && text.Len() == 0 {
		msg.Content = json.RawMessage("null")
	}
	u := r.Usage.toUsage()
	out := oai.ChatResponse{ID: r.ID, Object: "chat.completion", Created: a.now().Unix(), Model: req.Model,
		Choices: []oai.ChatChoice{{Message: msg, FinishReason: finishReason(r.FinishReason)}}, Usage: wireUsage(u)}
	b, err := json.Marshal(out)
	return b, u, err
}
