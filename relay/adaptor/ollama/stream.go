package ollama

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"oneapi/relay/adaptor"
	"oneapi/relay/oai"
)

// maxLine bounds one NDJSON line of a stream.
const maxLine = 16 << 20

// DecodeStream converts Ollama's NDJSON stream (one JSON object a line,
// the last with "done": true and the counts) to OpenAI chunks: text and
// thinking deltas, tool calls (Ollama sends each whole), a chunk with the
// finish reason and the usage chunk. The normal end is the done line; an
// end of body before it, a read error, a line that is not JSON or an
// {"error": ...} line return an error wrapping adaptor.ErrStreamTruncated.
func (a *Adaptor) DecodeStream(req *adaptor.Request, resp *http.Response, send func(adaptor.Event) error) (adaptor.Usage, error) {
	defer resp.Body.Close()
	br := bufio.NewReaderSize(resp.Body, 64<<10)
	s := &streamState{req: req, send: send, id: a.newID(), created: a.now().Unix()}
	var long []byte
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			if len(long)+len(line) > maxLine {
				return adaptor.Usage{}, fmt.Errorf("%w: stream line longer than %d bytes", adaptor.ErrStreamTruncated, maxLine)
			}
			long = append(long, line...)
			continue
		}
		if long != nil {
			line, long = append(long, line...), nil
		}
		if len(bytes.TrimSpace(line)) > 0 {
			done, usage, herr := s.line(bytes.TrimSpace(line), resp)
			if herr != nil {
				return adaptor.Usage{}, herr
			}
			if done {
				_, _ = io.Copy(io.Discard, io.LimitReader(br, 4<<10))
				return usage, nil
			}
		}
		switch {
		case err == io.EOF:
			return adaptor.Usage{}, fmt.Errorf("%w: end of body before the done line", adaptor.ErrStreamTruncated)
		case err != nil:
			return adaptor.Usage{}, fmt.Errorf("%w: %w", adaptor.ErrStreamTruncated, adaptor.TransportError(err))
		}
	}
}

type streamState struct {
	req       *adaptor.Request
	send      func(adaptor.Event) error
	id        string
	created   int64
	started   bool
	toolCalls int
}

func (s *streamState) line(line []byte, resp *http.Response) (bool, adaptor.Usage, error) {
	var r reply
	if err := json.Unmarshal(line, &r); err != nil {
		return false, adaptor.Usage{}, fmt.Errorf("%w: %w", adaptor.ErrStreamTruncated, badReply("stream line", line, err))
	}
	if r.isError() {
		return false, adaptor.Usage{}, fmt.Errorf("%w: %w", adaptor.ErrStreamTruncated, errorFromBody(0, nil, line, requestKey(resp)))
	}
	if s.req.Mode == adaptor.ModeCompletions {
		if r.Response != nil && *r.Response != "" {
			if err := s.completion(*r.Response, nil, nil); err != nil {
				return false, adaptor.Usage{}, err
			}
		}
	} else if m := r.Message; m != nil {
		d := oai.Delta{Content: m.Content, ReasoningContent: m.Thinking}
		if len(m.ToolCalls) > 0 {
			d.ToolCalls = fromToolCalls(m.ToolCalls, s.toolCalls, true)
			s.toolCalls += len(m.ToolCalls)
		}
		if d.Content != "" || d.ReasoningContent != "" || len(d.ToolCalls) > 0 {
			if err := s.chat(d, nil, nil); err != nil {
				return false, adaptor.Usage{}, err
			}
		}
	}
	if !r.Done {
		return false, adaptor.Usage{}, nil
	}
	u := r.usage(s.req)
	fr := finishReason(r.DoneReason, s.toolCalls > 0)
	var err error
	if s.req.Mode == adaptor.ModeCompletions {
		err = s.completion("", &fr, nil)
		if w := wireUsage(u); err == nil && w != nil {
			err = s.completion("", nil, w)
		}
	} else {
		err = s.chat(oai.Delta{}, &fr, nil)
		if w := wireUsage(u); err == nil && w != nil {
			err = s.chat(oai.Delta{}, nil, w)
		}
	}
	return true, u, err
}

func (s *streamState) chat(d oai.Delta, finish *string, usage *oai.Usage) error {
	if !s.started && usage == nil {
		d.Role = "assistant"
		s.started = true
	}
	c := oai.ChatChunk{ID: "chatcmpl-" + s.id, Object: "chat.completion.chunk", Created: s.created, Model: s.req.Model, Usage: usage,
		Choices: []oai.ChunkChoice{{Delta: d, FinishReason: finish}}}
	if usage != nil {
		c.Choices = []oai.ChunkChoice{}
	}
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return s.send(adaptor.Event{Data: b, UsageOnly: usage != nil})
}

func (s *streamState) completion(text string, finish *string, usage *oai.Usage) error {
	s.started = true
	c := completion{ID: "cmpl-" + s.id, Object: "text_completion", Created: s.created, Model: s.req.Model, Usage: usage,
		Choices: []completionChoice{{Text: text, FinishReason: finish}}}
	if usage != nil {
		c.Choices = []completionChoice{}
	}
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return s.send(adaptor.Event{Data: b, UsageOnly: usage != nil})
}
