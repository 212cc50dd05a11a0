package baidu

import (
	"encoding/json"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/convert"
	"oneapi/relay/oai"
)

// chatRequest is ERNIE v1's chat body.
type chatRequest struct {
	Messages        []message `json:"messages"`
	System          string    `json:"system,omitempty"`
	Temperature     *float64  `json:"temperature,omitempty"`
	TopP            *float64  `json:"top_p,omitempty"`
	Stop            []string  `json:"stop,omitempty"`
	MaxOutputTokens int       `json:"max_output_tokens,omitempty"`
	Stream          bool      `json:"stream,omitempty"`
	UserID          string    `json:"user_id,omitempty"`
}

type message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// chatResponse is a v1 reply, and each event of a v1 stream.
type chatResponse struct {
	ID           string `json:"id"`
	Result       string `json:"result"`
	IsEnd        bool   `json:"is_end"`
	IsTruncated  bool   `json:"is_truncated"`
	FinishReason string `json:"finish_reason"`
	Usage        *usage `json:"usage"`
	ErrorCode    int    `json:"error_code"`
	ErrorMsg     string `json:"error_msg"`
}

func (r *chatResponse) usage() adaptor.Usage {
	if r.Usage == nil {
		return adaptor.Usage{}
	}
	out := r.Usage.CompletionTokens
	if out == 0 && r.Usage.TotalTokens > r.Usage.PromptTokens {
		out = r.Usage.TotalTokens - r.Usage.PromptTokens
	}
	return convert.Tokens(r.Usage.PromptTokens, out)
}

type embeddingRequest struct {
	Input  []string `json:"input"`
	UserID string   `json:"user_id,omitempty"`
}

type embeddingResponse struct {
	Data []struct {
		Index     int       `json:"index"`
		Embedding []float64 `json:"embedding"`
	} `json:"data"`
	Usage     *usage `json:"usage"`
	ErrorCode int    `json:"error_code"`
	ErrorMsg  string `json:"error_msg"`
}

// toChatRequest converts an OpenAI chat body: system messages go to
// "system", the rest stay in order. ERNIE v1 takes text only and no tools
// (Qianfan v2 keys do: they are served in OpenAI's format).
func toChatRequest(body []byte) (*chatRequest, error) {
	cr, err := convert.ChatRequest(body)
	if err != nil {
		return nil, err
	}
	if err := convert.NoTools(cr, "Baidu ERNIE v1 (ClientId|ClientSecret key)"); err != nil {
		return nil, err
	}
	out := &chatRequest{Stream: cr.Stream, UserID: cr.User, MaxOutputTokens: cr.MaxOutputTokens()}
	for i := range cr.Messages {
		m := &cr.Messages[i]
		text, err := convert.Text(m, "Baidu ERNIE v1")
		if err != nil {
			return nil, err
		}
		switch m.Role {
		case "system", "developer":
			if out.System != "" {
				out.System += "\n"
			}
			out.System += text
		case "user", "assistant":
			out.Messages = append(out.Messages, message{Role: m.Role, Content: text})
		default:
			return nil, convert.ClientError("Baidu ERNIE v1 takes user and assistant messages, not %q", m.Role)
		}
	}
	if len(out.Messages) == 0 {
		return nil, convert.ClientError("Baidu ERNIE needs at least one user message")
	}
	// ERNIE takes temperature in (0, 1] and top_p in [0, 1].
	if t := cr.Temperature; t != nil {
		v := min(max(*t, 0.01), 1)
		out.Temperature = &v
	}
	if p := cr.TopP; p != nil {
		v := min(max(*p, 0), 1)
		out.TopP = &v
	}
	if out.Stop, err = cr.StopSequences(); err != nil {
		return nil, convert.ClientError("stop: %v", err)
	}
	return out, nil
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
	if ids > 0 {
		return nil, convert.ClientError("Baidu embeddings take text input, not token ids")
	}
	if len(texts) == 0 {
		return nil, convert.ClientError("input must not be empty")
	}
	return &embeddingRequest{Input: texts, UserID: er.User}, nil
}
