package tencent

import (
	"encoding/json"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/convert"
	"oneapi/relay/oai"
)

type chatRequest struct {
	Model       string    `json:"Model"`
	Messages    []message `json:"Messages"`
	Stream      bool      `json:"Stream"`
	TopP        *float64  `json:"TopP,omitempty"`
	Temperature *float64  `json:"Temperature,omitempty"`
	Stop        []string  `json:"Stop,omitempty"`
	Seed        *int64    `json:"Seed,omitempty"`
	Tools       []tool    `json:"Tools,omitempty"`
	ToolChoice  string    `json:"ToolChoice,omitempty"`
	CustomTool  *tool     `json:"CustomTool,omitempty"`
}

type message struct {
	Role       string     `json:"Role"`
	Content    string     `json:"Content,omitempty"`
	Contents   []content  `json:"Contents,omitempty"`
	ToolCalls  []toolCall `json:"ToolCalls,omitempty"`
	ToolCallID string     `json:"ToolCallId,omitempty"`
}

type content struct {
	Type     string    `json:"Type"`
	Text     string    `json:"Text,omitempty"`
	ImageURL *imageURL `json:"ImageUrl,omitempty"`
}

type imageURL struct {
	URL string `json:"Url"`
}

type tool struct {
	Type     string       `json:"Type"`
	Function toolFunction `json:"Function"`
}

type toolFunction struct {
	Name        string `json:"Name"`
	Description string `json:"Description,omitempty"`
	Parameters  string `json:"Parameters,omitempty"` // the JSON schema, as a string
}

type toolCall struct {
	ID       string `json:"Id"`
	Type     string `json:"Type"`
	Index    *int   `json:"Index,omitempty"`
	Function struct {
		Name      string `json:"Name"`
		Arguments string `json:"Arguments"`
	} `json:"Function"`
}

// toChatRequest converts an OpenAI chat body into ChatCompletions' shape.
func toChatRequest(body []byte, model string) (*chatRequest, error) {
	cr, err := convert.ChatRequest(body)
	if err != nil {
		return nil, err
	}
	out := &chatRequest{Model: model, Stream: cr.Stream, TopP: cr.TopP, Temperature: cr.Temperature, Seed: cr.Seed}
	if out.Stop, err = cr.StopSequences(); err != nil {
		return nil, convert.ClientError("stop: %v", err)
	}
	for _, t := range cr.Tools {
		if t.Type != "function" || t.Function == nil {
			return nil, convert.ClientError("Tencent Hunyuan takes function tools only")
		}
		out.Tools = append(out.Tools, tool{Type: "function", Function: toolFunction{Name: t.Function.Name, Description: t.Function.Description, Parameters: string(t.Function.Parameters)}})
	}
	if err := toolChoice(cr.ToolChoice, out); err != nil {
		return nil, err
	}
	for i := range cr.Messages {
		m := &cr.Messages[i]
		role := m.Role
		if role == "developer" {
			role = "system"
		}
		hm := message{Role: role, ToolCallID: m.ToolCallID}
		for _, tc := range m.ToolCalls {
			c := toolCall{ID: tc.ID, Type: "function"}
			c.Function.Name, c.Function.Arguments = tc.Function.Name, tc.Function.Arguments
			hm.ToolCalls = append(hm.ToolCalls, c)
		}
		parts, err := m.Parts()
		if err != nil {
			return nil, convert.ClientError("%v", err)
		}
		images := false
		for _, p := range parts {
			switch p.Type {
			case oai.PartText:
			case oai.PartImageURL:
				images = true
			default:
				return nil, convert.ClientError("Tencent Hunyuan channels take text and images, not %s content", p.Type)
			}
		}
		if images {
			for _, p := range parts {
				if p.Type == oai.PartImageURL && p.ImageURL != nil {
					hm.Contents = append(hm.Contents, content{Type: "image_url", ImageURL: &imageURL{URL: p.ImageURL.URL}})
				} else {
					hm.Contents = append(hm.Contents, content{Type: "text", Text: p.Text})
				}
			}
		} else {
			hm.Content, _ = m.Text()
		}
		out.Messages = append(out.Messages, hm)
	}
	return out, nil
}

