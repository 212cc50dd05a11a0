package relay

import (
	"context"
	"time"

	"oneapi/queries"
)

// Quota leases. A token that is busy on this node gets a lease: a block of
// its quota (and its user's) taken in one transaction, from which requests'
// reservations are then drawn in memory, with no database round trip per
// request. What requests spend is written with the settlement batches, which
// also renew the lease; an idle lease goes back to the token.
//
// The guarantees stay those of per-request reservations: quota is taken in
// the database before any upstream call, so nobody spends what was not
// reserved; leases need ample headroom (quota_lease), so near exhaustion every
// request is reserved on its own, exactly; a request drawn from a lease that
// runs longer than journalAfter also gets a reservation row, so a node that
// dies leaves it for the sweeper to bill at its estimate, as any reservation.
// What a crash can lose is only the requests that began in the last
// journalAfter+settleEvery before it: their quota returns to the token.
const (
	leaseHotRequests = 16                     // requests within leaseHotWindow that make a token busy
	leaseHotWindow   = time.Second            //
	leaseRequests    = 128                    // a lease holds this many of the first request's estimate,
	leaseMaxQuota    = 500_000                // but no more than this (1 USD at the default QuotaPerUnit),
	leaseMinRequests = 8                      // and at least this many, or the token is not leased
	leaseHeadroom    = 4                      // ...and needs this many times that left on the token and user
	leaseIdle        = 250 * time.Millisecond // an unused lease is released after this
	leaseRefused     = time.Second            // after a refused lease, wait this long before asking again
	leaseHeartbeat   = time.Second            // how often an idle node renews its leases
	leaseStaleAfter  = 2 * time.Minute        // a lease not renewed this long is the sweeper's
	journalAfter     = 100 * time.Millisecond // a draw still running after this gets a reservation row
)

// lease is this node's hold on a block of one token's quota. Its fields are
// guarded by Meter.smu.
type lease struct {
	id, tokenID, userID int64
	// The balances' epochs when the lease was taken (see settle.go).
	tokenEpoch, userEpoch int64
	avail                 int64 // what new draws may take (settled draws give back what they did not use)
	lastDraw              time.Time
	retiring              bool // takes no new draws; released once its draws have settled
	dead                  bool // its row is gone (revoked or swept): its draws are billed to the token directly
	draws                 map[*draw]struct{}
}

// draw is one request's reservation taken from a lease.
type draw struct {
	lease     *lease
	r         Reservation
	start     time.Time
	journalID int64 // the reservation row a flush wrote for it; touched by the settle loop only
}

func (l *lease) take(r Reservation, now time.Time) *draw {
	l.avail -= r.Quota
	l.lastDraw = now
	d := &draw{lease: l, r: r, start: now}
	l.draws[d] = struct{}{}
	return d
}

// heat counts a token's requests that found no lease to draw from.
type heat struct {
	since        time.Time
	n            int
	refusedUntil time.Time
}

