package ali

import (
	"encoding/json"
	"strings"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/convert"
	"oneapi/relay/oai"
)

// enableSearchSuffix on a model name turns on DashScope's web search (One
// API's convention).
const enableSearchSuffix = "-internet"

type chatRequest struct {
	Model      string     `json:"model"`
	Input      chatInput  `json:"input"`
	Parameters parameters `json:"parameters"`
}

type chatInput struct {
	Messages []message `json:"messages"`
}

// message is a DashScope message: content is a string, or for
// multimodal-generation a list of {"text"} and {"image"} parts.
type message struct {
	Role       string         `json:"role"`
	Content    any            `json:"content"`
	Name       string         `json:"name,omitempty"`
	ToolCalls  []oai.ToolCall `json:"tool_calls,omitempty"`
	ToolCallID string         `json:"tool_call_id,omitempty"`
}

type part struct {
	Text  string `json:"text,omitempty"`
	Image string `json:"image,omitempty"`
}

type parameters struct {
	ResultFormat      string              `json:"result_format"`
	IncrementalOutput bool                `json:"incremental_output,omitempty"`
	MaxTokens         int                 `json:"max_tokens,omitempty"`
	Temperature       *float64            `json:"temperature,omitempty"`
	TopP              *float64            `json:"top_p,omitempty"`
	PresencePenalty   *float64            `json:"presence_penalty,omitempty"`
	Seed              *int64              `json:"seed,omitempty"`
	Stop              []string            `json:"stop,omitempty"`
	EnableSearch      bool                `json:"enable_search,omitempty"`
	Tools             []oai.Tool          `json:"tools,omitempty"`
	ToolChoice        json.RawMessage     `json:"tool_choice,omitempty"`
	ResponseFormat    *oai.ResponseFormat `json:"response_format,omitempty"`
}

// toChatRequest converts an OpenAI chat body. A message with image parts
// makes it a multimodal-generation call (qwen-vl and the like); audio and
// files are refused.
func toChatRequest(body []byte, model string) (*chatRequest, bool, error) {
	cr, err := convert.ChatRequest(body)
	if err != nil {
		return nil, false, err
	}
	out := &chatRequest{Model: model, Parameters: parameters{
		ResultFormat: "message", IncrementalOutput: cr.Stream, MaxTokens: cr.MaxOutputTokens(),
		Temperature: cr.Temperature, PresencePenalty: cr.PresencePenalty, Seed: cr.Seed,
		Tools: cr.Tools, ToolChoice: cr.ToolChoice, ResponseFormat: cr.ResponseFormat,
	}}
	if m, ok := strings.CutSuffix(model, enableSearchSuffix); ok {
		out.Model, out.Parameters.EnableSearch = m, true
	}
	if p := cr.TopP; p != nil {
		v := min(*p, 0.9999) // DashScope takes top_p in (0, 1)
		out.Parameters.TopP = &v
	}
	if out.Parameters.Stop, err = cr.StopSequences(); err != nil {
		return nil, false, convert.ClientError("stop: %v", err)
	}
	multimodal := false
	for i := range cr.Messages {
		parts, err := cr.Messages[i].Parts()
		if err != nil {
			return nil, false, convert.ClientError("%v", err)
		}
		for _, p := range parts {
			switch p.Type {
			case oai.PartText:
			case oai.PartImageURL:
				multimodal = true
			default:
				return nil, false, convert.ClientError("Ali DashScope channels take text and images, not %s content", p.Type)
			}
		}
	}
	for i := range cr.Messages {
		m := &cr.Messages[i]
		role := m.Role
		if role == "developer" {
			role = "system"
		}
		dm := message{Role: role, Name: m.Name, ToolCalls: m.ToolCalls, ToolCallID: m.ToolCallID}
		parts, _ := m.Parts()
		if multimodal {
			ps := make([]part, 0, len(parts))
			for _, p := range parts {
				if p.Type == oai.PartImageURL && p.ImageURL != nil {
					ps = append(ps, part{Image: p.ImageURL.URL})
				} else {
					ps = append(ps, part{Text: p.Text})
				}
			}
			dm.Content = ps
		} else {
			text, _ := m.Text()
			dm.Content = text
		}
		out.Input.Messages = append(out.Input.Messages, dm)
	}
	return out, multimodal, nil
}

