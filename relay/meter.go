package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"oneapi/pricing"
	"oneapi/queries"
)

// Log types (One API's numbers).
const (
	LogTypeTopup   = 1
	LogTypeConsume = 2
	LogTypeManage  = 3
	LogTypeSystem  = 4
)

// ErrTokenQuota and ErrUserQuota are the two ways a reservation is refused.
var (
	ErrTokenQuota = errors.New("token quota exhausted")
	ErrUserQuota  = errors.New("user quota insufficient")
)

// Reservation is quota taken before an upstream call.
type Reservation struct {
	UserID, TokenID, ChannelID int64
	Model                      string
	// Quota is what the request may cost at most. When the token or user
	// has less, as much as they have is granted, down to MinQuota (0: Quota,
	// all or nothing); below that the reservation is refused.
	Quota, MinQuota int64
	Stream          bool
	RequestID       string
	// Leasable lets a busy token's request draw on a quota lease.
	Leasable bool
}

// Ticket is a request's hold on quota: a reservation row of its own, or a
// draw on this node's lease for the token (lease.go).
type Ticket struct {
	ReservationID int64
	// Granted is what was reserved: Reservation.Quota, or less down to
	// MinQuota when the balance was short.
	Granted int64
	// The balances' epochs the reservation was taken under (see settle.go).
	TokenEpoch, UserEpoch int64
	draw                  *draw
}

// Settlement closes a reservation with what was really used.
type Settlement struct {
	Ticket    Ticket
	Reserved  int64 // Ticket.Granted
	Quota     int64 // what the request really costs
	UserID    int64
	Username  string
	TokenID   int64
	TokenName string
	ChannelID int64
	// Model is what the client asked for; UpstreamModel what served it,
	// after the channel's model mapping (and what was priced).
	Model, UpstreamModel string
	Usage                pricing.Usage
	// UsageCounted: the gateway counted the tokens; upstream reported none,
	// or the stream was cut before it did.
	UsageCounted bool
	Elapsed      time.Duration
	Stream       bool
	RequestID    string
	Content      string // note for the log row, e.g. "unpriced model"
	// The stored prompt the request used, if any (prompt.go).
	PromptName    string
	PromptVersion int
	PromptHash    string
	// Served is false when no upstream answered: the reservation is refunded
	// and no request is counted; Failure, when set, says why, and the
	// request gets an error log row (failure_log.go).
	Served  bool
	Failure *Failure
	At      time.Time
}

// Meter reserves quota before upstream calls and settles it afterwards.
// Reservations from concurrent requests are batched into one statement;
// settlements are batched into one transaction off the request path, and
// flushed on Close. The reservations table makes both crash-safe: the
// reservations of a node that stopped (its meter_nodes heartbeat) are settled
// at their estimate by SweepStale.
type Meter struct {
	// pool is the meter's own, with synchronous_commit off: no request waits
	// for a WAL flush (about a millisecond here) to reserve. A database crash
	// can lose the last moments of reservations, and every such loss is
	// caught: a lost reservation is billed in full at settlement (see flush),
	// a lost lease leaves its requests to be billed directly. Settlement
	// flushes commit synchronously: they run off the request path, and a lost
	// one would lose what leases spent, which nothing else records.
	pool   *pgxpool.Pool
	q      *queries.Queries
	log    *slog.Logger
	nodeID string

	// Reservations: whoever arrives while fewer than reserveBatches are in
	// flight runs a batch itself, with everything queued so far; the rest
	// queue and are handed on as the next batch. Alone, a request reserves on
	// its own goroutine with no handoff; under load, one round trip serves many.
	rmu      sync.Mutex
	rqueue   []reserveCall
	inFlight int

	// Settlements are appended under a mutex and written every settleEvery
	// (sooner when many queue, or when a refused reservation waits for the
	// refunds this node owes), so a request never wakes another goroutine to
	// record its bill.
	smu          sync.Mutex
	settles      []Settlement
	flushing     []Settlement    // the settlements being written now
	flushWaiters []chan struct{} // closed once a flush that began after they came has ended
	wake         chan struct{}
	wg           sync.WaitGroup
	stop         chan struct{}
	closeOnce    sync.Once

	// Quota leases (lease.go), also under smu.
	leases    map[*lease]struct{}
	current   map[int64]*lease // by token: the lease its requests draw from
	acquiring map[int64]bool   // tokens with a lease being taken
	heat      map[int64]*heat
	lastRenew time.Time
	lastPrune time.Time // of heat

	// Settlement flushes, touched by the settle loop only: each is numbered
	// and marks its number in meter_flushes; unsure is a failed one that may
	// have committed all the same (its COMMIT reply lost).
	flushSeq  int64
	unsure    *flushAttempt
	lastBeat  time.Time
	beatEvery time.Duration
	// loseCommitReply, set by tests, fails a flush after it committed;
	// loseReserveReply fails a reservation batch after it ran.
	loseCommitReply  func() bool
	loseReserveReply func() bool
	// failures bounds the error log rows of each key (failure_log.go), under smu.
	failures map[int64]*failureBudget

	// limits is this node's share of the cluster's rate limits (ratelimit.go).
	limits *Limiter

	// die, closed by tests, stops the settle loop as a killed process
	// would: nothing queued is written, no heartbeat is renewed.
	die chan struct{}
}