// drawLease reserves r from this node's lease for the token, taking a new
// lease first when the token is busy. It returns nil when the request must be
// reserved on its own.
func (m *Meter) drawLease(r Reservation) *draw {
	now := time.Now()
	m.smu.Lock()
	if l := m.current[r.TokenID]; l != nil {
		if l.avail >= r.Quota {
			d := l.take(r, now)
			m.smu.Unlock()
			return d
		}
		l.retiring = true
		delete(m.current, r.TokenID)
	}
	h := m.heat[r.TokenID]
	if h == nil {
		h = &heat{since: now}
		m.heat[r.TokenID] = h
	}
	if now.Sub(h.since) > leaseHotWindow {
		h.since, h.n = now, 0
	}
	h.n++
	// (Written so that no estimate, however large, can overflow.)
	tooBig := r.Quota > leaseMaxQuota/leaseMinRequests
	amount := min(max(r.Quota, 1), leaseMaxQuota/leaseRequests) * leaseRequests
	if h.n < leaseHotRequests || now.Before(h.refusedUntil) || m.acquiring[r.TokenID] || tooBig {
		m.smu.Unlock()
		return nil
	}
	m.acquiring[r.TokenID] = true
	m.smu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	row, err := m.q.QuotaLease(ctx, queries.QuotaLeaseParams{
		TokenID: r.TokenID, UserID: r.UserID, Amount: amount, Headroom: leaseHeadroom, NodeID: m.nodeID,
	})
	cancel()

	m.smu.Lock()
	defer m.smu.Unlock()
	delete(m.acquiring, r.TokenID)
	if err != nil || row.LeaseID == 0 {
		if err != nil {
			m.log.Warn("quota lease", "token_id", r.TokenID, "err", err)
		}
		h.refusedUntil = now.Add(leaseRefused)
		return nil
	}
	l := &lease{id: row.LeaseID, tokenID: r.TokenID, userID: r.UserID, tokenEpoch: row.TokenEpoch, userEpoch: row.UserEpoch,
		avail: amount, draws: map[*draw]struct{}{}}
	m.leases[l] = struct{}{}
	m.current[r.TokenID] = l
	return l.take(r, now)
}

// leasePlan is the lease work a flush does besides settling.
type leasePlan struct {
	renew   []*lease // leases to renew even with nothing spent
	journal []*draw  // draws running long enough to get a reservation row
	release []*lease // retired leases with no draws left
}

func (p *leasePlan) empty() bool {
	return p == nil || len(p.renew)+len(p.journal)+len(p.release) == 0
}

// planLeases retires idle leases (all of them when stopping) and lists what
// the next flush must do for leases. m.smu must be held.
func (m *Meter) planLeases(now time.Time, stopping bool) *leasePlan {
	renew := now.Sub(m.lastRenew) >= leaseHeartbeat
	if now.Sub(m.lastPrune) >= leaseHotWindow { // forget tokens that went quiet, once a second
		m.lastPrune = now
		for token, h := range m.heat {
			if now.Sub(h.since) > 2*leaseHotWindow && now.After(h.refusedUntil) {
				delete(m.heat, token)
			}
		}
	}
	if len(m.leases) == 0 {
		return nil
	}
	p := &leasePlan{}
	for l := range m.leases {
		if m.current[l.tokenID] == l && (stopping || now.Sub(l.lastDraw) >= leaseIdle) {
			delete(m.current, l.tokenID)
			l.retiring = true
		}
		switch {
		case l.dead:
			if len(l.draws) == 0 {
				delete(m.leases, l)
			}
			continue
		case l.retiring && len(l.draws) == 0:
			p.release = append(p.release, l)
			continue
		}
		for d := range l.draws {
			if d.journalID == 0 && now.Sub(d.start) >= journalAfter {
				p.journal = append(p.journal, d)
			}
		}
		if renew {
			p.renew = append(p.renew, l)
		}
	}
	return p
}

// flushResult is what a committed flush learned about leases.
type flushResult struct {
	gone      []*lease        // leases whose row was missing
	journaled map[*draw]int64 // reservation rows written
	released  []*lease
	renewed   bool
}

// apply records a committed flush in memory. m.smu must be held.
func (m *Meter) apply(r flushResult) {
	for _, l := range r.gone {
		l.dead, l.retiring = true, true
		if m.current[l.tokenID] == l {
			delete(m.current, l.tokenID)
		}
		m.log.Info("quota lease taken back (a quota edit, or the sweeper); its requests are billed to the token directly", "lease_id", l.id)
	}
	for d, id := range r.journaled {
		d.journalID = id
	}
	for _, l := range r.released {
		delete(m.leases, l)
	}
	if r.renewed {
		m.lastRenew = time.Now()
	}
}

// LeasesHeld reports how many leases this node holds (for tests and metrics).
func (m *Meter) LeasesHeld() int {
	m.smu.Lock()
	defer m.smu.Unlock()
	return len(m.leases)
}
