package convert

import (
	"encoding/json"
	"fmt"
	"time"

	"oneapi/relay/adaptor"
	"oneapi/relay/oai"
)

// Stream writes one choice's chat.completion.chunk events, as OpenAI sends
// them: role "assistant" in the first delta, the finish_reason in a chunk
// of its own after the content, and at the end a usage chunk with no
// choices (marked UsageOnly, so the relay drops it for clients that did not
// ask for stream usage).
type Stream struct {
	ID, Model string
	Created   int64
	send      func(adaptor.Event) error
	started   bool
	finished  bool
	tools     int          // tool calls sent so far
	seen      map[int]bool // tool call indexes sent
}

// NewStream writes through send.
func NewStream(send func(adaptor.Event) error, id, model string) *Stream {
	return &Stream{ID: id, Model: model, Created: time.Now().Unix(), send: send}
}

// Delta sends d; an empty delta after the first is not sent. Tool calls
// without an index get the next one; fragments of a call sent in pieces
// keep the index upstream gave.
func (s *Stream) Delta(d oai.Delta) error {
	if s.started && d.Content == "" && d.ReasoningContent == "" && len(d.ToolCalls) == 0 && d.Refusal == "" {
		return nil
	}
	if !s.started {
		d.Role = "assistant"
		s.started = true
	}
	for i := range d.ToolCalls {
		tc := &d.ToolCalls[i]
		if tc.Index == nil { // a whole call: the next index
			n := s.tools
			tc.Index = &n
		}
		// A call sent in pieces keeps the index upstream gave it; as
		// OpenAI does, only its first piece names it.
		s.tools = max(s.tools, *tc.Index+1)
		if s.seen[*tc.Index] {
			tc.ID, tc.Type, tc.Function.Name = "", "", ""
			continue
		}
		if s.seen == nil {
			s.seen = map[int]bool{}
		}
		s.seen[*tc.Index] = true
		if tc.Type == "" {
			tc.Type = "function"
		}
	}
	return s.write([]oai.ChunkChoice{{Delta: d}}, nil, false)
}

// Text sends a text delta.
func (s *Stream) Text(text string) error { return s.Delta(oai.Delta{Content: text}) }

// Finish ends the choice with reason (once; later calls do nothing).
func (s *Stream) Finish(reason string) error {
	if s.finished {
		return nil
	}
	if !s.started {
		if err := s.Delta(oai.Delta{}); err != nil {
			return err
		}
	}
	s.finished = true
	return s.write([]oai.ChunkChoice{{FinishReason: &reason}}, nil, false)
}

// Usage sends the usage chunk, if upstream reported usage.
func (s *Stream) Usage(u adaptor.Usage) error {
	if !u.Reported {
		return nil
	}
	return s.write([]oai.ChunkChoice{}, OAIUsage(u), true)
}

// Started reports whether anything was sent; Finished whether Finish was.
func (s *Stream) Started() bool  { return s.started }
func (s *Stream) Finished() bool { return s.finished }

// ToolCalls is how many tool calls were sent.
func (s *Stream) ToolCalls() int { return s.tools }

func (s *Stream) write(choices []oai.ChunkChoice, u *oai.Usage, usageOnly bool) error {
	b, err := json.Marshal(oai.ChatChunk{ID: s.ID, Object: "chat.completion.chunk", Created: s.Created, Model: s.Model, Choices: choices, Usage: u})
	if err != nil {
		return fmt.Errorf("encode chat chunk: %w", err)
	}
	return s.send(adaptor.Event{Data: b, UsageOnly: usageOnly})
}
