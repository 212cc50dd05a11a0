package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"oneapi/pricing"
	"oneapi/relay/adaptor"
	"oneapi/relay/tokenizer"
	"oneapi/state"
)

// relay handles one POST to an OpenAI endpoint, from key check to settlement.
func (s *Server) relay(w http.ResponseWriter, r *http.Request, rid string, mode adaptor.Mode) {
	start := time.Now()
	c, aerr := s.authenticate(r)
	if aerr != nil {
		writeError(w, rid, aerr)
		return
	}
	body, aerr := s.readBody(w, r)
	if aerr != nil {
		writeError(w, rid, aerr)
		return
	}
	body, pu, aerr := s.applyPrompt(r, c, mode, body) // stored prompts: prompt.go
	if aerr != nil {
		writeError(w, rid, aerr)
		return
	}
	p, aerr := parseRequest(mode, body, r.Header.Get("Content-Type"))
	if aerr != nil {
		writeError(w, rid, aerr)
		return
	}
	if !c.modelAllowed(p.model) {
		writeError(w, rid, modelNotAllowed(p.model))
		return
	}

	routes := s.state.Routes()
	opts := s.state.Options()
	group := c.user.Group
	tried := make(map[int64]bool, 2)
	var ch *state.Channel
	if c.pinnedChannel != 0 {
		ch = routes.Channel(c.pinnedChannel)
		if ch == nil || ch.Status != state.StatusEnabled {
			writeError(w, rid, &apiError{http.StatusNotFound, "invalid_request_error", "channel_not_found",
				fmt.Sprintf("Channel %d does not exist or is disabled.", c.pinnedChannel)})
			return
		}
	} else {
		if !routes.Serves(group, p.model) {
			writeError(w, rid, modelNotFound(p.model))
			return
		}
		ch = routes.Pick(group, p.model, nil)
	}

	modelRatio, completionRatio, groupRatio, priced := opts.Price(p.model, group)
	if !priced && opts.RefuseUnpricedModels {
		writeError(w, rid, &apiError{http.StatusForbidden, "invalid_request_error", "model_price_not_set",
			fmt.Sprintf("The model `%s` has no price set; ask the administrator to set one.", p.model)})
		return
	}
	price := ratios{modelRatio, completionRatio, groupRatio}
	estimate := price.estimate(p, opts.PreConsumedCompletions)

	ticket, err := s.meter.Reserve(r.Context(), Reservation{
		UserID: c.user.ID, TokenID: c.token.ID, ChannelID: ch.ID, Model: p.model,
		Quota: estimate, Stream: p.stream, RequestID: rid, Leasable: opts.QuotaLeases,
	})
	switch {
	case errors.Is(err, ErrTokenQuota):
		writeError(w, rid, errTokenQuota)
		return
	case errors.Is(err, ErrUserQuota):
		writeError(w, rid, errUserQuota)
		return
	case err != nil:
		s.log.Error("reserve", "request_id", rid, "err", err)
		writeError(w, rid, errInternal)
		return
	}

	settle := Settlement{
		Ticket: ticket, Reserved: estimate, UserID: c.user.ID, Username: c.user.Username,
		TokenID: c.token.ID, TokenName: c.token.Name, Model: p.model, Stream: p.stream, RequestID: rid,
		PromptName: pu.Name, PromptVersion: pu.Version, PromptHash: pu.Hash,
	}
	if !priced {
		settle.Content = fmt.Sprintf("model has no price: billed at the default ratio %g", modelRatio)
	}
	// Whatever happens below, the reservation is settled exactly once.
	defer func() {
		settle.Elapsed = time.Since(start)
		s.meter.Settle(settle)
	}()

	attempts := 1 + opts.RetryTimes
	if c.pinnedChannel != 0 {
		attempts = 1
	}
	var lastErr *adaptor.UpstreamError
	for attempt := 0; attempt < attempts && ch != nil; attempt++ {
		tried[ch.ID] = true
		out := s.attempt(w, r, rid, ch, p)
		if out.served {
			settle.Served = true
			settle.ChannelID = ch.ID
			settle.Prompt, settle.Completion = out.prompt, out.completion
			settle.Quota = price.quota(p, out.prompt, out.completion)
			if out.note != "" {
				settle.Content = joinNote(settle.Content, out.note)
			}
			s.accessLog(rid, c, ch, p, out, start)
			observeServed(p.mode, p.stream, time.Since(start), settle.Quota)
			return
		}
		lastErr = out.err
		metricUpstreamFailures.WithLabelValues(out.err.Class.String()).Inc()
		s.channelFailed(ch, out.err, opts)
		if out.err.Class == adaptor.ClassClient || r.Context().Err() != nil {
			break // the client's fault, or the client is gone: another channel won't help
		}
		ch = routes.Pick(group, p.model, tried)
	}
	if lastErr == nil {
		writeError(w, rid, errNoChannel)
		return
	}
	s.log.Warn("relay failed", "request_id", rid, "model", p.model, "status", lastErr.Status, "err", lastErr.Message)
	writeError(w, rid, fromUpstream(lastErr))
}

