package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"oneapi/pricing"
	"oneapi/relay/adaptor"
	"oneapi/state"
)

// largePrompt is the body size from which the token's balance is checked
// before the prompt is counted: counting is linear but not free, and a key
// with nothing left must not make the gateway count for it.
const largePrompt = 64 << 10

// relay handles one POST to an OpenAI endpoint, a request's whole life:
// authenticate, parse, route, count and reserve, call upstream (retrying
// another channel when that helps), settle.
func (s *Server) relay(w http.ResponseWriter, r *http.Request, rid string, ent entrance) {
	start := time.Now()
	// RELAY_TIMEOUT bounds the whole request, every attempt included.
	ctx, cancel := s.withTimeout(r.Context())
	defer cancel()

	c, aerr := s.authenticateKey(r, ent.key(r))
	if aerr != nil {
		ent.writeError(w, rid, aerr)
		return
	}
	body, aerr := s.readBody(w, r)
	if aerr != nil {
		ent.writeError(w, rid, aerr)
		return
	}
	var pu promptUse
	if oe, ok := ent.(openAIEntrance); ok { // stored prompts (prompt.go) are OpenAI's
		if body, pu, aerr = s.applyPrompt(r, c, oe.mode, body); aerr != nil {
			ent.writeError(w, rid, aerr)
			return
		}
	} else if aerr = noStoredPrompt(r, c); aerr != nil {
		ent.writeError(w, rid, aerr)
		return
	}
	p, aerr := ent.parse(body, r.Header.Get("Content-Type"))
	if aerr != nil {
		ent.writeError(w, rid, aerr)
		return
	}
	p.ent, p.header = ent, r.Header
	if !c.modelAllowed(p.model) {
		ent.writeError(w, rid, modelNotAllowed(p.model))
		return
	}

	routes := s.state.Routes()
	opts := s.state.Options()
	group := c.user.Group
	rt := route{s: s, routes: routes, group: group, model: p.model, tried: make(map[int64]bool, 2)}
	ch, aerr := rt.first(c)
	if aerr != nil {
		ent.writeError(w, rid, aerr)
		return
	}
	if ch == nil {
		rt.unavailable(w, rid, ent)
		return
	}
	bill := s.billFor(opts, ch, p, group)
	if !bill.priced && opts.RefuseUnpricedModels {
		ent.writeError(w, rid, &apiError{http.StatusForbidden, "invalid_request_error", "model_price_not_set",
			fmt.Sprintf("The model `%s` has no price set; ask the administrator to set one.", bill.model)})
		return
	}

	// The cheap refusals are made; now the prompt is counted, which stops
	// when the client goes.
	if len(body) >= largePrompt {
		ok, err := s.meter.HasQuota(ctx, c.token.ID)
		if err != nil {
			s.log.Error("quota check", "request_id", rid, "err", err)
			ent.writeError(w, rid, errInternal)
			return
		}
		if !ok {
			ent.writeError(w, rid, errQuotaExhausted)
			return
		}
	}
	if err := p.countPrompt(ctx); err != nil {
		ent.writeError(w, rid, clientGone(err))
		return
	}

	// Rate limits (ratelimit.go): every answer from here on carries the
	// x-ratelimit-* headers of a limited key.
	estTokens := int64(p.promptTokens) + int64(satMul(bill.outputCap(p, opts), p.choices))
	adm, ref, err := s.meter.limits.Admit(limitNeeds(c, opts, p.model, estTokens))
	switch {
	case ref != nil:
		ent.writeError(w, rid, rateLimited(w.Header(), ref))
		return
	case err != nil:
		s.log.Error("rate limit", "request_id", rid, "err", err)
		ent.writeError(w, rid, errInternal)
		return
	case adm != nil:
		setRateHeaders(w.Header(), s.meter.limits.headers(adm, time.Now()))
	}

	plan := bill.plan(p, opts)
	ticket, err := s.meter.Reserve(ctx, Reservation{
		UserID: c.user.ID, TokenID: c.token.ID, ChannelID: ch.ID, Model: p.model,
		Quota: plan.max, MinQuota: plan.min, Stream: p.stream, RequestID: rid, Leasable: opts.QuotaLeases,
	})
	if err != nil {
		s.meter.limits.release(adm, 0, false)
	}
	switch {
	case errors.Is(err, ErrTokenQuota):
		ent.writeError(w, rid, errTokenQuota)
		return
	case errors.Is(err, ErrUserQuota):
		ent.writeError(w, rid, errUserQuota)
		return
	case err != nil:
		s.log.Error("reserve", "request_id", rid, "err", err)
		ent.writeError(w, rid, errInternal)
		return
	}

	settle := Settlement{
		Ticket: ticket, Reserved: ticket.Granted, UserID: c.user.ID, Username: c.user.Username,
		TokenID: c.token.ID, TokenName: c.token.Name, Model: p.model, Stream: p.stream, RequestID: rid,
		PromptName: pu.Name, PromptVersion: pu.Version, PromptHash: pu.Hash,
	}
	// Whatever happens below, the reservation is settled exactly once.
	defer func() {
		settle.Elapsed = time.Since(start)
		s.meter.Settle(settle)
		s.meter.limits.release(adm, int64(settle.Usage.Input+settle.Usage.Output), settle.Served)
	}()

	attempts := 1 + opts.RetryTimes
	if c.pinnedChannel != 0 {
		attempts = 1
	}
	var lastErr *adaptor.UpstreamError
	tries := 0
	for attempt := 0; attempt < attempts && ch != nil; attempt++ {
		rt.tried[ch.ID] = true
		tries++
		settle.ChannelID = ch.ID // the channel tried last, for a failure's log row
		if attempt > 0 {
			bill = s.billFor(opts, ch, p, group)
		}
		out := s.attempt(ctx, w, r, rid, ch, p, bill.outputLimit(p, opts, ch, ticket.Granted), bill.model)
		s.recordOutcome(ch, out, r.Context().Err() != nil) // ENABLE_METRIC's success rate
		if out.served {
			settle.Served = true
			settle.ChannelID = ch.ID
			settle.UpstreamModel = bill.model
			settle.Usage, settle.UsageCounted = out.usage, out.counted
			settle.Quota = bill.cost(p, out)
			if out.atEstimate {
				settle.Quota = ticket.Granted
			}
			settle.Content = joinNote(joinNote(bill.note, out.note), clientSessionNote(r))
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
		ch = rt.next()
	}
	if lastErr == nil {
		rt.unavailable(w, rid, ent)
		return
	}
	settle.Failure = &Failure{Status: lastErr.Status, Code: fromUpstream(lastErr).Code, Message: lastErr.Message, Attempts: tries}
	s.log.Warn("relay failed", "request_id", rid, "model", p.model, "status", lastErr.Status, "err", lastErr.Message)
	if lastErr.Status == http.StatusTooManyRequests && lastErr.RetryAfter > 0 {
		w.Header().Set("Retry-After", retryAfterHeader(lastErr.RetryAfter))
	}
	ent.writeError(w, rid, fromUpstream(lastErr))
}

// clientGone is the reply to a request whose client left while its prompt
// was counted, or whose time ran out (nobody reads it in the first case).
func clientGone(err error) *apiError {
	if errors.Is(err, context.DeadlineExceeded) {
		return &apiError{http.StatusGatewayTimeout, "server_error", "timeout", "The request took longer than the gateway's time limit."}
	}
	return &apiError{499, "invalid_request_error", "client_closed_request", "The client closed the request."}
}

// outcome is the result of one upstream attempt.
type outcome struct {
	served  bool // the client got an answer (possibly cut short)
	usage   pricing.Usage
	counted bool // the gateway counted (some of) usage itself
	note    string
	err     *adaptor.UpstreamError // when !served
	// perCall: an image request whose upstream reported no token usage,
	// billed per image.
	perCall bool
	// atEstimate: nobody knows what the call used; it is billed at its
	// reservation.
	atEstimate bool
}

// attempt calls one channel. It returns served=false only if nothing was
// written to the client, so the caller may retry elsewhere. maxOut, when
// > 0, is the output limit sent upstream (what the reservation pays for).
func (s *Server) attempt(ctx context.Context, w http.ResponseWriter, r *http.Request, rid string, ch *state.Channel, p *parsed, maxOut int, upModel string) outcome {
	a := adaptor.For(ch.Type)
	nat := p.ent.native(ch.Type) // the channel speaks the client's protocol: pass through
	if nat != nil {
		a = nat
	}
	if a == nil {
		return outcome{err: &adaptor.UpstreamError{Status: http.StatusBadGateway, Message: fmt.Sprintf("channel type %d is not supported", ch.Type), Class: adaptor.ClassRetry}}
	}
	if maxOut < 0 {
		return outcome{err: &adaptor.UpstreamError{Status: http.StatusForbidden, Type: "insufficient_quota", Code: "insufficient_quota",
			Message: "The quota reserved for this request does not pay for its prompt on this channel.", Class: adaptor.ClassRetry}}
	}
	var body []byte
	var err error
	if nat != nil {
		body, err = p.ent.nativeBody(p, upModel, ch.SystemPrompt, maxOut)
	} else {
		body, err = upstreamBody(p, upModel, ch.SystemPrompt, maxOut)
	}
	if err != nil {
		return outcome{err: &adaptor.UpstreamError{Status: http.StatusBadRequest, Message: "could not prepare the request", Class: adaptor.ClassClient}}
	}
	areq := &adaptor.Request{Mode: p.mode, Model: upModel, Body: body, ContentType: p.contentType, Stream: p.stream, Chat: p.chat,
		PromptTokens: p.promptTokens, Header: p.header}
	// A non-stream call is not cut when its client leaves: the upstream
	// works (and bills) all the same, so the gateway waits for its usage
	// and bills that. Streams are cut and billed for what was streamed.
	callCtx := ctx
	if !p.stream {
		var cancel context.CancelFunc
		callCtx, cancel = detach(ctx)
		defer cancel()
	}
	// channel_call.go: the key in rotation, the channel's proxy, timeout and
	// headers, the adaptor's Prepare; a dead key of a multi-key channel is
	// disabled alone and the next one tried.
	resp, ue, transport := send(callCtx, s.client, ch, a, areq)
	switch {
	case ue != nil && transport:
		return s.cutCall(r, p, ue)
	case ue != nil:
		s.coolDown(ch, ue)
		return outcome{err: ue}
	}
	if p.stream {
		return s.relayStream(w, r, rid, a, areq, resp, p, p.ent.newStream(p, rid, nat != nil))
	}
	out, usage, err := a.DecodeResponse(areq, resp)
	// Read after decoding: an adaptor that converted the reply says what it made.
	contentType := resp.Header.Get("Content-Type")
	if err != nil {
		var ue *adaptor.UpstreamError
		if !errors.As(err, &ue) {
			ue = &adaptor.UpstreamError{Status: http.StatusBadGateway, Message: "invalid upstream response", Class: adaptor.ClassRetry}
		}
		return s.cutCall(r, p, ue)
	}
	o := outcome{served: true, usage: usage.Usage}
	if !usage.Reported {
		o.counted = true
		o.usage = pricing.Usage{Input: p.promptTokens, Output: countResponse(p, out)}
		o.perCall = p.mode == adaptor.ModeImages
	}
	if nat == nil {
		// A converted reply in the client's protocol (as it is for OpenAI's).
		if out, err = p.ent.encodeReply(p, out, o.usage); err != nil {
			return outcome{err: &adaptor.UpstreamError{Status: http.StatusBadGateway, Message: "invalid upstream response", Class: adaptor.ClassRetry, Err: err}}
		}
	}
	if contentType == "" {
		contentType = "application/json"
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
	if r.Context().Err() != nil {
		o.note = "client disconnected before the answer; billed for what upstream served"
	}
	return o
}

// detach is ctx without its cancellation (the client's) but with its
// deadline (the relay timeout).
func detach(ctx context.Context) (context.Context, context.CancelFunc) {
	d, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(context.WithoutCancel(ctx))
	}
	return context.WithDeadline(context.WithoutCancel(ctx), d)
}

// cutCall is what a failed non-stream call comes to: an error to retry or
// report, unless its client had already left and the gateway's time limit
// cut the call off: the upstream did work nobody can tell the size of, so
// it is billed at its estimate.
func (s *Server) cutCall(r *http.Request, p *parsed, ue *adaptor.UpstreamError) outcome {
	if p.stream || r.Context().Err() == nil || ue.Code != "timeout" {
		return outcome{err: ue}
	}
	return outcome{served: true, counted: true, atEstimate: true, usage: pricing.Usage{Input: p.promptTokens},
		note: "client disconnected and the upstream call was cut by the time limit; billed at the estimate"}
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
		slog.Int("prompt", o.usage.Input),
		slog.Int("completion", o.usage.Output),
		slog.Duration("dur", time.Since(start)),
	)
}

func joinNote(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}
