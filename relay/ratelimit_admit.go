package relay

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"oneapi/state"
)

// A request's rate limits: its token's and its user's (the user's own, or
// its group's defaults), on every request and per model, each passed in
// ratelimit.go. Answers of a limited key carry OpenAI's x-ratelimit-*
// headers; a refusal is OpenAI's 429 rate_limit_exceeded with Retry-After.

// limitNeeds lists what a request of estTokens (prompt plus the most output
// it may produce) takes of c's limits on model.
func limitNeeds(c *caller, opts *state.Options, model string, estTokens int64) []limitNeed {
	var needs []limitNeed
	// scope builds the key's name only for a limit that is set: an
	// unlimited key (the common case) costs no allocation here.
	add := func(scope func() string, who func() string, l state.Limits) {
		if l.Zero() {
			return
		}
		name, whom := scope(), who()
		for _, k := range []struct {
			kind  limitKind
			limit int64
			cost  int64
		}{{kindRPM, l.RPM, 1}, {kindRPD, l.RPD, 1}, {kindTPM, l.TPM, max(estTokens, 1)}, {kindConcurrency, l.Concurrency, 1}} {
			if k.limit > 0 {
				needs = append(needs, limitNeed{key: limitKey{name, k.kind}, limit: k.limit, cost: k.cost, who: whom})
			}
		}
	}
	tokenScope := func() string { return "t:" + strconv.FormatInt(c.token.ID, 10) }
	userScope := func() string { return "u:" + strconv.FormatInt(c.user.ID, 10) }
	add(tokenScope, func() string { return "this API key" }, c.token.Limits.Limits)
	if m := c.token.Limits.Model(model); !m.Zero() {
		add(func() string { return tokenScope() + ":" + model }, func() string { return "this API key on " + model }, m)
	}
	ul := opts.UserLimits(c.user)
	add(userScope, func() string { return "your account" }, ul.Limits)
	if m := ul.Model(model); !m.Zero() {
		add(func() string { return userScope() + ":" + model }, func() string { return "your account on " + model }, m)
	}
	return needs
}

// setRateHeaders writes OpenAI's x-ratelimit-* headers: of the request
// limits (RPM, RPD) and the token limit (TPM) with the least remaining.
func setRateHeaders(h http.Header, status []limitStatus) {
	var req, tok *limitStatus
	for i := range status {
		st := &status[i]
		switch st.kind {
		case kindRPM, kindRPD:
			if req == nil || st.remaining < req.remaining {
				req = st
			}
		case kindTPM:
			if tok == nil || st.remaining < tok.remaining {
				tok = st
			}
		}
	}
	for _, x := range []struct {
		name string
		st   *limitStatus
	}{{"requests", req}, {"tokens", tok}} {
		if x.st == nil {
			continue
		}
		h.Set("x-ratelimit-limit-"+x.name, strconv.FormatInt(x.st.limit, 10))
		h.Set("x-ratelimit-remaining-"+x.name, strconv.FormatInt(x.st.remaining, 10))
		h.Set("x-ratelimit-reset-"+x.name, resetDuration(x.st.reset))
	}
}

// resetDuration is OpenAI's way of writing a reset time: "1s", "6m0s", "20ms".
func resetDuration(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// rateLimited is the 429 of a refusal, its headers set on h.
func rateLimited(h http.Header, ref *refusal) *apiError {
	setRateHeaders(h, ref.status)
	secs := int64(math.Ceil(ref.retryAfter.Seconds()))
	h.Set("Retry-After", strconv.FormatInt(max(secs, 1), 10))
	typ := "requests"
	if ref.need.key.kind == kindTPM {
		typ = "tokens"
	}
	return &apiError{http.StatusTooManyRequests, typ, "rate_limit_exceeded",
		fmt.Sprintf("Rate limit reached for %s: %s may make at most %d. Please try again in %s.",
			ref.need.key.kind, ref.need.who, ref.need.limit, resetDuration(ref.retryAfter))}
}
