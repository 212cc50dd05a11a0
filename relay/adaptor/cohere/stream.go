package cohere

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

const maxEventSize = 16 << 20

// streamEvent is one v2 chat stream event, told apart by type. In
// message-start, content and tool_calls are empty arrays; in the delta
// events, one object: they are read when they are objects.
type streamEvent struct {
	Type  string `json:"type"`
	ID    string `json:"id"`
	Index int    `json:"index"`
	Delta *struct {
		Message *struct {
			Content   json.RawMessage `json:"content"`
			ToolPlan  string          `json:"tool_plan"`
			ToolCalls json.RawMessage `json:"tool_calls"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
		Usage        *usage `json:"usage"`
		Error        string `json:"error"`
	} `json:"delta"`
}

type contentDelta struct {
	Text     string `json:"text"`
	Thinking string `json:"thinking"`
}

type toolCallDelta struct {
	ID       string `json:"id"`
	Function *struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

// object decodes raw into v when it is a JSON object.
func object(raw json.RawMessage, v any) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '{' && json.Unmarshal(raw, v) == nil
}

// DecodeStream converts the v2 chat stream: message-start opens the
// message; content-delta (text or thinking), tool-plan-delta (as reasoning),
// tool-call-start and tool-call-delta become chunk deltas; message-end
// brings the finish reason and the usage (billed_units). The normal end is
// message-end; an end of body before it, a read error, an event that is not
// JSON or a message-end that reports an ERROR return an error wrapping
// adaptor.ErrStreamTruncated. citation and debug events are not passed on.
func (a *Adaptor) DecodeStream(req *adaptor.Request, resp *http.Response, send func(adaptor.Event) error) (adaptor.Usage, error) {
	defer resp.Body.Close()
	br := sse.NewReader(resp.Body, maxEventSize)
	defer br.Close()
	s := &streamState{req: req, send: send, created: a.now().Unix(), tools: map[int]int{}}
	for {
		ev, err := br.Next()
		switch {
		case err == io.EOF:
			return adaptor.Usage{}, fmt.Errorf("%w: end of body before message-end", adaptor.ErrStreamTruncated)
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
		if len(data) == 0 || string(data) == "[DONE]" {
			continue
		}
		var e streamEvent
		if err := json.Unmarshal(data, &e); err != nil {
			return adaptor.Usage{}, fmt.Errorf("%w: %w", adaptor.ErrStreamTruncated, badReply("stream event", data, err))
		}
		done, usage, herr := s.handle(&e, data, resp)
		if herr != nil {
			return usage, herr
		}
		if done {
			br.Drain()
			return usage, nil
		}
	}
}

type streamState struct {
	req     *adaptor.Request
	send    func(adaptor.Event) error
	id      string
	created int64
	started bool
	tools   map[int]int // Cohere's tool call index -> OpenAI's
}

func (s *streamState) handle(e *streamEvent, data []byte, resp *http.Response) (bool, adaptor.Usage, error) {
	msg := func() bool { return e.Delta != nil && e.Delta.Message != nil }
	switch e.Type {
	case "message-start":
		s.id = e.ID
		return false, adaptor.Usage{}, s.chunk(oai.Delta{}, nil, nil)
	case "content-start", "content-delta":
		var c contentDelta
		if msg() && object(e.Delta.Message.Content, &c) && (c.Text != "" || c.Thinking != "") {
			return false, adaptor.Usage{}, s.chunk(oai.Delta{Content: c.Text, ReasoningContent: c.Thinking}, nil, nil)
		}
	case "tool-plan-delta":
		if msg() && e.Delta.Message.ToolPlan != "" {
			return false, adaptor.Usage{}, s.chunk(oai.Delta{ReasoningContent: e.Delta.Message.ToolPlan}, nil, nil)
		}
	case "tool-call-start", "tool-call-delta":
		var tc toolCallDelta
		if !msg() || !object(e.Delta.Message.ToolCalls, &tc) {
			return false, adaptor.Usage{}, nil
		}
		i, ok := s.tools[e.Index]
		if !ok {
			i = len(s.tools)
			s.tools[e.Index] = i
		}
		call := oai.ToolCall{Index: &i}
		if e.Type == "tool-call-start" {
			call.ID, call.Type = tc.ID, "function"
		}
		if tc.Function != nil {
			call.Function = oai.FunctionCall{Name: tc.Function.Name, Arguments: tc.Function.Arguments}
		}
		return false, adaptor.Usage{}, s.chunk(oai.Delta{ToolCalls: []oai.ToolCall{call}}, nil, nil)
	case "message-end":
		var u adaptor.Usage
		fr := "stop"
		if e.Delta != nil {
			u = e.Delta.Usage.toUsage()
			if e.Delta.FinishReason == "ERROR" || e.Delta.FinishReason == "ERROR_LIMIT" {
				ue := errorFromBody(0, nil, data, requestKey(resp))
				if e.Delta.Error != "" {
					ue.Message = adaptor.Redact(e.Delta.Error, requestKey(resp))
				}
				return false, u, fmt.Errorf("%w: %w", adaptor.ErrStreamTruncated, ue)
			}
			fr = finishReason(e.Delta.FinishReason)
		}
		if err := s.chunk(oai.Delta{}, &fr, nil); err != nil {
			return false, u, err
		}
		if w := wireUsage(u); w != nil {
			if err := s.chunk(oai.Delta{}, nil, w); err != nil {
				return false, u, err
			}
		}
		return true, u, nil
	}
	return false, adaptor.Usage{}, nil
}

// chunk sends one chat chunk; the first carries the role, a usage chunk
// no choice.
func (s *streamState) chunk(d oai.Delta, finish *string, u *oai.Usage) error {
	if !s.started && u == nil {
		d.Role = "assistant"
		s.started = true
	}
	c := oai.ChatChunk{ID: s.id, Object: "chat.completion.chunk", Created: s.created, Model: s.req.Model, Usage: u,
		Choices: []oai.ChunkChoice{{Delta: d, FinishReason: finish}}}
	if u != nil {
		c.Choices = []oai.ChunkChoice{}
	}
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return s.send(adaptor.Event{Data: b, UsageOnly: u != nil})
}
