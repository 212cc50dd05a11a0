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
	Quota                      int64
	Stream                     bool
	RequestID                  string
	// Leasable lets a busy token's request draw on a quota lease.
	Leasable bool
}

// Ticket is a request's hold on quota: a reservation row of its own, or a
// draw on this node's lease for the token (lease.go).
type Ticket struct {
	ReservationID int64
	draw          *draw
}

// Settlement closes a reservation with what was really used.
type Settlement struct {
	Ticket     Ticket
	Reserved   int64
	Quota      int64 // what the request really costs
	UserID     int64
	Username   string
	TokenID    int64
	TokenName  string
	ChannelID  int64
	Model      string
	Prompt     int
	Completion int
	Elapsed    time.Duration
	Stream     bool
	RequestID  string
	Content    string // note for the log row, e.g. "unpriced model"
	// The stored prompt the request used, if any (prompt.go).
	PromptName    string
	PromptVersion int
	PromptHash    string
	// Served is false when no upstream answered: the reservation is refunded
	// and no log row or request is counted.
	Served bool
	At     time.Time
}

// Meter reserves quota before upstream calls and settles it afterwards.
// Reservations from concurrent requests are pipelined into one database round
// trip; settlements are batched into one transaction off the request path,
// and flushed on Close. The reservations table makes both crash-safe: an
// unsettled reservation is settled at its estimate by SweepStale.
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
	// (sooner when many queue), so a request never wakes another goroutine
	// to record its bill.
	smu       sync.Mutex
	settles   []Settlement
	wake      chan struct{}
	wg        sync.WaitGroup
	stop      chan struct{}
	closeOnce sync.Once

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
	flushSeq int64
	unsure   *flushAttempt
	// loseCommitReply, set by tests, fails a flush after it committed.
	loseCommitReply func() bool
}

// flushAttempt is a flush whose outcome is unknown: its number, how many
// settlements of the carry it held, and what it would have applied.
type flushAttempt struct {
	id  int64
	n   int
	res flushResult
}

type reserveCall struct {
	p    queries.QuotaReserveParams
	done chan reserveResult
}

type reserveResult struct {
	id   int64
	err  error
	lead []reserveCall // non-nil: the receiver now runs this batch
}

const (
	maxReserveBatch = 256
	maxSettleBatch  = 1024
	settleEvery     = 50 * time.Millisecond
	reserveBatches  = 2 // reservation batches in flight at once
)

// NewMeter starts the meter's settlement worker.
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
	}
	m.wg.Add(1)
	go m.settleLoop()
	return m, nil
}

var reserveDonePool = sync.Pool{New: func() any { return make(chan reserveResult, 1) }}

// Reserve takes r.Quota from the token and its user, or fails with
// ErrTokenQuota / ErrUserQuota. A busy token's requests draw on a lease in
// memory; others reserve in the database. It waits for the database even if
// ctx ends: the result may be a reservation that must be settled.
func (m *Meter) Reserve(ctx context.Context, r Reservation) (Ticket, error) {
	if r.Leasable {
		if d := m.drawLease(r); d != nil {
			return Ticket{draw: d}, nil
		}
	}
	id, err := m.reserveRow(ctx, r)
	return Ticket{ReservationID: id}, err
}

// reserveRow reserves r in the database and returns the reservation id.
func (m *Meter) reserveRow(ctx context.Context, r Reservation) (int64, error) {
	done := reserveDonePool.Get().(chan reserveResult)
	call := reserveCall{p: queries.QuotaReserveParams{
		TokenID: r.TokenID, UserID: r.UserID, Quota: r.Quota, NodeID: m.nodeID,
		RequestID: r.RequestID, ChannelID: r.ChannelID, ModelName: r.Model, IsStream: r.Stream,
	}, done: done}
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
	if res.err != nil {
		return 0, res.err
	}
	switch res.id {
	case -1:
		return 0, ErrTokenQuota
	case -2:
		return 0, ErrUserQuota
	}
	return res.id, nil
}

