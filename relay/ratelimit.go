package relay

import (
	"context"
	"log/slog"
	"sort"
	"sync"
	"time"

	"oneapi/queries"
)

// Rate limits across the cluster, on PostgreSQL alone. A limited key's
// requests are admitted from allowance blocks this node takes from the
// rate_grants table (rate_grant_many, one round trip for all of a request's
// limits) and then spends in memory; what a block did not use goes back
// once the key is idle for allowanceIdle or the block's bucket ends, so
// another node may have it. Idle keys hold nothing and cost nothing.
//
// The bound: a windowed limit (RPM, TPM, RPD) counts blocks in buckets of
// width seconds; a grant is refused when the current bucket and the count
// before it already hold the limit, and a node admits from a block only
// while its bucket is current (on this node's clock, measured
// conservatively from the database's). Any rolling minute (day) lies within
// count+1 buckets, so no rolling minute admits more than the limit, however
// many nodes: the slack is zero requests. The price is that a key at its
// limit may get up to one bucket (5 s of a minute, 1 h of a day) less than
// the limit in a period. TPM is reserved at the request's estimate and
// settled to its real tokens, so a request that used more than its estimate
// can make a minute exceed the TPM limit by that excess.
// max_concurrency counts slots held per node; a node that stops has its
// slots freed by the sweeper.
const (
	allowanceIdle  = 250 * time.Millisecond // an unused block goes back after this
	allowanceShare = 16                     // a block is at most 1/allowanceShare of the limit
	limiterEvery   = 50 * time.Millisecond  // how often blocks are returned
	refuseFor      = time.Second            // a refusal is repeated here without asking for this long at most
)

type refusedLimit struct {
	limit int64
	cost  int64 // what the refused request asked: one asking as much or more is refused too
	at    time.Time
	until time.Time
	ref   *refusal
}

// limitKind numbers are rate_grants.kind.
type limitKind int16

const (
	kindRPM         limitKind = 1
	kindRPD         limitKind = 2
	kindTPM         limitKind = 3
	kindConcurrency limitKind = 4
)

// window is the bucket width (seconds) of a windowed kind and how many
// buckets make its period.
func (k limitKind) window() (width, count int64) {
	switch k {
	case kindRPM, kindTPM:
		return 5, 12
	case kindRPD:
		return 3600, 24
	}
	return 0, 0
}

func (k limitKind) String() string {
	switch k {
	case kindRPM:
		return "requests per minute (RPM)"
	case kindRPD:
		return "requests per day (RPD)"
	case kindTPM:
		return "tokens per minute (TPM)"
	}
	return "requests in flight (max_concurrency)"
}

type limitKey struct {
	scope string // "t:12", "u:5", "t:12:gpt-4o"
	kind  limitKind
}

// limitNeed is one limit a request must pass, and what it takes of it.
type limitNeed struct {
	key   limitKey
	limit int64
	cost  int64
	who   string // for the refusal: "this API key", "your account", ...
}

// allowance is a block of one limit this node holds. Guarded by Limiter.mu.
type allowance struct {
	key     limitKey
	limit   int64
	bucket  int64
	until   time.Time // admits until then: its bucket's end on this node's clock
	expire  time.Time // its bucket stops counting: nothing to give back after
	granted int64     // what the database counts for it
	used    int64     // what admitted requests took (TPM: estimates, then real tokens)
	base    int64     // what the window counted besides this block, when granted (for headers)
	freeAt  time.Time // when the window's oldest counted bucket leaves it
	inUse   int       // requests admitted from it not yet released
	last    time.Time // last admission or release
	retired bool      // admits no more; kept until given back
}