type usage struct {
	InputTokens         int `json:"input_tokens"`
	OutputTokens        int `json:"output_tokens"`
	TotalTokens         int `json:"total_tokens"`
	PromptTokensDetails *struct {
		CachedTokens int `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
	OutputTokensDetails *struct {
		ReasoningTokens int `json:"reasoning_tokens"`
	} `json:"output_tokens_details"`
}

func (u *usage) toUsage() adaptor.Usage {
	if u == nil {
		return adaptor.Usage{}
	}
	out := convert.Tokens(u.InputTokens, u.OutputTokens)
	if u.PromptTokensDetails != nil {
		out.CacheRead = u.PromptTokensDetails.CachedTokens
	}
	if u.OutputTokensDetails != nil {
		out.Reasoning = u.OutputTokensDetails.ReasoningTokens
	}
	out.Normalize()
	return out
}

type respMessage struct {
	Role             string          `json:"role"`
	Content          json.RawMessage `json:"content"`
	ReasoningContent string          `json:"reasoning_content"`
	ToolCalls        []oai.ToolCall  `json:"tool_calls"`
}

// text reads content: a string, or multimodal parts [{"text":...}].
func (m *respMessage) text() (string, error) {
	c := strings.TrimSpace(string(m.Content))
	if c == "" || c == "null" {
		return "", nil
	}
	if c[0] == '"' {
		var s string
		err := json.Unmarshal(m.Content, &s)
		return s, err
	}
	var parts []part
	if err := json.Unmarshal(m.Content, &parts); err != nil {
		return "", err
	}
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(p.Text)
	}
	return b.String(), nil
}

func (m *respMessage) toOpenAI() (oai.Message, error) {
	text, err := m.text()
	if err != nil {
		return oai.Message{}, err
	}
	msg := oai.Message{Role: "assistant", ReasoningContent: m.ReasoningContent}
	for _, tc := range m.ToolCalls {
		tc.Index = nil
		if tc.Type == "" {
			tc.Type = "function"
		}
		msg.ToolCalls = append(msg.ToolCalls, tc)
	}
	if text != "" || len(msg.ToolCalls) == 0 {
		msg.Content = oai.TextContent(text)
	}
	return msg, nil
}

type chatResponse struct {
	Output struct {
		Choices []struct {
			FinishReason string      `json:"finish_reason"`
			Message      respMessage `json:"message"`
		} `json:"choices"`
	} `json:"output"`
	Usage     *usage `json:"usage"`
	RequestID string `json:"request_id"`
	Code      string `json:"code"`
	Message   string `json:"message"`
}

type embeddingRequest struct {
	Model string `json:"model"`
	Input struct {
		Texts []string `json:"texts"`
	} `json:"input"`
	Parameters *embeddingParameters `json:"parameters,omitempty"`
}

type embeddingParameters struct {
	Dimension int `json:"dimension,omitempty"`
}

type embeddingResponse struct {
	Output struct {
		Embeddings []struct {
			TextIndex int       `json:"text_index"`
			Embedding []float64 `json:"embedding"`
		} `json:"embeddings"`
	} `json:"output"`
	Usage struct {
		TotalTokens int `json:"total_tokens"`
	} `json:"usage"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func toEmbeddingRequest(body []byte, model string) (*embeddingRequest, error) {
	var er oai.EmbeddingRequest
	if err := json.Unmarshal(body, &er); err != nil {
		return nil, convert.ClientError("the request body is not an embeddings request: %v", err)
	}
	texts, ids, err := er.ParseInput()
	if err != nil {
		return nil, convert.ClientError("input: %v", err)
	}
	if ids > 0 || len(texts) == 0 {
		return nil, convert.ClientError("Ali DashScope embeddings take text input")
	}
	out := &embeddingRequest{Model: model}
	out.Input.Texts = texts
	if er.Dimensions != nil {
		out.Parameters = &embeddingParameters{Dimension: *er.Dimensions}
	}
	return out, nil
}
