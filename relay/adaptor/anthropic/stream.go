package anthropic

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

// maxEventSize bounds one SSE line. Text and tool argument deltas are small;
// server tool results (web search) can be large.
const maxEventSize = 16 << 20

// DecodeStream converts Anthropic's stream events
// (https://docs.anthropic.com/en/docs/build-with-claude/streaming) to OpenAI
// chat.completion.chunk payloads. The normal end is message_stop, after
// which a usage chunk (choices empty) is sent. An end of body before it, a
// read error or an error event returns an error wrapping
// adaptor.ErrStreamTruncated; for error events and read errors it also
// wraps an *adaptor.UpstreamError. Anthropic sends each event's JSON on one
// data line.
func (a *Adaptor) DecodeStream(req *adaptor.Request, resp *http.Response, send func(adaptor.Event) error) (adaptor.Usage, error) {
	defer resp.Body.Close()
	br := sse.NewReader(resp.Body, maxEventSize)
	defer br.Close()

	s := &streamState{send: send, created: a.now().Unix(), toolIndex: map[int]int{}, key: requestKey(resp)}
	if req != nil {
		s.model = req.Model
	}
	for {
		ev, err := br.Next()
		switch {
		case err == nil:
			done, herr := s.handle(bytes.TrimSpace(ev.Data), string(ev.Name) == "error")
			if herr != nil {
				return s.result(), herr
			}
			if done {
				br.Drain()
				return s.result(), nil
			}
			continue
		case err == io.EOF:
			return s.result(), fmt.Errorf("%w: end of body before message_stop", adaptor.ErrStreamTruncated)
		case errors.Is(err, sse.ErrNotSSE):
			// Not SSE at all: a JSON body (often an error) despite stream=true.
			return s.result(), notAStream(br, resp)
		case errors.Is(err, sse.ErrLineTooLong):
			return s.result(), fmt.Errorf("%w: %w", adaptor.ErrStreamTruncated, err)
		}
		return s.result(), fmt.Errorf("%w: %w", adaptor.ErrStreamTruncated, adaptor.TransportError(err))
	}
}

// streamState is what one stream's conversion remembers between events.
type streamState struct {
	send      func(adaptor.Event) error
	key       string // the channel key, redacted from error events
	id, model string
	created   int64
	started   bool // the first chunk, carrying the role, went out
	finished  bool // a chunk with finish_reason went out
	usage     usage
	reported  bool // upstream gave usage numbers
	// toolIndex maps a tool_use content block's index to its OpenAI tool
	// call index: OpenAI counts tool calls, Anthropic counts all blocks.
	toolIndex map[int]int
}

// handle converts one event. done is set by message_stop.
func (s *streamState) handle(data []byte, errorEvent bool) (done bool, err error) {
	var ev streamEvent
	if err := json.Unmarshal(data, &ev); err != nil {
		if errorEvent {
			return false, fmt.Errorf("%w: %w", adaptor.ErrStreamTruncated, s.streamError(nil))
		}
		return false, fmt.Errorf("%w: %w", adaptor.ErrStreamTruncated, &adaptor.UpstreamError{
			Status: http.StatusBadGateway, Message: "upstream sent a malformed stream event",
			Type: "upstream_error", Class: adaptor.ClassRetry, Err: err,
		})
	}
	if errorEvent || ev.Type == "error" {
		return false, fmt.Errorf("%w: %w", adaptor.ErrStreamTruncated, s.streamError(ev.Error))
	}
	switch ev.Type {
	case "message_start":
		if m := ev.Message; m != nil {
			s.id = m.ID
			if m.Model != "" {
				s.model = m.Model
			}
			if m.Usage != nil {
				s.usage, s.reported = *m.Usage, true
			}
		}
		return false, s.start()
	case "content_block_start":
		b := ev.ContentBlock
		if b == nil {
			return false, nil
		}
		switch b.Type {
		case "text":
			return false, s.sendContent(b.Text)
		case "tool_use":
			i := len(s.toolIndex)
			s.toolIndex[ev.Index] = i
			return false, s.sendDelta(chunkDelta{ToolCalls: []oai.ToolCall{{
				Index: &i, ID: b.ID, Type: "function", Function: oai.FunctionCall{Name: b.Name},
			}}})
		}
	case "content_block_delta":
		d := ev.Delta
		if d == nil {
			return false, nil
		}
		switch d.Type {
		case "text_delta":
			return false, s.sendContent(d.Text)
		case "input_json_delta":
			i, ok := s.toolIndex[ev.Index]
			if !ok || d.PartialJSON == "" {
				return false, nil
			}
			return false, s.sendDelta(chunkDelta{ToolCalls: []oai.ToolCall{{
				Index: &i, Function: oai.FunctionCall{Arguments: d.PartialJSON},
			}}})
		}
	case "message_delta":
		if ev.Usage != nil {
			s.mergeUsage(ev.Usage)
		}
		if ev.Delta != nil && ev.Delta.StopReason != "" {
			return false, s.finish(finishReason(ev.Delta.StopReason))
		}
	case "message_stop":
		if !s.finished {
			if err := s.finish("stop"); err != nil {
				return false, err
			}
		}
		if s.reported {
			return true, s.emitUsage(&chatChunk{Choices: []chunkChoice{}, Usage: s.usage.toOAI()})
		}
		return true, nil
	}
	// ping, content_block_stop, thinking blocks and event types Anthropic
	// may add carry nothing for the client.
	return false, nil
}

