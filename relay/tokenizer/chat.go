package tokenizer

import (
	"bytes"
	"context"
	"encoding/json"

	"oneapi/relay/oai"
)

// Per-message overhead, as One API's CountTokenMessages (from OpenAI's
// cookbook): every message is framed as <|start|>{role/name}\n{content}<|end|>\n.
const (
	tokensPerMessage = 3
	tokensPerName    = 1
	replyPriming     = 3 // every reply is primed with <|start|>assistant<|message|>
)

// Image estimates by declared detail
// (https://platform.openai.com/docs/guides/vision/calculating-costs): low
// detail is a flat 85; high and auto are priced as a 1024×1024 image,
// 4 tiles × 170 + 85. The true size would need fetching the image, which
// the gateway never does.
const (
	lowDetailImageTokens  = 85
	highDetailImageTokens = 765
)

// CountChat estimates the prompt tokens of msgs for model; it stops with
// ctx's error when ctx ends.
func CountChat(ctx context.Context, model string, msgs []oai.Message) (int, error) {
	c := counter{ctx: ctx, e: encoderFor(model)}
	n := 0
	for i := range msgs {
		m := &msgs[i]
		n += tokensPerMessage
		n += c.content(m.Content)
		n += c.str(m.Role)
		if m.Name != "" {
			n += tokensPerName + c.str(m.Name)
		}
		for _, tc := range m.ToolCalls {
			n += c.str(tc.Function.Name) + c.str(tc.Function.Arguments)
		}
	}
	return n + replyPriming, c.err
}

// CountChatRequest estimates the prompt tokens of a whole chat request: the
// messages plus the tool and function declarations, counted as JSON text.
func CountChatRequest(ctx context.Context, req *oai.ChatRequest) (int, error) {
	n, err := CountChat(ctx, req.Model, req.Messages)
	if err != nil {
		return 0, err
	}
	c := counter{ctx: ctx, e: encoderFor(req.Model)}
	if len(req.Tools) > 0 {
		if b, err := json.Marshal(req.Tools); err == nil {
			n += c.str(string(b))
		}
	}
	if len(req.Functions) > 0 {
		n += c.str(string(req.Functions))
	}
	return n, c.err
}

// counter counts strings until its context ends; then err is set and every
// further count is 0.
type counter struct {
	ctx context.Context
	e   *encoder
	err error
}

func (c *counter) str(s string) int {
	if s == "" || c.err != nil {
		return 0
	}
	n, err := c.e.count(c.ctx, s)
	c.err = err
	return n
}

// CountImage returns the estimate for one image of the given detail.
func CountImage(detail string) int {
	if detail == "low" {
		return lowDetailImageTokens
	}
	return highDetailImageTokens
}

// content counts a message content: a string, or text and image parts.
// Other parts (audio, files) are not estimated. Content that does not parse
// is counted as raw text rather than rejected: this is an estimate.
func (cn *counter) content(c json.RawMessage) int {
	e := cn.e
	c = bytes.TrimLeft(c, " \t\r\n")
	if len(c) == 0 || c[0] == 'n' { // absent or null
		return 0
	}
	if c[0] == '"' {
		// Look the JSON literal up before unquoting it: for a long system
		// prompt, json.Unmarshal costs more than the hash.
		h := e.cache.hashRaw(c)
		if n, ok := e.cache.get(h); ok {
			return n
		}
		var s string
		if err := json.Unmarshal(c, &s); err != nil {
			return cn.str(string(c))
		}
		n := cn.str(s)
		if cn.err == nil {
			e.cache.put(h, n)
		}
		return n
	}
	m := oai.Message{Content: c}
	parts, err := m.Parts()
	if err != nil {
		return cn.str(string(c))
	}
	n := 0
	for _, p := range parts {
		switch p.Type {
		case oai.PartText:
			n += cn.str(p.Text)
		case oai.PartImageURL:
			if p.ImageURL != nil {
				n += CountImage(p.ImageURL.Detail)
			}
		}
	}
	return n
}
