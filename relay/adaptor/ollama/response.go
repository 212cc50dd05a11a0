package ollama

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"

	"oneapi/relay/adaptor"
	"oneapi/relay/oai"
)

const maxReply = 64 << 20

// reply is a /api/chat or /api/generate reply, or one line of their
// streams: chat carries message, generate response.
type reply struct {
	Model           string          `json:"model"`
	Message         *message        `json:"message"`
	Response        *string         `json:"response"`
	Thinking        string          `json:"thinking"`
	Done            bool            `json:"done"`
	DoneReason      string          `json:"done_reason"`
	PromptEvalCount *int            `json:"prompt_eval_count"`
	EvalCount       *int            `json:"eval_count"`
	Error           json.RawMessage `json:"error"`
}

func (r *reply) isError() bool { return len(r.Error) > 0 && string(r.Error) != "null" }

// usage is Ollama's own count: eval_count tokens written, prompt_eval_count
// tokens of prompt it evaluated (the part of a prompt it had cached is not
// counted by Ollama, nor billed here). Older servers leave
// prompt_eval_count out when the whole prompt was cached: then the
// gateway's count of the prompt is used. No eval_count, no usage reported.
func (r *reply) usage(req *adaptor.Request) adaptor.Usage {
	if r.EvalCount == nil {
		return adaptor.Usage{}
	}
	u := adaptor.Usage{Reported: true}
	u.Output = *r.EvalCount
	u.Input = req.PromptTokens
	if r.PromptEvalCount != nil {
		u.Input = *r.PromptEvalCount
	}
	return u
}

func finishReason(r string, toolCalls bool) string {
	switch {
	case toolCalls:
		return "tool_calls"
	case r == "length":
		return "length"
	}
	return "stop"
}

func wireUsage(u adaptor.Usage) *oai.Usage {
	if !u.Reported {
		return nil
	}
	return &oai.Usage{PromptTokens: u.Input, CompletionTokens: u.Output, TotalTokens: u.Input + u.Output}
}

func (a *Adaptor) readReply(resp *http.Response) (reply, []byte, error) {
	defer resp.Body.Close()
	body, err := adaptor.ReadBody(resp, maxReply)
	if err != nil {
		return reply{}, nil, adaptor.TransportError(err)
	}
	var r reply
	if err := json.Unmarshal(body, &r); err != nil {
		return reply{}, body, badReply("reply", body, err)
	}
	if r.isError() {
		return reply{}, body, errorFromBody(http.StatusBadGateway, resp.Header, body, requestKey(resp))
	}
	if !r.Done {
		return reply{}, body, badReply("reply (not done)", body, nil)
	}
	return r, body, nil
}

func (a *Adaptor) fromChat(req *adaptor.Request, resp *http.Response) ([]byte, adaptor.Usage, error) {
	r, body, err := a.readReply(resp)
	if err != nil {
		return nil, adaptor.Usage{}, err
	}
	if r.Message == nil {
		return nil, adaptor.Usage{}, badReply("chat reply", body, nil)
	}
	u := r.usage(req)
	calls := fromToolCalls(r.Message.ToolCalls, 0, false)
	msg := oai.Message{Role: "assistant", Content: oai.TextContent(r.Message.Content), ToolCalls: calls, ReasoningContent: r.Message.Thinking}
	if len(calls) > 0 && r.Message.Content == "" {
		msg.Content = json.RawMessage("null")
	}
	out := oai.ChatResponse{ID: "chatcmpl-" + a.newID(), Object: "chat.completion", Created: a.now().Unix(), Model: req.Model,
		Choices: []oai.ChatChoice{{Message: msg, FinishReason: finishReason(r.DoneReason, len(calls) > 0)}}, Usage: wireUsage(u)}
	b, err := json.Marshal(out)
	return b, u, err
}

// completion is OpenAI's text completion and its chunks.
type completion struct {
	ID      string             `json:"id"`
	Object  string             `json:"object"`
	Created int64              `json:"created"`
	Model   string             `json:"model"`
	Choices []completionChoice `json:"choices"`
	Usage   *oai.Usage         `json:"usage,omitempty"`
}

type completionChoice struct {
	Text         string          `json:"text"`
	Index        int             `json:"index"`
	Logprobs     json.RawMessage `json:"logprobs"`
	FinishReason *string         `json:"finish_reason"`
}

func (a *Adaptor) fromGenerate(req *adaptor.Request, resp *http.Response) ([]byte, adaptor.Usage, error) {
	r, body, err := a.readReply(resp)
	if err != nil {
		return nil, adaptor.Usage{}, err
	}
	if r.Response == nil {
		return nil, adaptor.Usage{}, badReply("generate reply", body, nil)
	}
	u := r.usage(req)
	fr := finishReason(r.DoneReason, false)
	out := completion{ID: "cmpl-" + a.newID(), Object: "text_completion", Created: a.now().Unix(), Model: req.Model,
		Choices: []completionChoice{{Text: *r.Response, FinishReason: &fr}}, Usage: wireUsage(u)}
	b, err := json.Marshal(out)
	return b, u, err
}

// fromEmbed turns /api/embed's {"embeddings":[[...]],"prompt_eval_count"}
// into OpenAI's list.
func (a *Adaptor) fromEmbed(req *adaptor.Request, resp *http.Response) ([]byte, adaptor.Usage, error) {
	defer resp.Body.Close()
	body, err := adaptor.ReadBody(resp, maxReply)
	if err != nil {
		return nil, adaptor.Usage{}, adaptor.TransportError(err)
	}
	var r struct {
		Embeddings      []json.RawMessage `json:"embeddings"`
		PromptEvalCount *int              `json:"prompt_eval_count"`
		Error           json.RawMessage   `json:"error"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.Embeddings == nil {
		if len(r.Error) > 0 {
			return nil, adaptor.Usage{}, errorFromBody(http.StatusBadGateway, resp.Header, body, requestKey(resp))
		}
		return nil, adaptor.Usage{}, badReply("embed reply", body, err)
	}
	var e oai.EmbeddingRequest
	_ = json.Unmarshal(req.Body, &e)
	type item struct {
		Object    string `json:"object"`
		Index     int    `json:"index"`
		Embedding any    `json:"embedding"`
	}
	items := make([]item, len(r.Embeddings))
	for i, v := range r.Embeddings {
		var emb any = v
		if len(v) == 0 || v[0] != '[' {
			return nil, adaptor.Usage{}, badReply("embedding", v, nil)
		}
		if e.EncodingFormat == "base64" {
			var fs []float32
			if err := json.Unmarshal(v, &fs); err != nil {
				return nil, adaptor.Usage{}, badReply("embedding", v, err)
			}
			buf := make([]byte, 4*len(fs))
			for j, f := range fs {
				binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(f))
			}
			emb = base64.StdEncoding.EncodeToString(buf)
		}
		items[i] = item{Object: "embedding", Index: i, Embedding: emb}
	}
	var u adaptor.Usage
	if r.PromptEvalCount != nil {
		u.Reported, u.Input = true, *r.PromptEvalCount
	}
	out := struct {
		Object string     `json:"object"`
		Data   []item     `json:"data"`
		Model  string     `json:"model"`
		Usage  *oai.Usage `json:"usage,omitempty"`
	}{"list", items, req.Model, wireUsage(u)}
	b, err := json.Marshal(out)
	return b, u, err
}