// flushAttempt is a flush whose outcome is unknown: its number, how many
// settlements of the carry it held, and what it would have applied.
type flushAttempt struct {
	id  int64
	n   int
	res flushResult
}

type reserveCall struct {
	r    Reservation
	done chan reserveResult
}

type reserveResult struct {
	t    Ticket
	err  error
	lead []reserveCall // non-nil: the receiver now runs this batch
}

const (
	maxReserveBatch = 256
	maxSettleBatch  = 1024
	settleEvery     = 50 * time.Millisecond
	reserveBatches  = 2 // reservation batches in flight at once
	// nodeBeatEvery is how often a node renews its meter_nodes row; the
	// sweeper waits for NodeDeadAfter of silence.
	nodeBeatEvery = 5 * time.Second
	// NodeDeadAfter is how long a node may go without renewing its row
	// before the sweeper settles its reservations.
	NodeDeadAfter = time.Minute
)

// NewMeter registers the node and starts the meter's settlement worker.
func NewMeter(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger, nodeID string) (*Meter, error) {
	rcfg := pool.Config().Copy()
	rcfg.ConnConfig.RuntimeParams["synchronous_commit"] = "off"
	rcfg.MaxConns = reserveBatches + 2 // reservations, settlement, the sweeper
	rcfg.MinConns = reserveBatches + 1
	rpool, err := pgxpool.NewWithConfig(ctx, rcfg)
	if err != nil {
		return nil, fmt.Errorf("meter pool: %w", err)
	}
	m := &Meter{
		pool: rpool, q: queries.New(rpool), log: log, nodeID: nodeID,
		wake:   make(chan struct{}, 1),
		stop:   make(chan struct{}),
		leases: map[*lease]struct{}{}, current: map[int64]*lease{}, acquiring: map[int64]bool{}, heat: map[int64]*heat{},
		beatEvery: nodeBeatEvery, die: make(chan struct{}),
	}
	// The heartbeat row exists before any reservation of this node does.
	if err := m.q.MeterNodeBeat(ctx, nodeID); err != nil {
		rpool.Close()
		return nil, fmt.Errorf("register meter node: %w", err)
	}
	m.lastBeat = time.Now()
	m.limits = newLimiter(m.q, log, nodeID)
	m.wg.Add(1)
	go m.settleLoop()
	return m, nil
}

var reserveDonePool = sync.Pool{New: func() any { return make(chan reserveResult, 1) }}

// Reserve takes up to r.Quota from the token and its user, or fails with
// ErrTokenQuota / ErrUserQuota. A busy token's requests draw on a lease in
// memory; others reserve in the database. A refusal while this node still
// owes the token or user refunds (requests settled here, not yet flushed)
// (or a grant short of r.Quota) flushes them and asks once more: only money
// really in flight holds a balance back. It waits for the database even if ctx ends: the result may
// be a reservation that must be settled.
func (m *Meter) Reserve(ctx context.Context, r Reservation) (Ticket, error) {
	if r.MinQuota <= 0 || r.MinQuota > r.Quota {
		r.MinQuota = r.Quota
	}
	if r.Leasable {
		if d := m.drawLease(r); d != nil {
			return Ticket{Granted: r.Quota, TokenEpoch: d.lease.tokenEpoch, UserEpoch: d.lease.userEpoch, draw: d}, nil
		}
	}
	t, err := m.reserveRow(r)
	// Others settle meanwhile and owe refunds in turn: ask again while that
	// is so, a few times.
	for range maxRefundWaits {
		short := errors.Is(err, ErrTokenQuota) || errors.Is(err, ErrUserQuota) || (err == nil && t.Granted < r.Quota)
		if !short || !m.owesRefund(r.TokenID, r.UserID) || ctx.Err() != nil {
			break
		}
		if err == nil { // a partial grant goes back with the refunds, and all is asked again
			m.Settle(Settlement{Ticket: t, Reserved: t.Granted, UserID: r.UserID, TokenID: r.TokenID, RequestID: r.RequestID})
		}
		m.flushNow(ctx)
		t, err = m.reserveRow(r)
	}
	return t, err
}

