package bedrock

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"

	"oneapi/relay/adaptor"
	"oneapi/relay/oai"
)

// maxFrameSize bounds one event-stream message. Bedrock's are small (a
// text delta, a tool argument piece); the length prefix comes from upstream
// and must not make the gateway buffer gigabytes.
const maxFrameSize = 16 << 20

// DecodeStream converts ConverseStream's event-stream messages
// (messageStart, contentBlockStart, contentBlockDelta, contentBlockStop,
// messageStop, metadata) to OpenAI chat.completion.chunk payloads, and sends
// a usage chunk (choices: []) at the end when the metadata event gave usage.
// The normal end is the end of the body after messageStop. An end before it,
// a malformed or oversized frame, a read error, or an exception message
// returns an error wrapping adaptor.ErrStreamTruncated (and an
// *adaptor.UpstreamError, except for a plain early end).
func (a *Adaptor) DecodeStream(req *adaptor.Request, resp *http.Response, send func(adaptor.Event) error) (adaptor.Usage, error) {
	defer resp.Body.Close()
	if req.Mode != adaptor.ModeChat {
		return adaptor.Usage{}, fmt.Errorf("%s is not supported by Bedrock channels", req.Mode)
	}
	s := &streamState{send: send, id: completionID(resp), model: req.Model, created: a.now().Unix(),
		toolIndex: map[int]int{}, secrets: requestSecrets(resp)}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "application/json" {
		// Not a stream: a proxy's (or a misrouted) JSON answer, often an error.
		return adaptor.Usage{}, notAStream(resp, s.secrets)
	}
	br := bufio.NewReaderSize(resp.Body, 64<<10)
	dec := eventstream.NewDecoder()
	var payload []byte
	for {
		head, err := br.Peek(4)
		switch {
		case err == io.EOF && len(head) == 0:
			return s.end()
		case err != nil && len(head) > 0 && (err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF)):
			return s.result(), fmt.Errorf("%w: end of body inside an event-stream frame", adaptor.ErrStreamTruncated)
		case err != nil:
			return s.result(), fmt.Errorf("%w: %w", adaptor.ErrStreamTruncated, adaptor.TransportError(err))
		}
		if n := binary.BigEndian.Uint32(head); n > maxFrameSize {
			return s.result(), malformed(fmt.Errorf("event-stream frame of %d bytes", n))
		}
		msg, err := dec.Decode(br, payload[:0])
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return s.result(), fmt.Errorf("%w: end of body inside an event-stream frame", adaptor.ErrStreamTruncated)
			}
			if isTransport(err) {
				return s.result(), fmt.Errorf("%w: %w", adaptor.ErrStreamTruncated, adaptor.TransportError(err))
			}
			return s.result(), malformed(err) // a checksum or length error
		}
		payload = msg.Payload
		if err := s.handle(&msg); err != nil {
			return s.result(), err
		}
	}
}

// isTransport tells a read error of the connection from a decoding error
// of the frame (the decoder's ChecksumError and LengthError).
func isTransport(err error) bool {
	var ce eventstream.ChecksumError
	var le eventstream.LengthError
	return !errors.As(err, &ce) && !errors.As(err, &le)
}

// malformed is a stream Bedrock cannot have sent: retried elsewhere if
// nothing reached the client yet.
func malformed(err error) error {
	return fmt.Errorf("%w: %w", adaptor.ErrStreamTruncated, &adaptor.UpstreamError{
		Status: http.StatusBadGateway, Message: "Bedrock sent a malformed event stream",
		Type: "upstream_error", Class: adaptor.ClassRetry, Err: err,
	})
}

// streamState is what one stream's conversion remembers between messages.
type streamState struct {
	send      func(adaptor.Event) error
	secrets   []string
	id, model string
	created   int64
	started   bool // the first chunk, carrying the role, went out
	stopped   bool // messageStop came
	usage     *tokenUsage
	// toolIndex maps a content block index to its OpenAI tool call index:
	// OpenAI counts tool calls, Bedrock counts all blocks.
	toolIndex map[int]int
}

func headerString(msg *eventstream.Message, name string) string {
	if v := msg.Headers.Get(name); v != nil {
		if s, ok := v.Get().(string); ok {
			return s
		}
	}
	return ""
}

