package tgi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/sse"
	"oneapi/relay/oai"
)

// maxEventSize bounds one SSE line: the last event carries the whole
// generated text.
const maxEventSize = 16 << 20

// Members of a /generate_stream event read: the token, and on the last
// event generated_text and details; an error event has error.
var (
	eventKeys = []string{"token", "generated_text", "details", "error"}
	tokenKeys = []string{"text", "special"}
)

// fromGenerateStream converts /generate_stream to OpenAI chat or
// completion chunks: a chunk per token (special tokens such as the end of
// sequence are not text), then one with the finish reason, then the usage
// chunk, from the last event's details. The normal end is the event with
// generated_text; an end of body before it, a read error or an error event
// ({"error","error_type"}) returns an error wrapping
// adaptor.ErrStreamTruncated.
func (a *Adaptor) fromGenerateStream(req *adaptor.Request, resp *http.Response, send func(adaptor.Event) error) (adaptor.Usage, error) {
	defer resp.Body.Close()
	br := sse.NewReader(resp.Body, maxEventSize)
	defer br.Close()
	s := &streamState{req: req, send: send, id: a.newID(), created: a.now().Unix()}
	for {
		ev, err := br.Next()
		switch {
		case err == io.EOF:
			return adaptor.Usage{}, fmt.Errorf("%w: end of body before the last token", adaptor.ErrStreamTruncated)
		case errors.Is(err, sse.ErrNotSSE):
			body, rerr := br.Body()
			if rerr != nil {
				return adaptor.Usage{}, fmt.Errorf("%w: %w", adaptor.ErrStreamTruncated, adaptor.TransportError(rerr))
			}
			return adaptor.Usage{}, fmt.Errorf("%w: %w", adaptor.ErrStreamTruncated, errorFromBody(http.StatusBadGateway, resp.Header, body, requestKey(resp)))
		case errors.Is(err, sse.ErrLineTooLong):
			return adaptor.Usage{}, fmt.Errorf("%w: %w", adaptor.ErrStreamTruncated, err)
		case err != nil:
			return adaptor.Usage{}, fmt.Errorf("%w: %w", adaptor.ErrStreamTruncated, adaptor.TransportError(err))
		}
		data := bytes.TrimSpace(ev.Data)
		if len(data) == 0 {
			continue
		}
		// Read without decoding: the token's text, a JSON string, goes into
		// the chunk as it came (it is one already), so a token costs a scan
		// and a copy (BenchmarkGenerateStream).
		var v [4][]byte
		if !adaptor.TopLevel(data, eventKeys, v[:]) {
			return adaptor.Usage{}, fmt.Errorf("%w: %w", adaptor.ErrStreamTruncated, badReply("stream event", data, nil))
		}
		if !adaptor.IsNull(v[3]) {
			return adaptor.Usage{}, fmt.Errorf("%w: %w", adaptor.ErrStreamTruncated, errorFromBody(0, nil, data, requestKey(resp)))
		}
		if !adaptor.IsNull(v[0]) {
			var t [2][]byte
			if !adaptor.TopLevel(v[0], tokenKeys, t[:]) || len(t[0]) < 2 || t[0][0] != '"' {
				return adaptor.Usage{}, fmt.Errorf("%w: %w", adaptor.ErrStreamTruncated, badReply("stream token", data, nil))
			}
			if string(t[1]) != "true" && len(t[0]) > 2 {
				if err := s.text(t[0]); err != nil {
					return adaptor.Usage{}, err
				}
			}
		}
		if !adaptor.IsNull(v[1]) {
			var d *generateDetails
			if !adaptor.IsNull(v[2]) {
				d = new(generateDetails)
				if err := json.Unmarshal(v[2], d); err != nil {
					return adaptor.Usage{}, fmt.Errorf("%w: %w", adaptor.ErrStreamTruncated, badReply("stream details", data, err))
				}
			}
			usage := generateUsage(req, resp.Header, d)
			fr := "stop"
			if d != nil {
				fr = finishReason(d.FinishReason)
			}
			if err := s.finish(fr, usage); err != nil {
				return usage, err
			}
			br.Drain()
			return usage, nil
		}
	}
}

// streamState writes one stream's chunks.
type streamState struct {
	req     *adaptor.Request
	send    func(adaptor.Event) error
	id      string
	created int64
	started bool
	prefix  []byte // a token chunk up to its text
	buf     []byte // the chunk being sent (send copies what it keeps)
}

func (s *streamState) completions() bool { return s.req.Mode == adaptor.ModeCompletions }

func (s *streamState) chunk(delta oai.Delta, text string, finish *string, usage *oai.Usage, usageOnly bool) error {
	var v any
	if s.completions() {
		c := completionResponse{ID: "cmpl-" + s.id, Object: "text_completion", Created: s.created, Model: s.req.Model, Usage: usage,
			Choices: []completionChoice{{Text: text, FinishReason: finish}}}
		if usageOnly {
			c.Choices = []completionChoice{}
		}
		v = c
	} else {
		c := oai.ChatChunk{ID: "chatcmpl-" + s.id, Object: "chat.completion.chunk", Created: s.created, Model: s.req.Model, Usage: usage,
			Choices: []oai.ChunkChoice{{Delta: delta, FinishReason: finish}}}
		if usageOnly {
			c.Choices = []oai.ChunkChoice{}
		}
		v = c
	}
	return s.send(adaptor.Event{Data: mustJSON(v), UsageOnly: usageOnly})
}

// text sends a chunk of one token's text, given as a JSON string literal.
func (s *streamState) text(lit []byte) error {
	if s.prefix == nil {
		model, _ := json.Marshal(s.req.Model)
		if s.completions() {
			s.prefix = fmt.Appendf(nil, `{"id":"cmpl-%s","object":"text_completion","created":%d,"model":%s,"choices":[{"text":`, s.id, s.created, model)
		} else {
			s.prefix = fmt.Appendf(nil, `{"id":"chatcmpl-%s","object":"chat.completion.chunk","created":%d,"model":%s,"choices":[{"index":0,"delta":{`, s.id, s.created, model)
		}
	}
	b := append(s.buf[:0], s.prefix...)
	if s.completions() {
		b = append(append(b, lit...), `,"index":0,"logprobs":null,"finish_reason":null}]}`...)
	} else {
		if !s.started {
			b = append(b, `"role":"assistant",`...)
		}
		b = append(append(append(b, `"content":`...), lit...), `},"finish_reason":null}]}`...)
	}
	s.started = true
	s.buf = b
	return s.send(adaptor.Event{Data: b})
}

func (s *streamState) finish(reason string, usage adaptor.Usage) error {
	d := oai.Delta{}
	if !s.started {
		d.Role = "assistant"
		s.started = true
	}
	if err := s.chunk(d, "", &reason, nil, false); err != nil {
		return err
	}
	if u := wireUsage(usage); u != nil {
		return s.chunk(oai.Delta{}, "", nil, u, true)
	}
	return nil
}
