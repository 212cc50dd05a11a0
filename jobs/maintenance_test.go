package jobs

import (
	"context"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"oneapi/queries/dbtest"
)

// TestAccountCleanup: mailed codes a day past expiry and ended login-failure
// windows go; codes still usable (or expired less than a day ago, kept for
// the rate limit's count) and running windows stay.
func TestAccountCleanup(t *testing.T) {
	pool := dbtest.Pool(t)
	ctx := context.Background()
	r := testRiver(t, pool, Deps{})
	for _, stmt := range []string{
		`INSERT INTO account_codes (purpose, email, code_hash, expires_at) VALUES
			('verify', 'a@example.com', 'h1', now() + interval '10 minutes'),
			('reset',  'b@example.com', 'h2', now() - interval '1 hour'),
			('verify', 'c@example.com', 'h3', now() - interval '2 days'),
			('reset',  'd@example.com', 'h4', now() - interval '30 days')`,
		`INSERT INTO login_failures (key, failures, window_end) VALUES
			('ip:192.0.2.1', 3, now() + interval '5 minutes'),
			('user:alice', 9, now() - interval '1 minute'),
			('ip:192.0.2.2', 1, now() - interval '3 hours')`,
	} {
		if _, err := pool.Exec(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	w := &accountCleanupWorker{r: r}
	if err := w.Work(ctx, &river.Job[AccountCleanupArgs]{JobRow: &rivertype.JobRow{}}); err != nil {
		t.Fatal(err)
	}
	strings := func(query string) []string {
		t.Helper()
		rows, err := pool.Query(ctx, query)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		return out
	}
	if got := strings("SELECT email FROM account_codes ORDER BY email"); len(got) != 2 || got[0] != "a@example.com" || got[1] != "b@example.com" {
		t.Errorf("account codes left: %v, want a@ and b@", got)
	}
	if got := strings("SELECT key FROM login_failures"); len(got) != 1 || got[0] != "ip:192.0.2.1" {
		t.Errorf("login failures left: %v, want the running window only", got)
	}
	// A second run has nothing to do.
	if err := w.Work(ctx, &river.Job[AccountCleanupArgs]{JobRow: &rivertype.JobRow{}}); err != nil {
		t.Fatal(err)
	}
}

// TestMaintenanceJobsPeriodic: every node's River schedules the hourly
// maintenance jobs (the leader alone enqueues them). RunOnStart makes the
// leader insert them at once, which is what this checks.
func TestMaintenanceJobsPeriodic(t *testing.T) {
	pool := dbtest.Pool(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := testRiver(t, pool, Deps{})
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Stop(context.Background()) })
	want := map[string]bool{"log_retention": false, "account_cleanup": false}
	poll(t, "maintenance jobs inserted", func() bool {
		var kinds []string
		rows, err := pool.Query(ctx, "SELECT DISTINCT kind FROM river_job")
		if err != nil {
			return false
		}
		defer rows.Close()
		for rows.Next() {
			var k string
			if rows.Scan(&k) == nil {
				kinds = append(kinds, k)
			}
		}
		for _, k := range kinds {
			if _, ok := want[k]; ok {
				want[k] = true
			}
		}
		return want["log_retention"] && want["account_cleanup"]
	})
}

// poll waits up to 10 seconds for cond.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never happened: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