// handle converts one message.
func (s *streamState) handle(msg *eventstream.Message) error {
	switch headerString(msg, ":message-type") {
	case "event":
	case "exception":
		return fmt.Errorf("%w: %w", adaptor.ErrStreamTruncated,
			streamException(headerString(msg, ":exception-type"), msg.Payload, s.secrets))
	case "error":
		e := newUpstreamError(http.StatusBadGateway, headerString(msg, ":error-code"), headerString(msg, ":error-message"), s.secrets...)
		e.Class = adaptor.ClassRetry
		return fmt.Errorf("%w: %w", adaptor.ErrStreamTruncated, e)
	default:
		return malformed(errors.New("event-stream message without a known :message-type"))
	}
	eventType := headerString(msg, ":event-type")
	switch eventType {
	case "messageStart":
		return s.start()
	case "contentBlockStart":
		var ev contentBlockStartEvent
		if err := json.Unmarshal(msg.Payload, &ev); err != nil {
			return malformed(err)
		}
		if tu := ev.Start.ToolUse; tu != nil {
			i := len(s.toolIndex)
			s.toolIndex[ev.ContentBlockIndex] = i
			return s.sendDelta(chunkDelta{ToolCalls: []oai.ToolCall{{
				Index: &i, ID: tu.ToolUseID, Type: "function", Function: oai.FunctionCall{Name: tu.Name},
			}}})
		}
	case "contentBlockDelta":
		var ev contentBlockDeltaEvent
		if err := json.Unmarshal(msg.Payload, &ev); err != nil {
			return malformed(err)
		}
		d := &ev.Delta
		switch {
		case d.Text != nil:
			if *d.Text != "" {
				return s.sendDelta(chunkDelta{Content: d.Text})
			}
		case d.ToolUse != nil:
			i, ok := s.toolIndex[ev.ContentBlockIndex]
			if !ok || d.ToolUse.Input == "" {
				return nil
			}
			return s.sendDelta(chunkDelta{ToolCalls: []oai.ToolCall{{Index: &i, Function: oai.FunctionCall{Arguments: d.ToolUse.Input}}}})
		case d.ReasoningContent != nil && d.ReasoningContent.Text != "":
			return s.sendDelta(chunkDelta{ReasoningContent: d.ReasoningContent.Text})
		}
	case "messageStop":
		var ev messageStopEvent
		if err := json.Unmarshal(msg.Payload, &ev); err != nil {
			return malformed(err)
		}
		if err := s.start(); err != nil {
			return err
		}
		s.stopped = true
		reason := finishReason(ev.StopReason)
		return s.emit(chunkChoice{FinishReason: &reason}, nil)
	case "metadata":
		var ev metadataEvent
		if err := json.Unmarshal(msg.Payload, &ev); err != nil {
			return malformed(err)
		}
		if ev.Usage != nil {
			s.usage = ev.Usage
		}
	}
	// contentBlockStop, and event types Bedrock may add, carry nothing for
	// the client.
	return nil
}

// end is the end of the body at a frame boundary: normal after messageStop,
// then the usage chunk goes out.
func (s *streamState) end() (adaptor.Usage, error) {
	if !s.stopped {
		return s.result(), fmt.Errorf("%w: end of body before messageStop", adaptor.ErrStreamTruncated)
	}
	if s.usage != nil {
		if err := s.emit(chunkChoice{}, s.usage.toOAI()); err != nil {
			return s.result(), err
		}
	}
	return s.result(), nil
}

// result is the usage to report: the metadata event's, or none (the relay
// then counts what was streamed).
func (s *streamState) result() adaptor.Usage {
	if s.usage == nil {
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
	return s.emit(chunkChoice{Delta: chunkDelta{Role: "assistant", Content: &empty}}, nil)
}

func (s *streamState) sendDelta(d chunkDelta) error {
	if err := s.start(); err != nil {
		return err
	}
	return s.emit(chunkChoice{Delta: d}, nil)
}

// emit sends one chunk: a choice, or (usage set) the closing usage chunk,
// which the relay drops when the client did not ask for stream usage.
func (s *streamState) emit(c chunkChoice, usage *oai.Usage) error {
	chunk := chatChunk{ID: s.id, Object: "chat.completion.chunk", Created: s.created, Model: s.model, Choices: []chunkChoice{c}, Usage: usage}
	if usage != nil {
		chunk.Choices = []chunkChoice{}
	}
	b, err := json.Marshal(&chunk)
	if err != nil {
		return fmt.Errorf("encode chunk: %w", err)
	}
	return s.send(adaptor.Event{Data: b, UsageOnly: usage != nil})
}

// notAStream handles a 2xx JSON reply to a stream request: an AWS error
// becomes its UpstreamError, anything else a failed stream.
func notAStream(resp *http.Response, secrets []string) error {
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if err != nil {
		return fmt.Errorf("%w: %w", adaptor.ErrStreamTruncated, adaptor.TransportError(err))
	}
	e := parseErrorBody(body, "application/json")
	if typ := errorType(resp.Header.Get("X-Amzn-Errortype"), e); typ != "" {
		return fmt.Errorf("%w: %w", adaptor.ErrStreamTruncated, newUpstreamError(statusForType(typ), typ, e.text(), secrets...))
	}
	msg := "Bedrock answered a stream request without streaming"
	if strings.TrimSpace(e.text()) != "" {
		msg += ": " + adaptor.Redact(adaptor.Snippet([]byte(e.text()), 200), secrets...)
	}
	return fmt.Errorf("%w: %w", adaptor.ErrStreamTruncated, &adaptor.UpstreamError{
		Status: http.StatusBadGateway, Message: msg, Type: "upstream_error", Class: adaptor.ClassRetry,
	})
}
