package gemini

import (
	"encoding/json"
	"strings"

	"oneapi/pricing"
)

// Emit appends one stream item.
type Emit func(data []byte)

// Stream turns an OpenAI chat stream into Gemini's stream of
// GenerateContentResponse items: text and thoughts as they come; function
// calls, which Gemini sends whole, once their arguments are complete; the
// last item carries the finishReason and the usage billed. It is not safe
// for concurrent use.
type Stream struct {
	id, model string
	calls     []*pendingCall
	byIndex   map[int]*pendingCall
	finish    string
}

type pendingCall struct {
	name string
	args strings.Builder
}

// NewStream starts the encoding of one reply.
func NewStream(id, model string) *Stream {
	return &Stream{id: id, model: model, byIndex: map[int]*pendingCall{}}
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
	for _, ch := range c.Choices {
		if ch.Index != 0 {
			continue // one candidate
		}
		d := ch.Delta
		var parts []Part
		if t := d.ReasoningContent + d.Reasoning; t != "" {
			parts = append(parts, Part{Text: t, Thought: true})
		}
		if d.Content != "" {
			parts = append(parts, Part{Text: d.Content})
		}
		for i, tc := range d.ToolCalls {
			n := i
			if tc.Index != nil {
				n = *tc.Index
			}
			pc, ok := s.byIndex[n]
			if !ok || (tc.ID != "" && pc.args.Len() > 0 && tc.Function.Name != "") {
				pc = &pendingCall{}
				s.byIndex[n] = pc
				s.calls = append(s.calls, pc)
			}
			if tc.Function.Name != "" {
				pc.name = tc.Function.Name
			}
			pc.args.WriteString(tc.Function.Arguments)
		}
		if ch.FinishReason != nil && *ch.FinishReason != "" {
			s.finish = FinishReason(*ch.FinishReason)
		}
		if len(parts) > 0 {
			s.emit(emit, Candidate{Content: Content{Role: "model", Parts: parts}}, nil)
		}
	}
}

// End closes a stream that ended normally; u is the usage billed.
func (s *Stream) End(u pricing.Usage, emit Emit) {
	parts := []Part{}
	for _, pc := range s.calls {
		parts = append(parts, Part{FunctionCall: &FunctionCall{Name: pc.name, Args: callArgs(pc.args.String())}})
	}
	finish := s.finish
	if finish == "" {
		finish = "STOP"
	}
	if len(parts) == 0 {
		parts = append(parts, Part{Text: ""})
	}
	s.emit(emit, Candidate{Content: Content{Role: "model", Parts: parts}, FinishReason: finish}, UsageOf(u))
}

func (s *Stream) emit(emit Emit, c Candidate, u *UsageMetadata) {
	b, _ := json.Marshal(Response{Candidates: []Candidate{c}, UsageMetadata: u, ModelVersion: s.model, ResponseID: s.id})
	emit(b)
}