// maxRefundWaits bounds how many flushes a short reservation waits for.
const maxRefundWaits = 8

// owesRefund reports whether a settlement queued here gives quota back to
// the token or the user in the database.
func (m *Meter) owesRefund(tokenID, userID int64) bool {
	m.smu.Lock()
	defer m.smu.Unlock()
	for _, list := range [][]Settlement{m.settles, m.flushing} {
		for i := range list {
			s := &list[i]
			if (s.TokenID == tokenID || s.UserID == userID) && s.rowID() != 0 && s.Reserved > s.Quota {
				return true
			}
		}
	}
	return false
}

// flushNow has the settle loop flush at once and waits for it (bounded).
func (m *Meter) flushNow(ctx context.Context) {
	done := make(chan struct{})
	m.smu.Lock()
	m.flushWaiters = append(m.flushWaiters, done)
	m.smu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
	t := time.NewTimer(2 * time.Second)
	defer t.Stop()
	select {
	case <-done:
	case <-ctx.Done():
	case <-t.C:
	}
}

// reserveRow reserves r in the database.
func (m *Meter) reserveRow(r Reservation) (Ticket, error) {
	done := reserveDonePool.Get().(chan reserveResult)
	call := reserveCall{r: r, done: done}
	m.rmu.Lock()
	m.rqueue = append(m.rqueue, call)
	var batch []reserveCall
	if m.inFlight < reserveBatches {
		m.inFlight++
		batch = m.takeQueue()
	}
	m.rmu.Unlock()
	if batch != nil {
		m.runReserveBatch(batch)
	}
	res := <-done
	for res.lead != nil { // leadership handed on by the batch before
		m.runReserveBatch(res.lead)
		res = <-done
	}
	reserveDonePool.Put(done)
	return res.t, res.err
}

// takeQueue returns up to maxReserveBatch queued calls; m.rmu must be held.
func (m *Meter) takeQueue() []reserveCall {
	n := min(len(m.rqueue), maxReserveBatch)
	batch := make([]reserveCall, n)
	copy(batch, m.rqueue)
	m.rqueue = append(m.rqueue[:0], m.rqueue[n:]...)
	return batch
}

// runReserveBatch sends one batch, delivers every result, then hands the
// calls queued meanwhile to the first of them as the next batch.
func (m *Meter) runReserveBatch(calls []reserveCall) {
	results := m.reserveBatch(calls)
	m.rmu.Lock()
	var next []reserveCall
	if len(m.rqueue) > 0 {
		next = m.takeQueue()
	} else {
		m.inFlight--
	}
	m.rmu.Unlock()
	for i, c := range calls {
		c.done <- results[i]
	}
	if next != nil {
		next[0].done <- reserveResult{lead: next}
	}
}

// reserveBatch reserves calls in one statement (quota_reserve_many, which
// locks rows in the global order). A statement whose reply was lost may
// have committed: the requests it reserved are looked up by request id
// before the others are tried once more, so none is reserved twice.
func (m *Meter) reserveBatch(calls []reserveCall) []reserveResult {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	results := make([]reserveResult, len(calls))
	pending := make([]int, len(calls)) // indexes into calls still to reserve
	for i := range pending {
		pending[i] = i
	}
	var err error
	for attempt := 0; attempt < 2 && len(pending) > 0; attempt++ {
		if attempt > 0 {
			if pending, err = m.recoverReserved(ctx, calls, pending, results); err != nil {
				break
			}
			if len(pending) == 0 {
				break
			}
		}
		err = m.reserveOnce(ctx, calls, pending, results)
		if err == nil {
			return results
		}
	}
	for _, i := range pending {
		results[i] = reserveResult{err: fmt.Errorf("reserve quota: %w", err)}
	}
	return results
}

