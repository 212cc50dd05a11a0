package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// ledger is one reading of everything the accounting check compares.
type ledger struct {
	mockGW    int64 // requests the mock served for the gateway
	logRows   int64 // consume log rows (type 2)
	logQuota  int64 // sum(quota) of those rows
	reqCount  int64 // users.request_count of root
	usedQuota int64 // users.used_quota of root
	balance   int64 // users.quota + used_quota of root: constant once every reservation and lease is settled
}

type accountant struct {
	conn    *pgx.Conn
	mockURL string
	base    ledger
	perReq  int64 // expected quota per request (-1: unknown, quota not checked)
}

func openAccountant(dsn, mockURL string, perReq int64) (*accountant, error) {
	var conn *pgx.Conn
	var err error
	for i := 0; i < 20; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		conn, err = pgx.Connect(ctx, dsn)
		cancel()
		if err == nil {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if err != nil {
		return nil, fmt.Errorf("connect %q: %w", dsn, err)
	}
	a := &accountant{conn: conn, mockURL: mockURL, perReq: perReq}
	if a.base, err = a.read(); err != nil {
		conn.Close(context.Background())
		return nil, err
	}
	return a, nil
}

// postmasterViaBackend finds the postmaster as the parent of our backend.
func (a *accountant) postmasterViaBackend() int {
	var bp int
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&bp); err != nil {
		return 0
	}
	s, err := readProcStat(bp)
	if err != nil {
		return 0
	}
	return s.ppid
}

func (a *accountant) close() {
	if a != nil && a.conn != nil {
		a.conn.Close(context.Background())
	}
}

func readMockCounts(mockURL string) (mockCounts, error) {
	var c mockCounts
	resp, err := apiClient.Get(mockURL + "/count")
	if err != nil {
		return c, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return c, fmt.Errorf("mock /count: HTTP %d", resp.StatusCode)
	}
	err = json.NewDecoder(resp.Body).Decode(&c)
	return c, err
}

func (a *accountant) read() (ledger, error) {
	var l ledger
	mc, err := readMockCounts(a.mockURL)
	if err != nil {
		return l, err
	}
	l.mockGW = mc.Other
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.conn.QueryRow(ctx, "SELECT count(*), coalesce(sum(quota),0)::bigint FROM logs WHERE type = 2").Scan(&l.logRows, &l.logQuota); err != nil {
		return l, fmt.Errorf("query logs: %w", err)
	}
	if err := a.conn.QueryRow(ctx, "SELECT request_count::bigint, used_quota::bigint, (quota + used_quota)::bigint FROM users WHERE username = 'root'").Scan(&l.reqCount, &l.usedQuota, &l.balance); err != nil {
		return l, fmt.Errorf("query users: %w", err)
	}
	return l, nil
}

// check waits (≤ 10 s) for settlement and compares the cumulative deltas
// since the baseline with okC, the requests the bench saw succeed via (c).
func (a *accountant) check(okC int64) (bool, string) {
	// A gateway may settle asynchronously (batched log writes): poll until
	// the figures match, or report the last reading after 10 s.
	deadline := time.Now().Add(10 * time.Second)
	var last ledger
	var lastErr error
	for {
		l, err := a.read()
		lastErr = err
		if err == nil {
			last = l
			ok, msg := a.compare(l, okC)
			if ok {
				return true, "OK"
			}
			if a.perReq < 0 && strings.HasPrefix(msg, "counts OK") {
				return false, msg
			}
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if lastErr != nil {
		return false, "ERROR " + lastErr.Error()
	}
	_, msg := a.compare(last, okC)
	return false, msg
}

func (a *accountant) compare(l ledger, okC int64) (bool, string) {
	d := ledger{
		mockGW:    l.mockGW - a.base.mockGW,
		logRows:   l.logRows - a.base.logRows,
		logQuota:  l.logQuota - a.base.logQuota,
		reqCount:  l.reqCount - a.base.reqCount,
		usedQuota: l.usedQuota - a.base.usedQuota,
		balance:   l.balance - a.base.balance,
	}
	countsOK := d.mockGW == okC && d.logRows == okC && d.reqCount == okC
	msg := fmt.Sprintf("MISMATCH ok=%d mock=%d rows=%d request_count=%d", okC, d.mockGW, d.logRows, d.reqCount)
	if a.perReq < 0 {
		if countsOK {
			return false, fmt.Sprintf("counts OK (%d), quota UNCHECKED: expected quota unknown", okC)
		}
		return false, msg + " quota unchecked"
	}
	want := okC * a.perReq
	msg += fmt.Sprintf(" quota want=%d logs=%d used=%d balance drift=%d", want, d.logQuota, d.usedQuota, d.balance)
	return countsOK && d.logQuota == want && d.usedQuota == want && d.balance == 0, msg
}
