// Package ali is the adaptor for Alibaba Tongyi Qianwen (type 17) channels
// on DashScope's native API: chat and stream (text-generation, or
// multimodal-generation when a message carries images), tools, embeddings,
// and image generation as DashScope's asynchronous tasks (submitted, then
// polled until done). The key is a DashScope API key; config "plugin" is
// sent as X-DashScope-Plugin, as One API does, and a model name ending in
// "-internet" turns on enable_search. Importing the package registers it
// for adaptor.TypeAli.
package ali

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/convert"
)

func init() {
	adaptor.Register(New(), adaptor.TypeAli)
}

// Adaptor is the DashScope adaptor.
type Adaptor struct {
	poll pollPolicy
}

var _ adaptor.Adaptor = (*Adaptor)(nil)

// New returns the adaptor.
func New() *Adaptor { return &Adaptor{poll: defaultPoll} }

// callKey carries, in the request's context, what the Decode methods need
// to know about the call.
type callKey struct{}

type call struct {
	ch         *adaptor.Channel
	multimodal bool
}

// NewRequest builds the DashScope call for the mode.
func (a *Adaptor) NewRequest(ctx context.Context, ch *adaptor.Channel, req *adaptor.Request) (*http.Request, error) {
	base, err := convert.BaseURL(ch)
	if err != nil {
		return nil, err
	}
	c := &call{ch: ch}
	var (
		path string
		body any
	)
	switch req.Mode {
	case adaptor.ModeChat:
		var cr *chatRequest
		cr, c.multimodal, err = toChatRequest(req.Body, req.Model)
		body, path = cr, "/api/v1/services/aigc/text-generation/generation"
		if c.multimodal {
			path = "/api/v1/services/aigc/multimodal-generation/generation"
		}
	case adaptor.ModeEmbeddings:
		body, err = toEmbeddingRequest(req.Body, req.Model)
		path = "/api/v1/services/embeddings/text-embedding/text-embedding"
	case adaptor.ModeImages:
		body, err = toImageRequest(req.Body, req.Model)
		path = "/api/v1/services/aigc/text2image/image-synthesis"
	default:
		return nil, convert.Unsupported("Ali DashScope", req.Mode)
	}
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode DashScope request: %w", err)
	}
	ctx = context.WithValue(ctx, callKey{}, c)
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, base.String()+path, bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("build upstream request: %w", err)
	}
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Authorization", "Bearer "+ch.Key)
	if req.Stream && req.Mode == adaptor.ModeChat {
		r.Header.Set("Accept", "text/event-stream")
		r.Header.Set("X-DashScope-SSE", "enable")
	}
	if req.Mode == adaptor.ModeImages {
		r.Header.Set("X-DashScope-Async", "enable")
	}
	if p := strings.TrimSpace(ch.Config["plugin"]); p != "" {
		r.Header.Set("X-DashScope-Plugin", p)
	}
	return r, nil
}

func callOf(resp *http.Response) *call {
	if resp != nil && resp.Request != nil {
		if c, ok := resp.Request.Context().Value(callKey{}).(*call); ok {
			return c
		}
	}
	return &call{ch: &adaptor.Channel{}}
}

// DecodeResponse reads a chat or embeddings reply, or an image task's
// submission, which it then polls until the task is done.
func (a *Adaptor) DecodeResponse(req *adaptor.Request, resp *http.Response) ([]byte, adaptor.Usage, error) {
	c := callOf(resp)
	body, err := convert.ReadReply(resp)
	if err != nil {
		return nil, adaptor.Usage{}, err
	}
	switch req.Mode {
	case adaptor.ModeChat:
		return decodeChat(req, c, body)
	case adaptor.ModeEmbeddings:
		return decodeEmbeddings(req, c, body)
	case adaptor.ModeImages:
		return a.decodeImageTask(resp.Request.Context(), c, body)
	}
	return nil, adaptor.Usage{}, convert.Unsupported("Ali DashScope", req.Mode)
}

func decodeChat(req *adaptor.Request, c *call, body []byte) ([]byte, adaptor.Usage, error) {
	var cr chatResponse
	if err := json.Unmarshal(body, &cr); err != nil {
		return nil, adaptor.Usage{}, convert.BadReply("DashScope", body)
	}
	if cr.Code != "" {
		return nil, adaptor.Usage{}, apiError(http.StatusBadGateway, nil, cr.Code, cr.Message, c.ch.Key)
	}
	if len(cr.Output.Choices) == 0 {
		return nil, adaptor.Usage{}, convert.BadReply("DashScope", body)
	}
	choice := cr.Output.Choices[0]
	msg, err := choice.Message.toOpenAI()
	if err != nil {
		return nil, adaptor.Usage{}, convert.BadReply("DashScope", body)
	}
	usage := cr.Usage.toUsage()
	out, err := convert.Reply("chatcmpl-"+idOr(cr.RequestID), req.Model, msg, finishReason(choice.FinishReason, len(msg.ToolCalls) > 0), usage)
	return out, usage, err
}

func decodeEmbeddings(req *adaptor.Request, c *call, body []byte) ([]byte, adaptor.Usage, error) {
	var er embeddingResponse
	if err := json.Unmarshal(body, &er); err != nil {
		return nil, adaptor.Usage{}, convert.BadReply("DashScope", body)
	}
	if er.Code != "" {
		return nil, adaptor.Usage{}, apiError(http.StatusBadGateway, nil, er.Code, er.Message, c.ch.Key)
	}
	if len(er.Output.Embeddings) == 0 {
		return nil, adaptor.Usage{}, convert.BadReply("DashScope", body)
	}
	vectors := make([][]float64, len(er.Output.Embeddings))
	for i, e := range er.Output.Embeddings {
		idx := e.TextIndex
		if idx < 0 || idx >= len(vectors) {
			idx = i
		}
		vectors[idx] = e.Embedding
	}
	usage := convert.Tokens(er.Usage.TotalTokens, 0)
	var opts struct {
		EncodingFormat string `json:"encoding_format"`
	}
	_ = json.Unmarshal(req.Body, &opts)
	out, err := convert.Embeddings(req.Model, vectors, opts.EncodingFormat, usage)
	return out, usage, err
}

func idOr(id string) string {
	if id != "" {
		return id
	}
	return convert.ID()
}

// finishReason maps DashScope's finish_reason ("stop", "length",
// "tool_calls", "null" while running) to OpenAI's.
func finishReason(reason string, calledTools bool) string {
	switch reason {
	case "length":
		return "length"
	case "tool_calls", "function_call":
		return "tool_calls"
	case "content_filter":
		return "content_filter"
	}
	if calledTools {
		return "tool_calls"
	}
	return "stop"
}