// toolChoice maps "none", "auto", "required" and a named function.
func toolChoice(raw json.RawMessage, out *chatRequest) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		switch s {
		case "none", "auto":
			out.ToolChoice = s
		case "required": // Hunyuan has no "any tool"; auto is the closest
			out.ToolChoice = "auto"
		default:
			return convert.ClientError("tool_choice %q is not one Tencent Hunyuan takes", s)
		}
		return nil
	}
	var named struct {
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if json.Unmarshal(raw, &named) != nil || named.Function.Name == "" {
		return convert.ClientError("tool_choice is not understood")
	}
	for i := range out.Tools {
		if out.Tools[i].Function.Name == named.Function.Name {
			out.ToolChoice, out.CustomTool = "custom", &out.Tools[i]
			return nil
		}
	}
	return convert.ClientError("tool_choice names %q, which is not among the tools", named.Function.Name)
}

type embeddingRequest struct {
	InputList []string `json:"InputList"`
}

func toEmbeddingRequest(body []byte) (*embeddingRequest, error) {
	var er oai.EmbeddingRequest
	if err := json.Unmarshal(body, &er); err != nil {
		return nil, convert.ClientError("the request body is not an embeddings request: %v", err)
	}
	texts, ids, err := er.ParseInput()
	if err != nil {
		return nil, convert.ClientError("input: %v", err)
	}
	if ids > 0 || len(texts) == 0 {
		return nil, convert.ClientError("Tencent Hunyuan embeddings take text input")
	}
	return &embeddingRequest{InputList: texts}, nil
}

type usage struct {
	PromptTokens     int `json:"PromptTokens"`
	CompletionTokens int `json:"CompletionTokens"`
	TotalTokens      int `json:"TotalTokens"`
}

func (u *usage) toUsage() adaptor.Usage {
	if u == nil {
		return adaptor.Usage{}
	}
	return convert.Tokens(u.PromptTokens, u.CompletionTokens)
}

type respMessage struct {
	Role      string     `json:"Role"`
	Content   string     `json:"Content"`
	ToolCalls []toolCall `json:"ToolCalls"`
}

func (m *respMessage) toOpenAI() oai.Message {
	msg := oai.Message{Role: "assistant"}
	for _, tc := range m.ToolCalls {
		msg.ToolCalls = append(msg.ToolCalls, oai.ToolCall{ID: tc.ID, Type: "function",
			Function: oai.FunctionCall{Name: tc.Function.Name, Arguments: tc.Function.Arguments}})
	}
	if m.Content != "" || len(msg.ToolCalls) == 0 {
		msg.Content = oai.TextContent(m.Content)
	}
	return msg
}

func (m *respMessage) delta() oai.Delta {
	d := oai.Delta{Content: m.Content}
	for _, tc := range m.ToolCalls {
		d.ToolCalls = append(d.ToolCalls, oai.ToolCall{Index: tc.Index, ID: tc.ID, Type: tc.Type,
			Function: oai.FunctionCall{Name: tc.Function.Name, Arguments: tc.Function.Arguments}})
	}
	return d
}

type apiErr struct {
	Code    string `json:"Code"`
	Message string `json:"Message"`
}

// response is the Response member of a reply, and also (without the
// envelope) each event of a stream.
type response struct {
	ID      string `json:"Id"`
	Choices []struct {
		FinishReason string      `json:"FinishReason"`
		Message      respMessage `json:"Message"`
		Delta        respMessage `json:"Delta"`
	} `json:"Choices"`
	Data []struct {
		Index     int       `json:"Index"`
		Embedding []float64 `json:"Embedding"`
	} `json:"Data"`
	Usage *usage  `json:"Usage"`
	Error *apiErr `json:"Error"`
	// ErrorMsg is how a stream event reports a failure.
	ErrorMsg *struct {
		Code int    `json:"Code"`
		Msg  string `json:"Msg"`
	} `json:"ErrorMsg"`
}
