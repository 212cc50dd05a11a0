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

// streamEvent is one event of /generate_stream: a token, the last one with
// generated_text and details, or an error.
type streamEvent struct {
	Token *struct {
		Text    string `json:"text"`
		Special bool   `json:"special"`
	} `json:"token"`
	GeneratedText *string          `json:"generated_text"`
	Details       *generateDetails `json:"details"`
	Error         json.RawMessage  `json:"error"`
}

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
		var e streamEvent
		if err := json.Unmarshal(data, &e); err != nil {
			return adaptor.Usage{}, fmt.Errorf("%w: %w", adaptor.ErrStreamTruncated, badReply("stream event", data, err))
		}
		if len(e.Error) > 0 && string(e.Error) != "null" {
			return adaptor.Usage{}, fmt.Errorf("%w: %w", adaptor.ErrStreamTruncated, errorFromBody(0, nil, data, requestKey(resp)))
		}
		if e.Token != nil && !e.Token.Special && e.Token.Text != "" {
			if err := s.text(e.Token.Text); err != nil {
				return adaptor.Usage{}, err
			}
		}
		if e.GeneratedText != nil {
			usage := generateUsage(req, resp.Header, e.Details)
			fr := "stop"
			if e.Details != nil {
				fr = finishReason(e.Details.FinishReason)
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

func (s *streamState) text(t string) error {
	d := oai.Delta{Content: t}
	if !s.started {
		d.Role = "assistant"
		s.started = true
	}
	return s.chunk(d, t, nil, nil, false)
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