// outcome is the result of one upstream attempt.
type outcome struct {
	served             bool // the client got an answer (possibly cut short)
	prompt, completion int
	note               string
	err                *adaptor.UpstreamError // when !served
}

// attempt calls one channel. It returns served=false only if nothing was
// written to the client, so the caller may retry elsewhere.
func (s *Server) attempt(w http.ResponseWriter, r *http.Request, rid string, ch *state.Channel, p *parsed) outcome {
	a := adaptor.For(ch.Type)
	if a == nil {
		return outcome{err: &adaptor.UpstreamError{Status: http.StatusBadGateway, Message: fmt.Sprintf("channel type %d is not supported", ch.Type), Class: adaptor.ClassRetry}}
	}
	upModel := ch.UpstreamModel(p.model)
	body, err := upstreamBody(p, upModel, ch.SystemPrompt)
	if err != nil {
		return outcome{err: &adaptor.UpstreamError{Status: http.StatusBadRequest, Message: "could not prepare the request", Class: adaptor.ClassClient}}
	}
	areq := &adaptor.Request{Mode: p.mode, Model: upModel, Body: body, ContentType: p.contentType, Stream: p.stream, Chat: p.chat}
	ctx, cancel := s.withTimeout(r.Context())
	defer cancel()
	hreq, err := a.NewRequest(ctx, &ch.Channel, areq)
	if err != nil {
		// An adaptor says what kind of failure it is (a request its
		// provider cannot take is the client's); anything else is this
		// channel's, and another may do.
		var ue *adaptor.UpstreamError
		if !errors.As(err, &ue) {
			ue = &adaptor.UpstreamError{Status: http.StatusBadGateway, Message: err.Error(), Class: adaptor.ClassRetry}
		}
		ue.Message = adaptor.Redact(ue.Message, ch.Key)
		return outcome{err: ue}
	}
	resp, err := s.client.Do(hreq)
	if err != nil {
		ue := adaptor.TransportError(err)
		ue.Message = adaptor.Redact(ue.Message, ch.Key)
		return outcome{err: ue}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return outcome{err: a.DecodeError(resp)}
	}
	if p.stream {
		return s.relayStream(w, r, rid, a, areq, resp, p)
	}
	contentType := resp.Header.Get("Content-Type")
	out, usage, err := a.DecodeResponse(areq, resp)
	if err != nil {
		var ue *adaptor.UpstreamError
		if !errors.As(err, &ue) {
			ue = &adaptor.UpstreamError{Status: http.StatusBadGateway, Message: "invalid upstream response", Class: adaptor.ClassRetry}
		}
		return outcome{err: ue}
	}
	if contentType == "" {
		contentType = "application/json"
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
	o := outcome{served: true, prompt: usage.PromptTokens, completion: usage.CompletionTokens}
	if !usage.Reported {
		o.prompt, o.completion = p.promptTokens, countResponse(p, out)
	}
	return o
}

// relayStream passes SSE events through, flushing each. Once the first
// byte went out there is no retry: the outcome is served, and a stream that
// breaks off ends with an error event, never a clean [DONE].
func (s *Server) relayStream(w http.ResponseWriter, r *http.Request, rid string, a adaptor.Adaptor, areq *adaptor.Request, resp *http.Response, p *parsed) outcome {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)

	sw := streamWriter{w: w, rc: rc, dropUsageChunk: !p.wantUsage && p.mode != adaptor.ModeResponses, responses: p.mode == adaptor.ModeResponses,
		pending: getBuf(), seen: getBuf()}
	defer func() { putBuf(sw.pending); putBuf(sw.seen) }()
	// Events are buffered and written out just before the adaptor waits for
	// more upstream bytes: every event reaches the client as soon as nothing
	// more is immediately available, in one write instead of one per event.
	resp.Body = &flushBeforeRead{ReadCloser: resp.Body, sw: &sw}
	usage, err := a.DecodeStream(areq, resp, sw.send)
	o := outcome{served: true, prompt: usage.PromptTokens, completion: usage.CompletionTokens}
	if !usage.Reported {
		o.prompt, o.completion = p.promptTokens, countStreamed(p, *sw.seen)
		o.note = "usage counted by the gateway"
	}
	switch {
	case err == nil:
		if !sw.responses { // the Responses API ends with its own event, not [DONE]
			sw.write([]byte("[DONE]"))
		}
		_ = sw.flush()
	case sw.clientGone || r.Context().Err() != nil:
		o.note = joinNote(o.note, "client disconnected mid-stream; billed for what was streamed")
	default:
		msg := "upstream stream ended early"
		var ue *adaptor.UpstreamError
		if errors.As(err, &ue) && ue.Message != "" {
			msg = ue.Message
		}
		ev, _ := json.Marshal(map[string]any{"error": map[string]any{
			"message": msg + " (request id: " + rid + ")", "type": "upstream_error", "param": nil, "code": "stream_interrupted",
		}})
		sw.write(ev)
		_ = sw.flush()
		o.note = joinNote(o.note, "upstream stream broke off: "+msg)
		s.log.Warn("stream interrupted", "request_id", rid, "err", err)
	}
	return o
}