// mergeUsage applies message_delta's cumulative counts.
func (s *streamState) mergeUsage(d *deltaUsage) {
	in := take(&s.usage.InputTokens, d.InputTokens)
	out := take(&s.usage.OutputTokens, d.OutputTokens)
	cacheWrite := take(&s.usage.CacheCreationInputTokens, d.CacheCreationInputTokens)
	cacheRead := take(&s.usage.CacheReadInputTokens, d.CacheReadInputTokens)
	if d.ServerToolUse != nil {
		s.usage.ServerToolUse = d.ServerToolUse
	}
	if in || out || cacheWrite || cacheRead {
		s.reported = true
	}
}

// take sets *dst to *v if v is present.
func take(dst, v *int) bool {
	if v == nil {
		return false
	}
	*dst = *v
	return true
}

// result is the usage to report to the relay: for a stream cut before
// message_delta, message_start's input and its placeholder output; the relay
// then counts what was streamed.
func (s *streamState) result() adaptor.Usage {
	if !s.reported {
		return adaptor.Usage{}
	}
	return s.usage.toUsage()
}

// start sends the first chunk, which carries the role, as OpenAI's does.
func (s *streamState) start() error {
	if s.started {
		return nil
	}
	s.started = true
	empty := ""
	return s.emitChoice(chunkChoice{Delta: chunkDelta{Role: "assistant", Content: &empty}})
}

func (s *streamState) sendContent(text string) error {
	if text == "" {
		return nil
	}
	return s.sendDelta(chunkDelta{Content: &text})
}

func (s *streamState) sendDelta(d chunkDelta) error {
	if err := s.start(); err != nil {
		return err
	}
	return s.emitChoice(chunkChoice{Delta: d})
}

func (s *streamState) finish(reason string) error {
	if err := s.start(); err != nil {
		return err
	}
	s.finished = true
	return s.emitChoice(chunkChoice{FinishReason: &reason})
}

func (s *streamState) emitChoice(c chunkChoice) error {
	return s.emit(&chatChunk{Choices: []chunkChoice{c}})
}

// emit fills in the fields every chunk repeats and sends it.
func (s *streamState) emit(c *chatChunk) error { return s.emitEvent(c, false) }

// emitUsage sends the closing usage chunk, which the relay drops when the
// client did not ask for stream usage.
func (s *streamState) emitUsage(c *chatChunk) error { return s.emitEvent(c, true) }

func (s *streamState) emitEvent(c *chatChunk, usageOnly bool) error {
	c.ID, c.Object, c.Created, c.Model = s.id, "chat.completion.chunk", s.created, s.model
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode chunk: %w", err)
	}
	return s.send(adaptor.Event{Data: b, UsageOnly: usageOnly})
}

// streamError describes an error event; e may be nil when the event could
// not be read. The event is not sent to the client: the relay reports it.
func (s *streamState) streamError(e *apiError) *adaptor.UpstreamError {
	var typ, msg string
	if e != nil {
		typ, msg = e.Type, e.Message
	}
	if msg == "" {
		msg = "upstream sent an error event"
	}
	return newUpstreamError(statusForErrorType(typ), typ, adaptor.Redact(msg, s.key))
}

// notAStream handles a 2xx reply to a stream request that is plain JSON:
// an Anthropic error becomes its UpstreamError, anything else is reported
// as a failed stream.
func notAStream(br *sse.Reader, resp *http.Response) error {
	body, err := br.Body()
	if err != nil {
		return fmt.Errorf("%w: %w", adaptor.ErrStreamTruncated, adaptor.TransportError(err))
	}
	var eb errorBody
	if json.Unmarshal(body, &eb) == nil && eb.Error != nil {
		ue := newUpstreamError(statusForErrorType(eb.Error.Type), eb.Error.Type, adaptor.Redact(eb.Error.Message, requestKey(resp)))
		return fmt.Errorf("%w: %w", adaptor.ErrStreamTruncated, ue)
	}
	return fmt.Errorf("%w: %w", adaptor.ErrStreamTruncated, &adaptor.UpstreamError{
		Status:  http.StatusBadGateway,
		Message: "upstream answered a stream request without streaming",
		Type:    "upstream_error",
		Class:   adaptor.ClassRetry,
	})
}