// takeQueue returns up to maxReserveBatch queued calls; m.rmu must be held.
func (m *Meter) takeQueue() []reserveCall {
	n := min(len(m.rqueue), maxReserveBatch)
	batch := make([]reserveCall, n)
	copy(batch, m.rqueue)
	m.rqueue = append(m.rqueue[:0], m.rqueue[n:]...)
	return batch
}

// runReserveBatch sends one pipelined batch, delivers every result, then
// hands the calls queued meanwhile to the first of them as the next batch.
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

func (m *Meter) reserveBatch(calls []reserveCall) []reserveResult {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	params := make([]queries.QuotaReserveParams, len(calls))
	for i, c := range calls {
		params[i] = c.p
	}
	results := make([]reserveResult, len(calls))
	var batchErr error
	br := m.q.QuotaReserve(ctx, params)
	br.QueryRow(func(i int, id int64, err error) {
		results[i] = reserveResult{id: id, err: err}
		if err != nil && batchErr == nil {
			batchErr = err
		}
	})
	if err := br.Close(); err != nil && batchErr == nil {
		batchErr = err
	}
	if batchErr != nil && len(calls) > 1 {
		// The pipeline is one implicit transaction: one failure (a deadlock
		// with another node, say) rolls back all. Retry each on its own.
		for i, c := range calls {
			one := m.q.QuotaReserve(ctx, []queries.QuotaReserveParams{c.p})
			one.QueryRow(func(_ int, id int64, err error) { results[i] = reserveResult{id: id, err: err} })
			_ = one.Close()
		}
	}
	for i := range results {
		if results[i].err != nil {
			results[i].err = fmt.Errorf("reserve quota: %w", results[i].err)
		}
	}
	return results
}