// streamWriter writes SSE events to the client and keeps what it sent, in
// case usage must be counted by the gateway.
type streamWriter struct {
	w              http.ResponseWriter
	rc             *http.ResponseController
	pending        *[]byte // events not yet written to the client
	seen           *[]byte // events sent, one per line (pooled, like pending)
	dropUsageChunk bool    // upstream usage was requested by us, not the client
	responses      bool
	clientGone     bool
}

var errClientGone = errors.New("client went away")

func (sw *streamWriter) send(data []byte) error {
	if sw.clientGone {
		return errClientGone
	}
	if sw.dropUsageChunk && bytes.Contains(data, []byte(`"choices":[]`)) && bytes.Contains(data, []byte(`"usage":{`)) {
		return nil
	}
	if len(*sw.seen) < maxCountedStream {
		*sw.seen = append(append(*sw.seen, data...), '\n')
	}
	sw.write(data)
	if len(*sw.pending) > maxPendingStream {
		return sw.flush()
	}
	return nil
}

const (
	// maxCountedStream bounds what is kept for counting a stream without usage.
	maxCountedStream = 4 << 20
	// maxPendingStream bounds what is buffered before a write, for upstreams
	// that send faster than we read.
	maxPendingStream = 32 << 10
)

func (sw *streamWriter) write(data []byte) {
	b := append(*sw.pending, "data: "...)
	b = append(b, data...)
	*sw.pending = append(b, '\n', '\n')
}

// flush writes the pending events and flushes them to the client.
func (sw *streamWriter) flush() error {
	if sw.clientGone {
		return errClientGone
	}
	if len(*sw.pending) == 0 {
		return nil
	}
	_, err := sw.w.Write(*sw.pending)
	*sw.pending = (*sw.pending)[:0]
	if err == nil {
		err = sw.rc.Flush()
	}
	if err != nil {
		sw.clientGone = true
		return errClientGone
	}
	return nil
}

// bufPool recycles stream buffers: growing two fresh buffers per stream was
// most of the relay's allocation, and so of its garbage collection.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > 1<<20 {
		return // let an unusually large one go
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}

// flushBeforeRead flushes the client's pending events before each read of the
// upstream body, i.e. whenever the adaptor has consumed all it had.
type flushBeforeRead struct {
	io.ReadCloser
	sw *streamWriter
}

func (f *flushBeforeRead) Read(p []byte) (int, error) {
	if err := f.sw.flush(); err != nil {
		return 0, err
	}
	return f.ReadCloser.Read(p)
}

// ratios is one request's ratios.
type ratios struct{ model, completion, group float64 }

