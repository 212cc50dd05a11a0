package messages

import (
	"encoding/json"

	"oneapi/pricing"
)

// Emit appends one stream event: its name and its data.
type Emit func(name, data []byte)

// Stream turns an OpenAI chat stream into Anthropic's named events:
// message_start (with the input tokens the gateway counted: OpenAI-type
// upstreams report usage only at the end), ping, a content_block_start /
// _delta / _stop run per thinking, text or tool_use block, message_delta
// with the stop reason and the usage billed, message_stop. It is not safe
// for concurrent use.
type Stream struct {
	id, model   string
	inputTokens int
	started     bool
	open        int    // index of the open block, -1 when none
	openKind    string // "text", "thinking" or "tool_use"
	next        int    // index of the next block
	tools       map[int]int
	stop        string
}

// NewStream starts the encoding of one reply; inputTokens is the gateway's
// count of the prompt.
func NewStream(id, model string, inputTokens int) *Stream {
	return &Stream{id: id, model: model, inputTokens: inputTokens, open: -1, tools: map[int]int{}}
}

type chunk struct {
	Choices []struct {
		Index int `json:"index"`
		Delta struct {
			Content          string `json:"content"`
			ReasoningContent string `json:"reasoning_content"`
			Reasoning        string `json:"reasoning"`
			ToolCalls        []struct {
				Index    *int   `json:"index"`
				ID       string `json:"id"`
				Function struct {
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
}

// Chunk converts one chat.completion.chunk; chunks that are not JSON or
// carry only usage give nothing (the usage comes with End).
func (s *Stream) Chunk(data []byte, emit Emit) {
	var c chunk
	if json.Unmarshal(data, &c) != nil {
		return
	}
	s.start(emit)
	for _, ch := range c.Choices {
		if ch.Index != 0 {
			continue // Messages has one answer
		}
		d := ch.Delta
		if t := d.ReasoningContent + d.Reasoning; t != "" {
			s.block("thinking", emit, map[string]any{"type": "thinking", "thinking": "", "signature": ""})
			s.delta(emit, map[string]any{"type": "thinking_delta", "thinking": t})
		}
		if d.Content != "" {
			s.block("text", emit, map[string]any{"type": "text", "text": ""})
			s.delta(emit, map[string]any{"type": "text_delta", "text": d.Content})
		}
		for i, tc := range d.ToolCalls {
			n := i
			if tc.Index != nil {
				n = *tc.Index
			}
			idx, known := s.tools[n]
			if !known || (tc.ID != "" && s.open != idx) {
				s.closeBlock(emit)
				idx = s.next
				s.tools[n] = idx
				s.openBlock(emit, "tool_use", map[string]any{"type": "tool_use", "id": tc.ID, "name": tc.Function.Name, "input": map[string]any{}})
			}
			if tc.Function.Arguments != "" && s.open == idx {
				s.delta(emit, map[string]any{"type": "input_json_delta", "partial_json": tc.Function.Arguments})
			}
		}
		if ch.FinishReason != nil && *ch.FinishReason != "" {
			s.stop = StopReason(*ch.FinishReason)
		}
	}
}

// End closes a stream that ended normally; u is the usage billed.
func (s *Stream) End(u pricing.Usage, emit Emit) {
	s.start(emit)
	s.closeBlock(emit)
	stop := s.stop
	if stop == "" {
		stop = "end_turn"
	}
	emitJSON(emit, "message_delta", map[string]any{
		"type":  "message_delta",
		"delta": map[string]any{"stop_reason": stop, "stop_sequence": nil},
		"usage": UsageOf(u),
	})
	emitJSON(emit, "message_stop", map[string]any{"type": "message_stop"})
}

// Fail ends a stream that broke off with Anthropic's error event.
func (s *Stream) Fail(typ, msg, requestID string, emit Emit) {
	emit([]byte("error"), ErrorBody(typ, msg, requestID))
}

func (s *Stream) start(emit Emit) {
	if s.started {
		return
	}
	s.started = true
	emitJSON(emit, "message_start", map[string]any{"type": "message_start", "message": Response{
		ID: s.id, Type: "message", Role: "assistant", Model: s.model, Content: []Block{},
		Usage: Usage{InputTokens: s.inputTokens},
	}})
	emitJSON(emit, "ping", map[string]any{"type": "ping"})
}

// block makes sure a block of kind is open, closing another.
func (s *Stream) block(kind string, emit Emit, start map[string]any) {
	if s.open >= 0 && s.openKind == kind {
		return
	}
	s.closeBlock(emit)
	s.openBlock(emit, kind, start)
}

func (s *Stream) openBlock(emit Emit, kind string, start map[string]any) {
	s.open, s.openKind = s.next, kind
	s.next++
	emitJSON(emit, "content_block_start", map[string]any{"type": "content_block_start", "index": s.open, "content_block": start})
}

func (s *Stream) closeBlock(emit Emit) {
	if s.open < 0 {
		return
	}
	emitJSON(emit, "content_block_stop", map[string]any{"type": "content_block_stop", "index": s.open})
	s.open = -1
}

func (s *Stream) delta(emit Emit, d map[string]any) {
	emitJSON(emit, "content_block_delta", map[string]any{"type": "content_block_delta", "index": s.open, "delta": d})
}

func emitJSON(emit Emit, name string, v any) {
	b, _ := json.Marshal(v)
	emit([]byte(name), b)
}
