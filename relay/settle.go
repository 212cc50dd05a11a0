package relay

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"oneapi/queries"
)

// Settlement flushes. Row locks are taken in one global order, everywhere
// money moves (quota_reserve_many, quota_lease, quota_lease_revoke, the
// sweeper): quota leases, reservations, tokens, users, channels, each kind
// in id order. So no two of them can deadlock.
//
// Absolute quota edits: a token's or user's quota_epoch moves on whenever an
// admin sets its balance. A request reserved under an older epoch took its
// reservation from the balance that was overwritten, so its refund is void;
// only what it cost beyond its reservation is still charged. The value an
// admin sets is the value that stays.

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
		if leaseIDs := touchedLeases(batch, plan); len(leaseIDs) > 0 {
			if err := q.LeaseLockMany(ctx, leaseIDs); err != nil {
				return err
			}
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
					l := leaseByID(plan.release, r.ID)
					agg.tokens.add(r.TokenID, l.tokenEpoch, r.Amount, 0, 0, false, 0)
					agg.users.add(r.UserID, l.userEpoch, r.Amount, 0, 0, false, 0)
				}
				res.released = plan.release
			}
		}

		logs := make([]queries.LogInsertManyParams, 0, len(batch))
		for _, s := range batch {
			rowID := s.rowID()
			d := s.Ticket.draw
			// What goes back to the balance: refund while the epoch is the
			// reservation's, afterEdit once an absolute edit came between.
			refund := s.Reserved - s.Quota
			afterEdit := min(refund, 0)
			switch {
			case rowID != 0 && !live[rowID] && swept[s.RequestID]:
				continue // the sweeper billed it at its estimate already
			case d != nil && alive[d.lease.id]:
				// Drawn from a live lease: the token and user paid when the
				// lease was taken, and what is left went back to the lease.
				refund, afterEdit = 0, 0
			case d != nil && live[rowID]:
				// Its lease is gone but its row was not swept yet: a
				// reservation like any other.
			case d != nil:
				// Its lease was taken back and returned to the token: by an
				// absolute quota edit (the epoch moved: the estimate was paid
				// from the balance it overwrote), or by the sweeper while this
				// node could not reach the database (bill the token now).
				refund = -s.Quota
				s.Content = joinNote(s.Content, "its quota lease was taken back (a quota edit, or the sweeper); billed at settlement")
			case !live[rowID]:
				// The reservation vanished without being swept: its commit
				// was lost in a database crash (reservations commit
				// asynchronously). Bill the request in full now rather than
				// serve it free.
				refund, afterEdit = -s.Quota, -s.Quota
				s.Content = joinNote(s.Content, "reservation lost in a database restart; billed at settlement")
			}
			agg.add(s, refund, afterEdit)
			if s.Served {
				logs = append(logs, logRow(s))
			} else if s.Failure != nil {
				logs = append(logs, failureRow(s))
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
	u := s.Usage
	return queries.LogInsertManyParams{
		CreatedAt: s.At, Type: LogTypeConsume, UserID: s.UserID, Username: s.Username,
		TokenID: s.TokenID, TokenName: s.TokenName, ChannelID: s.ChannelID, ModelName: s.Model,
		PromptTokens: clampInt32(u.Input), CompletionTokens: clampInt32(u.Output), Quota: s.Quota,
		ElapsedMs: clampInt32(int(s.Elapsed.Milliseconds())), IsStream: s.Stream, RequestID: s.RequestID, Content: s.Content,
		UpstreamModel: s.UpstreamModel, CacheReadTokens: clampInt32(u.CacheRead), CacheWriteTokens: clampInt32(u.CacheWrite),
		ReasoningTokens: clampInt32(u.Reasoning), AudioTokens: clampInt32(u.AudioIn + u.AudioOut),
		ImageTokens: clampInt32(u.ImageIn + u.ImageOut), WebSearchCalls: clampInt32(u.WebSearch), UsageCounted: s.UsageCounted,
		PromptName: s.PromptName, PromptVersion: int32(s.PromptVersion), PromptHash: s.PromptHash,
	}
}

func clampInt32(n int) int32 {
	return int32(min(max(n, 0), 1<<31-1))
}

// deltas sums, per balance and epoch, what goes back (refund, or
// afterEdit if the epoch moved on), what was used and the requests served.
type deltas struct {
	index     map[epochKey]int
	ids       []int64
	epochs    []int64
	refunds   []int64
	afterEdit []int64
	used      []int64
	requests  []int64
	elapsed   []int32
}

type epochKey struct{ id, epoch int64 }

func (d *deltas) add(id, epoch, refund, afterEdit, used int64, served bool, elapsed time.Duration) {
	if d.index == nil {
		d.index = map[epochKey]int{}
	}
	k := epochKey{id, epoch}
	i, ok := d.index[k]
	if !ok {
		i = len(d.ids)
		d.index[k] = i
		d.ids = append(d.ids, id)
		d.epochs = append(d.epochs, epoch)
		d.refunds = append(d.refunds, 0)
		d.afterEdit = append(d.afterEdit, 0)
		d.used = append(d.used, 0)
		d.requests = append(d.requests, 0)
		d.elapsed = append(d.elapsed, 0)
	}
	d.refunds[i] += refund
	d.afterEdit[i] += afterEdit
	d.used[i] += used
	if served {
		d.requests[i]++
		d.elapsed[i] = int32(min(elapsed.Milliseconds(), 1<<31-1)) // the latest response time
	}
}

type settleAggregate struct{ tokens, users, channels deltas }

func (a *settleAggregate) add(s Settlement, refund, afterEdit int64) {
	a.tokens.add(s.TokenID, s.Ticket.TokenEpoch, refund, afterEdit, s.Quota, s.Served, 0)
	a.users.add(s.UserID, s.Ticket.UserEpoch, refund, afterEdit, s.Quota, s.Served, 0)
	if s.Served && s.ChannelID != 0 {
		a.channels.add(s.ChannelID, 0, 0, 0, s.Quota, true, s.Elapsed)
	}
}

// apply writes the aggregated deltas: tokens, then users, then channels,
// each statement locking its rows in id order (the global lock order).
func (a *settleAggregate) apply(ctx context.Context, q *queries.Queries) error {
	t, u, c := &a.tokens, &a.users, &a.channels
	if len(t.ids) > 0 {
		if err := q.TokenSettleMany(ctx, queries.TokenSettleManyParams{Ids: t.ids, Epochs: t.epochs,
			Refunds: t.refunds, RefundsAfterEdit: t.afterEdit, Used: t.used}); err != nil {
			return err
		}
	}
	if len(u.ids) > 0 {
		if err := q.UserSettleMany(ctx, queries.UserSettleManyParams{Ids: u.ids, Epochs: u.epochs,
			Refunds: u.refunds, RefundsAfterEdit: u.afterEdit, Used: u.used, Requests: u.requests}); err != nil {
			return err
		}
	}
	if len(c.ids) == 0 {
		return nil
	}
	return q.ChannelSettleMany(ctx, queries.ChannelSettleManyParams{Ids: c.ids, Used: c.used, ElapsedMs: c.elapsed})
}

// touchedLeases lists, sorted, the leases a flush writes to.
func touchedLeases(batch []Settlement, plan *leasePlan) []int64 {
	seen := map[int64]bool{}
	add := func(l *lease) {
		if l != nil && !seen[l.id] {
			seen[l.id] = true
		}
	}
	for i := range batch {
		if d := batch[i].Ticket.draw; d != nil {
			add(d.lease)
		}
	}
	if plan != nil {
		for _, d := range plan.journal {
			add(d.lease)
		}
		for _, l := range plan.renew {
			add(l)
		}
		for _, l := range plan.release {
			add(l)
		}
	}
	ids := make([]int64, 0, len(seen))
	for id := range seen {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

func leaseByID(ls []*lease, id int64) *lease {
	for _, l := range ls {
		if l.id == id {
			return l
		}
	}
	return &lease{}
}
