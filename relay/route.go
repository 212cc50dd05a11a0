package relay

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"oneapi/relay/adaptor"
	"oneapi/state"
)

// route picks a request's channels: the first, then the next untried one
// after a failure, skipping channels that asked, with Retry-After, not to be
// called for a while.
type route struct {
	s      *Server
	routes *state.Routes
	group  string
	model  string
	tried  map[int64]bool
	// cooling: a channel was skipped only because it is cooling down.
	cooling bool
}

// first is the channel for the request's first attempt: the one the caller
// pinned, or a pick.
func (rt *route) first(c *caller) (*state.Channel, *apiError) {
	if c.pinnedChannel != 0 {
		ch := rt.routes.Channel(c.pinnedChannel)
		if ch == nil || ch.Status != state.StatusEnabled {
			return nil, &apiError{http.StatusNotFound, "invalid_request_error", "channel_not_found",
				fmt.Sprintf("Channel %d does not exist or is disabled.", c.pinnedChannel)}
		}
		return ch, nil
	}
	if !rt.routes.Serves(rt.group, rt.model) {
		return nil, modelNotFound(rt.model)
	}
	return rt.next(), nil // nil: the caller answers unavailable
}

// next picks an untried channel, not cooling down; nil when none is left.
func (rt *route) next() *state.Channel {
	skip := rt.tried
	if cool := rt.s.cooldowns.active(); len(cool) > 0 {
		skip = make(map[int64]bool, len(rt.tried)+len(cool))
		for id := range rt.tried {
			skip[id] = true
		}
		for id := range cool {
			skip[id] = true
		}
		if ch := rt.routes.Pick(rt.group, rt.model, skip); ch != nil {
			return ch
		}
		rt.cooling = rt.routes.Pick(rt.group, rt.model, rt.tried) != nil
		return nil
	}
	return rt.routes.Pick(rt.group, rt.model, skip)
}

// unavailable answers when no channel is left to try: a 429 with
// Retry-After when the only ones are cooling down, else no_available_channel.
func (rt *route) unavailable(w http.ResponseWriter, rid string, ent entrance) {
	if rt.cooling {
		wait := rt.s.cooldowns.soonest()
		w.Header().Set("Retry-After", retryAfterHeader(wait))
		ent.writeError(w, rid, &apiError{http.StatusTooManyRequests, "rate_limit_error", "rate_limit_exceeded",
			fmt.Sprintf("Every channel serving `%s` is rate limited upstream; retry after %s.", rt.model, wait.Round(time.Second))})
		return
	}
	ent.writeError(w, rid, rt.noChannel())
}

// noChannel names why nothing serves the request.
func (rt *route) noChannel() *apiError {
	return &apiError{http.StatusServiceUnavailable, "server_error", "no_available_channel",
		fmt.Sprintf("No enabled channel serves %s for group %s right now.", rt.model, rt.group)}
}

// coolDown remembers a channel's Retry-After on a 429, so that no request
// of this node calls it again before then (at most maxCooldown).
func (s *Server) coolDown(ch *state.Channel, ue *adaptor.UpstreamError) {
	if ue.Status == http.StatusTooManyRequests && ue.RetryAfter > 0 {
		s.cooldowns.set(ch.ID, min(ue.RetryAfter, maxCooldown))
	}
}

// maxCooldown bounds a Retry-After: an upstream asking for a day would
// otherwise take a channel out of routing for a day.
const maxCooldown = time.Minute

// cooldowns are the channels of this node cooling down after a 429.
type cooldowns struct {
	mu    sync.Mutex
	until map[int64]time.Time
	n     atomic.Int32 // len(until), read without the lock
}

func (c *cooldowns) set(id int64, d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.until == nil {
		c.until = map[int64]time.Time{}
	}
	c.until[id] = time.Now().Add(d)
	c.n.Store(int32(len(c.until)))
}

// active returns the channels still cooling down, forgetting the others.
// Its fast path, with none, takes no lock.
func (c *cooldowns) active() map[int64]time.Time {
	if c.n.Load() == 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	out := make(map[int64]time.Time, len(c.until))
	for id, t := range c.until {
		if now.Before(t) {
			out[id] = t
		} else {
			delete(c.until, id)
		}
	}
	c.n.Store(int32(len(c.until)))
	return out
}

func (c *cooldowns) soonest() time.Duration {
	var best time.Duration
	now := time.Now()
	for _, t := range c.active() {
		if d := t.Sub(now); best == 0 || d < best {
			best = d
		}
	}
	return max(best, time.Second)
}

func retryAfterHeader(d time.Duration) string {
	return strconv.Itoa(int((max(d, time.Second) + time.Second - 1) / time.Second))
}