// Limiter is this node's share of the cluster's rate limits.
type Limiter struct {
	q      *queries.Queries
	log    *slog.Logger
	nodeID string

	mu      sync.Mutex
	cur     map[limitKey]*allowance
	retired map[*allowance]struct{}
	// acquiring: keys with a grant on the way; their requests wait for it
	// rather than each asking for a block of their own.
	acquiring map[limitKey]chan struct{}
	// refused: limits the database refused lately; a key over its limit is
	// refused here for up to refuseFor without asking again, so a flood of
	// refused requests costs the database nothing.
	refused map[limitKey]refusedLimit

	stop chan struct{}
	done chan struct{}
}

func newLimiter(q *queries.Queries, log *slog.Logger, nodeID string) *Limiter {
	l := &Limiter{q: q, log: log, nodeID: nodeID, cur: map[limitKey]*allowance{}, retired: map[*allowance]struct{}{},
		acquiring: map[limitKey]chan struct{}{}, refused: map[limitKey]refusedLimit{}, stop: make(chan struct{}), done: make(chan struct{})}
	go l.loop()
	return l
}

// admission is what a request took; release gives back what it did not use.
type admission struct {
	takes []limitTake
}

type limitTake struct {
	a    *allowance
	need limitNeed
}

// refusal is a request over a limit.
type refusal struct {
	need       limitNeed
	retryAfter time.Duration
	status     []limitStatus
}

// limitStatus is what the x-ratelimit-* headers say of one limit.
type limitStatus struct {
	kind      limitKind
	limit     int64
	remaining int64
	reset     time.Duration
}

func (l *Limiter) usable(a *allowance, n limitNeed, now time.Time) bool {
	return a != nil && !a.retired && a.limit == n.limit && now.Before(a.until) && a.granted-a.used >= n.cost
}

// Admit takes what needs ask of this node's blocks, asking the database for
// new blocks where they fall short. It returns a refusal when a limit is
// reached, or an error when the database cannot be asked.
func (l *Limiter) Admit(needs []limitNeed) (*admission, *refusal, error) {
	if len(needs) == 0 {
		return nil, nil, nil
	}
	sort.Slice(needs, func(i, j int) bool { // the lock order of rate_grant_many
		if needs[i].key.scope != needs[j].key.scope {
			return needs[i].key.scope < needs[j].key.scope
		}
		return needs[i].key.kind < needs[j].key.kind
	})
	for attempt := 0; ; attempt++ {
		now := time.Now()
		l.mu.Lock()
		for _, n := range needs {
			if r, ok := l.refused[n.key]; ok && r.limit == n.limit && n.cost >= r.cost && now.Before(r.until) {
				l.mu.Unlock()
				ref := *r.ref
				ref.retryAfter = max(ref.retryAfter-now.Sub(r.at), time.Second)
				return nil, &ref, nil
			}
		}
		var missing []limitNeed
		for _, n := range needs {
			if !l.usable(l.cur[n.key], n, now) {
				missing = append(missing, n)
			}
		}
		var wait chan struct{}
		for _, n := range missing {
			if ch := l.acquiring[n.key]; ch != nil {
				wait = ch
			}
		}
		if wait != nil {
			l.mu.Unlock()
			<-wait
			continue
		}
		if len(missing) == 0 {
			adm := &admission{takes: make([]limitTake, len(needs))}
			for i, n := range needs {
				a := l.cur[n.key]
				a.used += n.cost
				a.inUse++
				a.last = now
				adm.takes[i] = limitTake{a, n}
			}
			l.mu.Unlock()
			return adm, nil, nil
		}
		done := make(chan struct{})
		for _, n := range missing {
			l.acquiring[n.key] = done
		}
		l.mu.Unlock()
		// Blocks taken by others of this node's requests meanwhile may fall
		// short again; after a few rounds ask for exactly what is needed.
		exact := attempt >= 3
		ref, err := l.grant(missing, exact)
		l.mu.Lock()
		for _, n := range missing {
			delete(l.acquiring, n.key)
		}
		l.mu.Unlock()
		close(done)
		if err != nil || ref != nil {
			return nil, ref, err
		}
	}
}