func (m *Meter) reserveOnce(ctx context.Context, calls []reserveCall, idx []int, results []reserveResult) error {
	var p queries.QuotaReserveManyParams
	p.NodeID = m.nodeID
	for _, i := range idx {
		r := calls[i].r
		p.TokenIds = append(p.TokenIds, r.TokenID)
		p.UserIds = append(p.UserIds, r.UserID)
		p.MinQuotas = append(p.MinQuotas, r.MinQuota)
		p.MaxQuotas = append(p.MaxQuotas, r.Quota)
		p.RequestIds = append(p.RequestIds, r.RequestID)
		p.ChannelIds = append(p.ChannelIds, r.ChannelID)
		p.ModelNames = append(p.ModelNames, r.Model)
		p.IsStreams = append(p.IsStreams, r.Stream)
	}
	rows, err := m.q.QuotaReserveMany(ctx, p)
	if err == nil && m.loseReserveReply != nil && m.loseReserveReply() {
		err = errors.New("connection lost after the reservation ran (test)")
	}
	if err != nil {
		return err
	}
	if len(rows) != len(idx) {
		return fmt.Errorf("quota_reserve_many returned %d rows for %d", len(rows), len(idx))
	}
	for _, row := range rows {
		i := idx[row.Idx]
		switch row.ReservationID {
		case -1:
			results[i] = reserveResult{err: ErrTokenQuota}
		case -2:
			results[i] = reserveResult{err: ErrUserQuota}
		default:
			results[i] = reserveResult{t: Ticket{ReservationID: row.ReservationID, Granted: row.Granted,
				TokenEpoch: row.TokenEpoch, UserEpoch: row.UserEpoch}}
		}
	}
	return nil
}

// recoverReserved fills in the results of pending calls whose reservation
// exists (a batch that committed although its reply was lost) and returns
// the calls that still have none.
func (m *Meter) recoverReserved(ctx context.Context, calls []reserveCall, pending []int, results []reserveResult) ([]int, error) {
	ids := make([]string, len(pending))
	for k, i := range pending {
		ids[k] = calls[i].r.RequestID
	}
	rows, err := m.q.ReservationFindMany(ctx, queries.ReservationFindManyParams{NodeID: m.nodeID, RequestIds: ids})
	if err != nil {
		return pending, err
	}
	found := make(map[string]queries.ReservationFindManyRow, len(rows))
	for _, r := range rows {
		found[r.RequestID] = r
	}
	var left []int
	for _, i := range pending {
		if r, ok := found[calls[i].r.RequestID]; ok {
			results[i] = reserveResult{t: Ticket{ReservationID: r.ID, Granted: r.Quota, TokenEpoch: r.TokenEpoch, UserEpoch: r.UserEpoch}}
		} else {
			left = append(left, i)
		}
	}
	return left, nil
}

// Settle queues a settlement; it is written within settleEvery.
func (m *Meter) Settle(s Settlement) {
	if s.At.IsZero() {
		s.At = time.Now()
	}
	m.smu.Lock()
	if s.Failure != nil && !s.Served {
		ok, dropped := m.admitFailureLog(&s)
		if !ok {
			s.Failure = nil
		} else if dropped > 0 {
			s.Content = joinNote(s.Content, fmt.Sprintf("%d more failures of this key in the minute before were not logged", dropped))
		}
	}
	if d := s.Ticket.draw; d != nil {
		d.lease.avail += d.r.Quota - s.Quota
		delete(d.lease.draws, d)
	}
	m.settles = append(m.settles, s)
	full := len(m.settles) >= maxSettleBatch
	m.smu.Unlock()
	if full {
		select {
		case m.wake <- struct{}{}:
		default:
		}
	}
}

// HasQuota reports whether the token and its user have any quota left at
// all (a lease this node holds for the token counts): the cheap check made
// before counting a large prompt.
func (m *Meter) HasQuota(ctx context.Context, tokenID int64) (bool, error) {
	m.smu.Lock()
	l := m.current[tokenID]
	leased := l != nil && l.avail > 0
	m.smu.Unlock()
	if leased {
		return true, nil
	}
	ok, err := m.q.QuotaCheck(ctx, tokenID)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return ok.Valid && ok.Bool, err
}

