package gemini

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/sse"
	"oneapi/relay/oai"
)

// maxEventSize bounds one SSE line. Image output comes inline as base64,
// so lines of several MB are legitimate.
const maxEventSize = 32 << 20

// DecodeStream reads streamGenerateContent?alt=sse: one
// GenerateContentResponse per event, each with the new parts only. It sends
// an OpenAI chat.completion.chunk per event (the first one of each choice
// carries role "assistant"), a separate chunk with finish_reason when a
// candidate finishes, and after the end of the body a usage chunk
// (choices: []) when Gemini reported usage.
//
// Gemini sends no [DONE]: the stream ended normally if every candidate
// that started got a finishReason. Otherwise, or on an error event, a
// malformed event or a read error, the returned error wraps
// adaptor.ErrStreamTruncated (and, for error events, an
// *adaptor.UpstreamError).
func (a *Adaptor) DecodeStream(req *adaptor.Request, resp *http.Response, send func(adaptor.Event) error) (adaptor.Usage, error) {
	defer resp.Body.Close()
	if req.Mode != adaptor.ModeChat {
		return adaptor.Usage{}, fmt.Errorf("%s is not supported by Gemini channels", req.Mode)
	}
	br := sse.NewReader(resp.Body, maxEventSize)
	defer br.Close()
	s := &streamState{
		model:     req.Model,
		created:   time.Now().Unix(),
		started:   map[int]bool{},
		finished:  map[int]bool{},
		toolCalls: map[int]int{},
	}
	for {
		ev, err := br.Next()
		switch {
		case err == nil:
			if serr := s.handle(ev.Data, resp, send); serr != nil {
				return s.usage(), serr
			}
			continue
		case err == io.EOF:
			return s.end(send)
		case errors.Is(err, sse.ErrNotSSE):
			// Not SSE at all: a JSON body (often an error) despite alt=sse.
			return s.usage(), notAStream(br, resp)
		case errors.Is(err, sse.ErrLineTooLong):
			return s.usage(), fmt.Errorf("%w: %w", adaptor.ErrStreamTruncated, err)
		}
		return s.usage(), fmt.Errorf("%w: %w", adaptor.ErrStreamTruncated, adaptor.TransportError(err))
	}
}

// streamState is what a stream needs to remember between events.
type streamState struct {
	id        string
	model     string
	created   int64
	started   map[int]bool // choice index -> role "assistant" sent
	finished  map[int]bool // choice index -> finish_reason sent
	toolCalls map[int]int  // choice index -> tool calls sent so far
	lastUsage *usageMetadata
}

func (s *streamState) usage() adaptor.Usage { return toUsage(s.lastUsage) }

// handle converts one event and sends its chunks.
func (s *streamState) handle(data []byte, resp *http.Response, send func(adaptor.Event) error) error {
	var gr generateContentResponse
	if err := json.Unmarshal(data, &gr); err != nil {
		return fmt.Errorf("%w: %w", adaptor.ErrStreamTruncated, &adaptor.UpstreamError{
			Status: http.StatusBadGateway, Message: "Gemini sent a malformed stream event", Type: "upstream_error", Class: adaptor.ClassRetry, Err: err,
		})
	}
	if gr.Error != nil {
		return fmt.Errorf("%w: %w", adaptor.ErrStreamTruncated, bodyError(gr.Error, requestKey(resp)))
	}
	if gr.UsageMetadata != nil {
		s.lastUsage = gr.UsageMetadata // cumulative: the last one is the total
	}
	if s.id == "" {
		s.id = completionID(&gr)
	}

	var deltas, finishes []oai.ChunkChoice
	if reason := blockReason(&gr); reason != "" {
		deltas = append(deltas, oai.ChunkChoice{Delta: s.delta(0, oai.Delta{Refusal: blockedMessage(reason)})})
		finishes = append(finishes, s.finish(0, "content_filter"))
	}
	for i := range gr.Candidates {
		c := &gr.Candidates[i]
		idx := choiceIndex(c, i)
		text, calls := candidateDelta(c)
		for j := range calls {
			n := s.toolCalls[idx]
			calls[j].Index = &n
			s.toolCalls[idx]++
		}
		first := !s.started[idx]
		if first || text != "" || len(calls) > 0 {
			deltas = append(deltas, oai.ChunkChoice{Index: idx, Delta: s.delta(idx, oai.Delta{Content: text, ToolCalls: calls})})
		}
		if c.FinishReason != "" {
			finishes = append(finishes, s.finish(idx, finishReason(c.FinishReason, s.toolCalls[idx] > 0)))
		}
	}
	// The finish goes in a chunk of its own, after the content, as OpenAI
	// sends it.
	for _, choices := range [][]oai.ChunkChoice{deltas, finishes} {
		if len(choices) == 0 {
			continue
		}
		if err := s.send(send, choices, nil, false); err != nil {
			return err
		}
	}
	return nil
}

// delta adds role "assistant" to the first delta of a choice.
func (s *streamState) delta(idx int, d oai.Delta) oai.Delta {
	if !s.started[idx] {
		d.Role = "assistant"
		s.started[idx] = true
	}
	return d
}

func (s *streamState) finish(idx int, reason string) oai.ChunkChoice {
	s.finished[idx] = true
	return oai.ChunkChoice{Index: idx, FinishReason: &reason}
}

// end checks that the stream finished and sends the usage chunk.
func (s *streamState) end(send func(adaptor.Event) error) (adaptor.Usage, error) {
	if len(s.finished) == 0 {
		return s.usage(), fmt.Errorf("%w: end of body before a finishReason", adaptor.ErrStreamTruncated)
	}
	for idx := range s.started {
		if !s.finished[idx] {
			return s.usage(), fmt.Errorf("%w: end of body before choice %d finished", adaptor.ErrStreamTruncated, idx)
		}
	}
	if s.lastUsage != nil {
		if err := s.send(send, []oai.ChunkChoice{}, toOAIUsage(s.lastUsage), true); err != nil {
			return s.usage(), err
		}
	}
	return s.usage(), nil
}

func (s *streamState) send(send func(adaptor.Event) error, choices []oai.ChunkChoice, usage *oai.Usage, usageOnly bool) error {
	b, err := json.Marshal(oai.ChatChunk{
		ID:      s.id,
		Object:  "chat.completion.chunk",
		Created: s.created,
		Model:   s.model,
		Choices: choices,
		Usage:   usage,
	})
	if err != nil {
		return fmt.Errorf("encode chat chunk: %w", err)
	}
	return send(adaptor.Event{Data: b, UsageOnly: usageOnly})
}

// notAStream handles a 2xx reply to a stream request that is plain JSON:
// a Google error object becomes its UpstreamError, anything else is
// reported as a failed stream.
func notAStream(br *sse.Reader, resp *http.Response) error {
	body, err := br.Body()
	if err != nil {
		return fmt.Errorf("%w: %w", adaptor.ErrStreamTruncated, adaptor.TransportError(err))
	}
	if ge := parseErrorBody(body, "application/json"); ge.Status != "" || ge.Code != 0 {
		return fmt.Errorf("%w: %w", adaptor.ErrStreamTruncated, bodyError(ge, requestKey(resp)))
	}
	return fmt.Errorf("%w: %w", adaptor.ErrStreamTruncated, &adaptor.UpstreamError{
		Status:  http.StatusBadGateway,
		Message: "Gemini answered a stream request without streaming",
		Type:    "upstream_error",
		Class:   adaptor.ClassRetry,
	})
}