// Settle queues a settlement; it is written within settleEvery.
func (m *Meter) Settle(s Settlement) {
	if s.At.IsZero() {
		s.At = time.Now()
	}
	m.smu.Lock()
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

// Close flushes queued settlements and stops the worker. Call it after the
// HTTP server has drained.
func (m *Meter) Close() {
	m.closeOnce.Do(func() {
		close(m.stop)
		m.wg.Wait()
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
		}
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

// flushPending writes what is queued (after the carry of a failed flush)
// and the leases' work, in transactions of at most maxSettleBatch
// settlements. On error *carry holds what is still to write.
func (m *Meter) flushPending(carry *[]Settlement, stopping bool) error {
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
	plan := m.planLeases(now, stopping)
	m.smu.Unlock()
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

// flush writes settlements and lease work in one transaction: take the
// reservation rows (skipping any the sweeper already settled), take what
// was spent out of leases, write reservation rows for long-running draws,
// release retired leases, append the log rows, and adjust tokens, users and
// channels by their aggregated deltas.
func (m *Meter) flush(id int64, batch []Settlement, plan *leasePlan) (flushResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var res flushResult
	err := pgx.BeginFunc(ctx, m.pool, func(tx pgx.Tx) error {
		res = flushResult{}
		if _, err := tx.Exec(ctx, "SET LOCAL synchronous_commit = on"); err != nil {
			return err
		}
		q := m.q.WithTx(tx)
		if err := q.MeterFlushMark(ctx, queries.MeterFlushMarkParams{NodeID: m.nodeID, FlushID: id}); err != nil {
			return err
		}
		var ids []int64
		for _, s := range batch {
			if id := s.rowID(); id != 0 {
				ids = append(ids, id)
			}
		}
		live := make(map[int64]bool, len(ids))
		if len(ids) > 0 {
			taken, err := q.ReservationTakeMany(ctx, ids)
			if err != nil {
				return err
			}
			for _, id := range taken {
				live[id] = true
			}
		}
		swept, err := sweptRequests(ctx, q, batch, live)
		if err != nil {
			return err
		}

		// What each lease spent: a draw without a row its cost; a draw
		// with a row (whose estimate already left the lease) its cost less
		// that estimate; a draw getting a row now, its estimate.
		var spent leaseSpending
		for _, s := range batch {
			if d := s.Ticket.draw; d != nil && !swept[s.RequestID] {
				if live[d.journalID] {
					spent.add(d.lease, s.Quota-d.r.Quota)
				} else {
					spent.add(d.lease, s.Quota)
				}
			}
		}
		if plan != nil {
			for _, d := range plan.journal {
				spent.add(d.lease, d.r.Quota)
			}
			for _, l := range plan.renew {
				spent.add(l, 0)
			}
			res.renewed = len(plan.renew) > 0
		}
		alive := map[int64]bool{}
		if len(spent.leases) > 0 {
			ids, err := q.LeaseSpend(ctx, queries.LeaseSpendParams{Ids: spent.ids(), Spent: spent.amounts})
			if err != nil {
				return err
			}
			for _, id := range ids {
				alive[id] = true
			}
			for _, l := range spent.leases {
				if !alive[l.id] && !l.dead {
					res.gone = append(res.gone, l)
				}
			}
		}

		var agg settleAggregate
		if plan != nil {
			if res.journaled, err = m.journal(ctx, q, plan.journal, alive); err != nil {
				return err
			}
			if len(plan.release) > 0 {
				rel := make([]int64, len(plan.release))
				for i, l := range plan.release {
					rel[i] = l.id
				}
				returned, err := q.LeaseRelease(ctx, rel)
				if err != nil {
					return err
				}
				for _, r := range returned {
					agg.tokens.add(r.TokenID, r.Amount, 0, false, 0)
					agg.users.add(r.UserID, r.Amount, 0, false, 0)
				}
				res.released = plan.release
			}
		}

		logs := make([]queries.LogInsertManyParams, 0, len(batch))
		for _, s := range batch {
			rowID := s.rowID()
			d := s.Ticket.draw
			switch {
			case rowID != 0 && !live[rowID] && swept[s.RequestID]:
				continue // the sweeper billed it at its estimate already
			case d != nil && alive[d.lease.id]:
				// Drawn from a live lease: the token and user paid when the
				// lease was taken, and what is left went back to the lease.
				s.Reserved = s.Quota
			case d != nil && live[rowID]:
				// Its lease is gone but its row was not swept yet: a
				// reservation like any other.
			case d != nil:
				// Its lease was taken back and returned to the token (an
				// absolute quota edit, or the sweeper while this node could
				// not reach the database): bill the token now.
				s.Reserved = 0
				s.Content = joinNote(s.Content, "its quota lease was taken back (a quota edit, or the sweeper); billed at settlement")
			case !live[rowID]:
				// The reservation vanished without being swept: its commit
				// was lost in a database crash (reservations commit
				// asynchronously). Bill the request in full now rather than
				// serve it free.
				s.Reserved = 0
				s.Content = joinNote(s.Content, "reservation lost in a database restart; billed at settlement")
			}
			agg.add(s)
			if s.Served {
				logs = append(logs, logRow(s))
			}
		}
		if len(logs) > 0 {
			if _, err := q.LogInsertMany(ctx, logs); err != nil {
				return err
			}
		}
		// Last, just before commit: these lock the token and user rows that
		// reservations update, so the shorter they are held the better.
		return agg.apply(ctx, q)
	})
	if err == nil && m.loseCommitReply != nil && m.loseCommitReply() {
		err = errors.New("connection lost after COMMIT (test)")
	}
	return res, err
}

// rowID is the reservation row a settlement closes, 0 if none.
func (s *Settlement) rowID() int64 {
	if s.Ticket.draw != nil {
		return s.Ticket.draw.journalID
	}
	return s.Ticket.ReservationID
}

// journal writes reservation rows for draws on live leases and returns their ids.
func (m *Meter) journal(ctx context.Context, q *queries.Queries, draws []*draw, alive map[int64]bool) (map[*draw]int64, error) {
	var p queries.ReservationJournalParams
	byRequest := make(map[string]*draw, len(draws))
	for _, d := range draws {
		if !alive[d.lease.id] {
			continue
		}
		r := d.r
		byRequest[r.RequestID] = d
		p.CreatedAt = append(p.CreatedAt, d.start)
		p.UserIds = append(p.UserIds, r.UserID)
		p.TokenIds = append(p.TokenIds, r.TokenID)
		p.ChannelIds = append(p.ChannelIds, r.ChannelID)
		p.ModelNames = append(p.ModelNames, r.Model)
		p.Quotas = append(p.Quotas, r.Quota)
		p.IsStreams = append(p.IsStreams, r.Stream)
		p.RequestIds = append(p.RequestIds, r.RequestID)
		p.LeaseIds = append(p.LeaseIds, d.lease.id)
	}
	if len(byRequest) == 0 {
		return nil, nil
	}
	p.NodeID = m.nodeID
	rows, err := q.ReservationJournal(ctx, p)
	if err != nil {
		return nil, err
	}
	out := make(map[*draw]int64, len(rows))
	for _, r := range rows {
		out[byRequest[r.RequestID]] = r.ID
	}
	return out, nil
}

// leaseSpending sums what each lease spent in a flush.
type leaseSpending struct {
	index   map[*lease]int
	leases  []*lease
	amounts []int64
}

func (ls *leaseSpending) add(l *lease, amount int64) {
	if ls.index == nil {
		ls.index = map[*lease]int{}
	}
	i, ok := ls.index[l]
	if !ok {
		i = len(ls.leases)
		ls.index[l] = i
		ls.leases = append(ls.leases, l)
		ls.amounts = append(ls.amounts, 0)
	}
	ls.amounts[i] += amount
}

func (ls *leaseSpending) ids() []int64 {
	ids := make([]int64, len(ls.leases))
	for i, l := range ls.leases {
		ids[i] = l.id
	}
	return ids
}

// sweptRequests finds which settlements whose reservation is gone were billed
// by the sweeper. It costs a query only in that rare case.
func sweptRequests(ctx context.Context, q *queries.Queries, batch []Settlement, live map[int64]bool) (map[string]bool, error) {
	var missing []string
	for _, s := range batch {
		if id := s.rowID(); id != 0 && !live[id] {
			missing = append(missing, s.RequestID)
		}
	}
	if len(missing) == 0 {
		return nil, nil
	}
	ids, err := q.LogRequestIDsSettled(ctx, missing)
	if err != nil {
		return nil, err
	}
	swept := make(map[string]bool, len(ids))
	for _, id := range ids {
		swept[id] = true
	}
	return swept, nil
}

func logRow(s Settlement) queries.LogInsertManyParams {
	return queries.LogInsertManyParams{
		CreatedAt: s.At, Type: LogTypeConsume, UserID: s.UserID, Username: s.Username,
		TokenID: s.TokenID, TokenName: s.TokenName, ChannelID: s.ChannelID, ModelName: s.Model,
		PromptTokens: int32(s.Prompt), CompletionTokens: int32(s.Completion), Quota: s.Quota,
		ElapsedMs: int32(s.Elapsed.Milliseconds()), IsStream: s.Stream, RequestID: s.RequestID, Content: s.Content,
		PromptName: s.PromptName, PromptVersion: int32(s.PromptVersion), PromptHash: s.PromptHash,
	}
}

// deltas sums refunds, usage and requests per id, in id order of first sight.
type deltas struct {
	index    map[int64]int
	ids      []int64
	refunds  []int64
	used     []int64
	requests []int64
	elapsed  []int32
}

func (d *deltas) add(id, refund, used int64, served bool, elapsed time.Duration) {
	if d.index == nil {
		d.index = map[int64]int{}
	}
	i, ok := d.index[id]
	if !ok {
		i = len(d.ids)
		d.index[id] = i
		d.ids = append(d.ids, id)
		d.refunds = append(d.refunds, 0)
		d.used = append(d.used, 0)
		d.requests = append(d.requests, 0)
		d.elapsed = append(d.elapsed, 0)
	}
	d.refunds[i] += refund
	d.used[i] += used
	if served {
		d.requests[i]++
		d.elapsed[i] = int32(elapsed.Milliseconds()) // the latest response time
	}
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

type settleAggregate struct{ tokens, users, channels deltas }

func (a *settleAggregate) add(s Settlement) {
	refund := s.Reserved - s.Quota
	a.tokens.add(s.TokenID, refund, s.Quota, s.Served, 0)
	a.users.add(s.UserID, refund, s.Quota, s.Served, 0)
	if s.Served && s.ChannelID != 0 {
		a.channels.add(s.ChannelID, 0, s.Quota, true, s.Elapsed)
	}
}

// apply writes the aggregated deltas: tokens before users, the lock order
// quota_reserve uses, so settlement and reservation never deadlock.
func (a *settleAggregate) apply(ctx context.Context, q *queries.Queries) error {
	t, u, c := &a.tokens, &a.users, &a.channels
	if len(t.ids) == 0 {
		return nil
	}
	if err := q.TokenSettleMany(ctx, queries.TokenSettleManyParams{Ids: nonNil(t.ids), Refunds: nonNil(t.refunds), Used: nonNil(t.used)}); err != nil {
		return err
	}
	if err := q.UserSettleMany(ctx, queries.UserSettleManyParams{Ids: nonNil(u.ids), Refunds: nonNil(u.refunds), Used: nonNil(u.used), Requests: nonNil(u.requests)}); err != nil {
		return err
	}
	if len(c.ids) == 0 {
		return nil
	}
	return q.ChannelSettleMany(ctx, queries.ChannelSettleManyParams{Ids: c.ids, Used: c.used, ElapsedMs: c.elapsed})
}

// SweepStale settles, at their estimate, reservations older than olderThan:
// their node died before settling. Each becomes a log row that says so.
// Leases not renewed for leaseStaleAfter (or olderThan, if shorter) go back
// to their tokens and users first, then the reservation rows drawn from them
// are billed likewise.
func (m *Meter) SweepStale(ctx context.Context, olderThan time.Duration) (int, error) {
	var n int
	now := time.Now()
	err := pgx.BeginFunc(ctx, m.pool, func(tx pgx.Tx) error {
		n = 0
		q := m.q.WithTx(tx)
		var agg settleAggregate
		var logs []queries.LogInsertManyParams
		if err := q.MeterFlushForget(ctx); err != nil {
			return err
		}
		leases, err := q.LeaseTakeStale(ctx, now.Add(-min(olderThan, leaseStaleAfter)))
		if err != nil {
			return err
		}
		for _, l := range leases {
			agg.tokens.add(l.TokenID, l.Amount, 0, false, 0)
			agg.users.add(l.UserID, l.Amount, 0, false, 0)
			logs = append(logs, queries.LogInsertManyParams{
				CreatedAt: now, Type: LogTypeSystem, UserID: l.UserID, TokenID: l.TokenID,
				Content: fmt.Sprintf("node %s stopped renewing its quota lease %d: %d quota it still held went back to the token "+
					"(requests it began in its last %s, if any, were not billed)", l.NodeID, l.ID, l.Amount, journalAfter+settleEvery),
			})
		}
		stale, err := q.ReservationTakeStale(ctx, now.Add(-olderThan))
		if err != nil {
			return err
		}
		n = len(leases) + len(stale)
		if n == 0 {
			return nil
		}
		for _, r := range stale {
			s := Settlement{
				Ticket: Ticket{ReservationID: r.ID}, Reserved: r.Quota, Quota: r.Quota, UserID: r.UserID, TokenID: r.TokenID,
				ChannelID: r.ChannelID, Model: r.ModelName, Stream: r.IsStream, RequestID: r.RequestID,
				Served: true, At: r.CreatedAt,
				Content: fmt.Sprintf("settled at the reserved estimate by the sweeper: node %s never settled it", r.NodeID),
			}
			agg.add(s)
			logs = append(logs, logRow(s))
		}
		if _, err := q.LogInsertMany(ctx, logs); err != nil {
			return err
		}
		return agg.apply(ctx, q)
	})
	return n, err
}