// estimate is what to reserve: the prompt plus the output the client allows
// (or the configured default when it sets no limit).
func (pr ratios) estimate(p *parsed, defaultCompletions int) int64 {
	if p.perCall > 0 {
		return pr.quota(p, 0, 0)
	}
	out := p.maxOutput
	switch p.mode {
	case adaptor.ModeChat, adaptor.ModeCompletions, adaptor.ModeResponses, adaptor.ModeAudioTranscription, adaptor.ModeAudioTranslation:
		if out == 0 {
			out = defaultCompletions
		}
	default:
		out = 0
	}
	return pr.quota(p, p.promptTokens, out)
}

// quota is the cost of a served request.
func (pr ratios) quota(p *parsed, prompt, completion int) int64 {
	if p.perCall > 0 {
		return int64(pr.model * pr.group * 1000 * p.perCall)
	}
	return pricing.Quota(prompt, completion, pr.model, pr.completion, pr.group)
}

// channelFailed records an upstream failure against its channel and, when the
// failure means the key is dead, disables the channel (if the setting is on).
func (s *Server) channelFailed(ch *state.Channel, ue *adaptor.UpstreamError, opts *state.Options) {
	if ue.Class != adaptor.ClassDisable || !opts.AutoDisableChannel {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.state.DisableChannel(ctx, ch.ID, ue.Message); err != nil {
		s.log.Error("auto-disable channel", "channel", ch.ID, "err", err)
		return
	}
	s.log.Warn("channel auto-disabled", "channel", ch.ID, "name", ch.Name, "status", ue.Status, "reason", ue.Message)
}

func (s *Server) accessLog(rid string, c *caller, ch *state.Channel, p *parsed, o outcome, start time.Time) {
	s.log.LogAttrs(context.Background(), slog.LevelInfo, "relay",
		slog.String("request_id", rid),
		slog.String("mode", p.mode.String()),
		slog.String("model", p.model),
		slog.Int64("token", c.token.ID),
		slog.Int64("channel", ch.ID),
		slog.Bool("stream", p.stream),
		slog.Int("prompt", o.prompt),
		slog.Int("completion", o.completion),
		slog.Duration("dur", time.Since(start)),
	)
}

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// countResponse counts completion tokens of a non-stream answer that came
// without usage.
func countResponse(p *parsed, body []byte) int {
	switch p.mode {
	case adaptor.ModeChat, adaptor.ModeCompletions:
		var resp struct {
			Choices []struct {
				Text    string `json:"text"`
				Message struct {
					Content string `json:"content"`
				} `json:"message"`
			} `json:"choices"`
		}
		if json.Unmarshal(body, &resp) != nil {
			return 0
		}
		n := 0
		for _, c := range resp.Choices {
			n += tokenizer.CountText(p.model, c.Text+c.Message.Content)
		}
		return n
	case adaptor.ModeAudioTranscription, adaptor.ModeAudioTranslation:
		var resp struct {
			Text string `json:"text"`
		}
		if json.Unmarshal(body, &resp) != nil {
			return tokenizer.CountText(p.model, string(body)) // text/srt/vtt formats
		}
		return tokenizer.CountText(p.model, resp.Text)
	}
	return 0
}

// countStreamed counts completion tokens of streamed chunks (one per line).
func countStreamed(p *parsed, lines []byte) int {
	var text bytes.Buffer
	for _, line := range bytes.Split(lines, []byte{'\n'}) {
		if len(line) == 0 {
			continue
		}
		var chunk struct {
			Choices []struct {
				Text  string `json:"text"`
				Delta struct {
					Content          string `json:"content"`
					ReasoningContent string `json:"reasoning_content"`
					ToolCalls        []struct {
						Function struct {
							Arguments string `json:"arguments"`
						} `json:"function"`
					} `json:"tool_calls"`
				} `json:"delta"`
			} `json:"choices"`
			Delta string `json:"delta"` // Responses API text deltas
		}
		if json.Unmarshal(line, &chunk) != nil {
			continue
		}
		text.WriteString(chunk.Delta)
		for _, c := range chunk.Choices {
			text.WriteString(c.Text)
			text.WriteString(c.Delta.Content)
			text.WriteString(c.Delta.ReasoningContent)
			for _, tc := range c.Delta.ToolCalls {
				text.WriteString(tc.Function.Arguments)
			}
		}
	}
	return tokenizer.CountText(p.model, text.String())
}
