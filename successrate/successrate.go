// Package successrate keeps each channel's recent upstream outcomes and says
// when its success rate falls under a threshold: One API's ENABLE_METRIC,
// METRIC_QUEUE_SIZE and METRIC_SUCCESS_RATE_THRESHOLD. The relay records
// one outcome per upstream attempt and disables a channel the tracker trips
// on. It holds no more than the last window outcomes of each channel.
package successrate

import "sync"

// Tracker is safe for concurrent use.
type Tracker struct {
	window    int
	threshold float64

	mu    sync.Mutex
	chans map[int64]*ring
}

// ring is one channel's last outcomes.
type ring struct {
	ok   []bool
	next int // where the next outcome goes
	n    int // outcomes held, up to len(ok)
	good int // successes among them
}

// New tracks the last window outcomes of every channel and trips when their
// success rate is under threshold (0 to 1). One API's defaults are 10 and 0.8.
func New(window int, threshold float64) *Tracker {
	if window < 1 {
		window = 1
	}
	return &Tracker{window: window, threshold: threshold, chans: map[int64]*ring{}}
}

// Window is how many outcomes a channel is judged on.
func (t *Tracker) Window() int { return t.window }

// Threshold is the success rate under which a channel trips.
func (t *Tracker) Threshold() float64 { return t.threshold }

// Record adds one outcome of channel id: ok when it answered, false when it
// failed in a way that is its own fault (the caller leaves out failures the
// client caused). It trips, returning the rate, only on a failure once a
// full window is under the threshold; the channel's window then starts
// over, so one bad run disables it once and a channel re-enabled later is
// judged on fresh outcomes (as One API does).
func (t *Tracker) Record(id int64, ok bool) (rate float64, tripped bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.chans[id]
	if r == nil {
		r = &ring{ok: make([]bool, t.window)}
		t.chans[id] = r
	}
	if r.n == len(r.ok) {
		if r.ok[r.next] {
			r.good--
		}
	} else {
		r.n++
	}
	r.ok[r.next] = ok
	if ok {
		r.good++
	}
	r.next = (r.next + 1) % len(r.ok)
	rate = float64(r.good) / float64(r.n)
	if ok || r.n < len(r.ok) || rate >= t.threshold {
		return rate, false
	}
	delete(t.chans, id)
	return rate, true
}

// Rate is channel id's success rate over the outcomes held, and how many.
func (t *Tracker) Rate(id int64) (rate float64, n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.chans[id]
	if r == nil || r.n == 0 {
		return 1, 0
	}
	return float64(r.good) / float64(r.n), r.n
}