// grant takes new blocks for needs from the database and makes them current.
func (l *Limiter) grant(needs []limitNeed, exact bool) (*refusal, error) {
	var p queries.RateGrantManyParams
	p.NodeID = l.nodeID
	for _, n := range needs {
		width, count := n.key.kind.window()
		want := n.cost
		if !exact {
			want = max(n.cost, n.limit/allowanceShare)
		}
		p.Scopes = append(p.Scopes, n.key.scope)
		p.Kinds = append(p.Kinds, int16(n.key.kind))
		p.Limits = append(p.Limits, n.limit)
		p.Widths = append(p.Widths, width)
		p.Counts = append(p.Counts, count)
		p.Wants = append(p.Wants, want)
		p.Mins = append(p.Mins, n.cost)
	}
	sent := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	rows, err := l.q.RateGrantMany(ctx, p)
	cancel()
	if err != nil {
		return nil, err
	}
	// The database's clock, read as this node's: measured from before the
	// call was sent, so a block never outlives its bucket here.
	local := func(ms int64) time.Time {
		if ms == 0 {
			return time.Time{}
		}
		return sent.Add(time.Duration(ms-rows[0].NowMs) * time.Millisecond)
	}
	refused := false
	for _, r := range rows {
		if r.Granted < needs[r.Idx].cost {
			refused = true
		}
	}
	if refused {
		ref := &refusal{}
		for _, r := range rows {
			n := needs[r.Idx]
			st := limitStatus{kind: n.key.kind, limit: n.limit, remaining: max(0, n.limit-r.Used)}
			if free := local(r.FreeAtMs); !free.IsZero() {
				st.reset = max(0, time.Until(free))
			}
			ref.status = append(ref.status, st)
			if r.Used+n.cost > n.limit && (ref.need.limit == 0 || st.reset > ref.retryAfter) {
				ref.need, ref.retryAfter = n, st.reset
			}
		}
		if ref.need.limit == 0 { // refused for another's sake: cannot be, but say something true
			ref.need = needs[0]
		}
		if ref.need.key.kind == kindConcurrency || ref.retryAfter <= 0 {
			ref.retryAfter = time.Second
		}
		if ref.need.key.kind != kindConcurrency { // slots free at any moment: always ask
			l.mu.Lock()
			if len(l.refused) > 10_000 {
				clear(l.refused)
			}
			l.refused[ref.need.key] = refusedLimit{limit: ref.need.limit, cost: ref.need.cost, at: sent,
				until: sent.Add(min(ref.retryAfter, refuseFor)), ref: ref}
			l.mu.Unlock()
		}
		return ref, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range rows {
		n := needs[r.Idx]
		width, count := n.key.kind.window()
		a := &allowance{key: n.key, limit: n.limit, bucket: r.Bucket, granted: r.Granted, base: r.Used - r.Granted,
			freeAt: local(r.FreeAtMs), last: sent}
		if width > 0 {
			a.until = local((r.Bucket + width) * 1000)
			a.expire = local((r.Bucket + width*(count+1)) * 1000)
		} else {
			a.until, a.expire = sent.Add(100*365*24*time.Hour), sent.Add(100*365*24*time.Hour)
		}
		if old := l.cur[n.key]; old != nil {
			old.retired = true
			l.retired[old] = struct{}{}
		}
		l.cur[n.key] = a
	}
	return nil, nil
}

// release ends a request's hold: a concurrency slot is free again, a TPM
// estimate becomes the tokens really used, and a request that never reached
// an upstream (served false) does not count against RPM and RPD.
func (l *Limiter) release(adm *admission, tokens int64, served bool) {
	if adm == nil {
		return
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, t := range adm.takes {
		a := t.a
		a.inUse--
		a.last = now
		switch t.need.key.kind {
		case kindTPM:
			if served {
				a.used += tokens - t.need.cost
			} else {
				a.used -= t.need.cost
			}
		case kindConcurrency:
			a.used -= t.need.cost
		default:
			if !served {
				a.used -= t.need.cost
			}
		}
	}
}

// headers is what the x-ratelimit-* headers say after an admission: the
// tightest request and token limits. The blocks are shared with other
// requests, so they are read under the limiter's lock.
func (l *Limiter) headers(adm *admission, now time.Time) []limitStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []limitStatus
	for _, t := range adm.takes {
		a := t.a
		st := limitStatus{kind: t.need.key.kind, limit: a.limit, remaining: max(0, a.limit-a.base-a.used)}
		if !a.freeAt.IsZero() {
			st.reset = max(0, a.freeAt.Sub(now))
		}
		out = append(out, st)
	}
	return out
}

func (l *Limiter) loop() {
	defer close(l.done)
	tick := time.NewTicker(limiterEvery)
	defer tick.Stop()
	lastForget := time.Now()
	for {
		select {
		case <-tick.C:
		case <-l.stop:
			l.giveBack(true)
			return
		}
		l.giveBack(false)
		if time.Since(lastForget) > time.Hour {
			lastForget = time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := l.q.RateGrantsForget(ctx); err != nil {
				l.log.Warn("forget old rate counts", "err", err)
			}
			cancel()
		}
	}
}

type giveBackItem struct {
	a      *allowance
	amount int64
}

// giveBack returns what blocks hold unused (or owe: TPM beyond estimates)
// once they are idle, retired or past their bucket; all of it when stopping.
func (l *Limiter) giveBack(all bool) {
	now := time.Now()
	var items []giveBackItem
	l.mu.Lock()
	consider := func(a *allowance) {
		windowed := a.key.kind != kindConcurrency
		if windowed && !now.Before(a.expire) { // no longer counted: forget it
			l.forget(a)
			return
		}
		// A block that goes back admits no more first: a request admitted
		// while its return is on the way would be counted nowhere.
		ended := windowed && !now.Before(a.until)
		if !a.retired && (all || ended || now.Sub(a.last) >= allowanceIdle) {
			l.forget(a)
			a.retired = true
			l.retired[a] = struct{}{}
		}
		if !a.retired {
			return
		}
		if amount := a.granted - a.used; amount != 0 {
			items = append(items, giveBackItem{a, amount})
		} else if a.inUse == 0 {
			l.forget(a)
		}
	}
	list := make([]*allowance, 0, len(l.cur)+len(l.retired)) // each once: consider moves some from cur to retired
	for _, a := range l.cur {
		list = append(list, a)
	}
	for a := range l.retired {
		list = append(list, a)
	}
	for _, a := range list {
		consider(a)
	}
	l.mu.Unlock()
	if len(items) == 0 {
		return
	}
	var p queries.RateReturnManyParams
	p.NodeID = l.nodeID
	for _, it := range items {
		p.Scopes = append(p.Scopes, it.a.key.scope)
		p.Kinds = append(p.Kinds, int16(it.a.key.kind))
		p.Buckets = append(p.Buckets, it.a.bucket)
		p.Amounts = append(p.Amounts, it.amount)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	err := l.q.RateReturnMany(ctx, p)
	cancel()
	if err != nil {
		l.log.Warn("return rate allowance", "err", err) // kept, and tried again next tick
		return
	}
	l.mu.Lock()
	for _, it := range items {
		it.a.granted -= it.amount
		if it.a.granted == it.a.used && it.a.inUse == 0 {
			l.forget(it.a)
		}
	}
	l.mu.Unlock()
}

// forget drops a from the maps. l.mu must be held.
func (l *Limiter) forget(a *allowance) {
	if l.cur[a.key] == a {
		delete(l.cur, a.key)
	}
	delete(l.retired, a)
}

// close gives every block back.
func (l *Limiter) close() {
	close(l.stop)
	<-l.done
}