// Close flushes queued settlements and stops the worker. Call it after the
// HTTP server has drained.
func (m *Meter) Close() {
	m.closeOnce.Do(func() {
		close(m.stop)
		m.wg.Wait()
		m.limits.close()
		m.pool.Close()
	})
}

func (m *Meter) settleLoop() {
	defer m.wg.Done()
	tick := time.NewTicker(settleEvery)
	defer tick.Stop()
	var carry []Settlement // what a failed flush left, retried first
	var retryAt time.Time
	backoff := settleEvery
	for {
		stopping := false
		select {
		case <-tick.C:
		case <-m.wake:
		case <-m.stop:
			stopping = true
		case <-m.die:
			return
		}
		m.beat()
		if !stopping && time.Now().Before(retryAt) {
			continue
		}
		err := m.flushPending(&carry, stopping)
		if stopping {
			// Shutting down: keep trying a little, then leave the rest to
			// the sweeper (reservation rows) and the lease sweep.
			for deadline := time.Now().Add(10 * time.Second); err != nil && time.Now().Before(deadline); {
				time.Sleep(200 * time.Millisecond)
				err = m.flushPending(&carry, true)
			}
			if err != nil {
				m.log.Error("settlement failed at shutdown; the sweeper will settle the reservations left at their estimate",
					"requests", len(carry), "err", err)
			}
			return
		}
		if err != nil {
			// Nothing is dropped: the batch is retried, backing off to 2 s.
			// A transaction is atomic, and one that committed despite the
			// error is recognised by its mark, so a retry never bills twice.
			metricSettleFailures.Inc()
			m.log.Warn("settlement failed, retrying", "requests", len(carry), "err", err)
			retryAt = time.Now().Add(backoff)
			backoff = min(backoff*2, 2*time.Second)
			continue
		}
		backoff = settleEvery
	}
}

// beat renews this node's meter_nodes row every beatEvery: a node that stops
// renewing it for NodeDeadAfter has its reservations settled by the sweeper.
func (m *Meter) beat() {
	if time.Since(m.lastBeat) < m.beatEvery {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := m.q.MeterNodeBeat(ctx, m.nodeID); err != nil {
		m.log.Warn("meter heartbeat", "err", err)
		return
	}
	m.lastBeat = time.Now()
}

// flushPending writes what is queued (after the carry of a failed flush)
// and the leases' work, in transactions of at most maxSettleBatch
// settlements. On error *carry holds what is still to write. Reservations
// waiting for this node's refunds are released when it ends.
func (m *Meter) flushPending(carry *[]Settlement, stopping bool) error {
	m.smu.Lock()
	waiters := m.flushWaiters
	m.flushWaiters = nil
	m.smu.Unlock()
	defer func() {
		for _, w := range waiters {
			close(w)
		}
	}()
	// First learn whether the failed flush committed after all: retrying
	// it then would bill its requests again.
	if a := m.unsure; a != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		last, err := m.q.MeterFlushLast(ctx, m.nodeID)
		cancel()
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		m.unsure = nil
		if err == nil && last == a.id {
			m.smu.Lock()
			m.apply(a.res)
			m.smu.Unlock()
			*carry = (*carry)[a.n:]
		}
	}
	now := time.Now()
	m.smu.Lock()
	batch := append(*carry, m.settles...)
	m.settles = m.settles[:0]
	m.flushing = batch
	plan := m.planLeases(now, stopping)
	m.smu.Unlock()
	defer func() {
		m.smu.Lock()
		m.flushing = nil
		m.smu.Unlock()
	}()
	*carry = batch
	if len(batch) == 0 && plan.empty() {
		return nil
	}
	for {
		n := min(len(batch), maxSettleBatch)
		var p *leasePlan
		if n == len(batch) {
			p = plan // the lease work goes with the last part, after every settlement it may release
		}
		m.flushSeq++
		res, err := m.flush(m.flushSeq, batch[:n], p)
		if err != nil {
			*carry = batch
			m.unsure = &flushAttempt{id: m.flushSeq, n: n, res: res}
			return err
		}
		m.smu.Lock()
		m.apply(res)
		m.smu.Unlock()
		batch = batch[n:]
		if len(batch) == 0 {
			*carry = nil
			return nil
		}
	}
}
