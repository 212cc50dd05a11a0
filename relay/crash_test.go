package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"oneapi/embeddedpg"
	"oneapi/keys"
	"oneapi/migrations"
	"oneapi/queries"
	"oneapi/state"
)

// TestSettlementSurvivesDatabaseCrash: what a settlement flush committed is
// still there after PostgreSQL crashes (immediate shutdown, then crash
// recovery). What leases spent is recorded nowhere else, so these flushes
// must not commit asynchronously as reservations do.
func TestSettlementSurvivesDatabaseCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("starts its own PostgreSQL")
	}
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "oacrash") // short: the socket lives in it
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	_ = os.Chmod(dir, 0o755)
	pgDir := filepath.Join(dir, "pg")
	srv, err := embeddedpg.Start(ctx, pgDir, embeddedpg.Options{})
	if errors.Is(err, embeddedpg.ErrNoBinaries) && os.Getenv("CI") == "" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Stop() }()
	if err := srv.CreateDatabase(ctx, "oneapi"); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, srv.DSN("oneapi"))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := migrations.Up(ctx, pool); err != nil {
		t.Fatal(err)
	}
	q := queries.New(pool)
	const quota = 1_000_000_000
	u, err := q.UserCreate(ctx, queries.UserCreateParams{Username: "u", Role: state.RoleUser, Status: state.StatusEnabled, GroupName: "default", Quota: quota})
	if err != nil {
		t.Fatal(err)
	}
	key := keys.NewAPIKey()
	tok, err := q.TokenCreate(ctx, queries.TokenCreateParams{UserID: u.ID, Name: "t", KeyHash: keys.Hash(key), KeyPrefix: keys.Prefix(key), Status: state.StatusEnabled, UnlimitedQuota: true})
	if err != nil {
		t.Fatal(err)
	}
	meter, err := NewMeter(ctx, pool, slog.New(slog.NewTextHandler(io.Discard, nil)), "crash-node")
	if err != nil {
		t.Fatal(err)
	}
	defer meter.Close()

	// A busy token: most of these draw on a lease.
	const n = 3 * leaseHotRequests
	drew := 0
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("r%d", i)
		tk, err := meter.Reserve(ctx, Reservation{UserID: u.ID, TokenID: tok.ID, Model: "gpt-4o-mini", Quota: 100, RequestID: id, Leasable: true})
		if err != nil {
			t.Fatal(err)
		}
		if tk.draw != nil {
			drew++
		}
		meter.Settle(Settlement{Ticket: tk, Reserved: 100, Quota: 40, UserID: u.ID, TokenID: tok.ID, Served: true, RequestID: id})
	}
	if drew == 0 {
		t.Fatal("no request drew on a lease")
	}
	count := func(p *pgxpool.Pool) (rows, used int64) {
		t.Helper()
		if err := p.QueryRow(ctx, "SELECT (SELECT count(*) FROM logs WHERE type = 2), (SELECT used_quota FROM users WHERE id = $1)", u.ID).Scan(&rows, &used); err != nil {
			t.Fatal(err)
		}
		return rows, used
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(2 * time.Millisecond) {
		if rows, _ := count(pool); rows == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the settlements were not written")
		}
	}

	// Crash the moment they are visible: SIGQUIT is PostgreSQL's immediate
	// shutdown, which drops what was not yet written to the WAL.
	var backend int
	if err := pool.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&backend); err != nil {
		t.Fatal(err)
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", backend))
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	postmaster, _ := strconv.Atoi(fields[1])
	if err := syscall.Kill(postmaster, syscall.SIGQUIT); err != nil {
		t.Fatal(err)
	}
	_ = srv.Stop()
	if srv, err = embeddedpg.Start(ctx, pgDir, embeddedpg.Options{}); err != nil {
		t.Fatal(err)
	}
	after, err := pgxpool.New(ctx, srv.DSN("oneapi"))
	if err != nil {
		t.Fatal(err)
	}
	defer after.Close()
	if rows, used := count(after); rows != n || used != n*40 {
		t.Errorf("after the crash: %d log rows, used %d; want %d and %d", rows, used, n, n*40)
	}

	// The meter reconnects; on Close its lease goes back, and the books balance.
	meter.Close()
	var balance int64
	if err := after.QueryRow(ctx, "SELECT quota + used_quota FROM users WHERE id = $1", u.ID).Scan(&balance); err != nil || balance != quota {
		t.Errorf("quota + used = %d (%v), want %d", balance, err, quota)
	}
}
