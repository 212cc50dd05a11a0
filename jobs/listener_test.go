package jobs

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"oneapi/keys"
	"oneapi/queries"
	"oneapi/queries/dbtest"
	"oneapi/state"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// node is one gateway's view of the shared database.
func node(t *testing.T, pool *pgxpool.Pool) *state.State {
	t.Helper()
	cipher, _ := keys.NewCipher(bytes.Repeat([]byte{1}, 32))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := state.New(context.Background(), pool, cipher, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go NewListener(pool, st, log).Run(ctx)
	return st
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never happened: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestManualEditsPropagate: changes made by hand with SQL (no application
// code at all) reach a node's memory, and survive a killed listener connection.
func TestManualEditsPropagate(t *testing.T) {
	pool := dbtest.Pool(t)
	ctx := context.Background()
	q := queries.New(pool)
	u, err := q.UserCreate(ctx, queries.UserCreateParams{Username: "u", Role: 1, Status: 1, GroupName: "default"})
	if err != nil {
		t.Fatal(err)
	}
	st := node(t, pool)
	tok, err := q.TokenCreate(ctx, queries.TokenCreateParams{UserID: u.ID, Name: "t", KeyHash: keys.Hash("k1"), KeyPrefix: "sk-k1", Status: 1, UnlimitedQuota: true})
	if err != nil {
		t.Fatal(err)
	}
	hash := [32]byte(keys.Hash("k1"))
	if got, err := st.Token(ctx, hash); err != nil || got.Status != 1 {
		t.Fatalf("token: %v %v", got, err)
	}
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := pool.Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}
	exec("UPDATE tokens SET status = 2 WHERE id = $1", tok.ID)
	eventually(t, "token revoked", func() bool { got, _ := st.Token(ctx, hash); return got.Status == 2 })

	exec("UPDATE users SET group_name = 'vip' WHERE id = $1", u.ID)
	eventually(t, "user regrouped", func() bool { got, _ := st.User(ctx, u.ID); return got.Group == "vip" })

	exec("INSERT INTO options (key, value) VALUES ('RetryTimes', '7')")
	eventually(t, "option applied", func() bool { return st.Options().RetryTimes == 7 })

	// Kill the listener's connection: it must reconnect and reload everything,
	// including a change made while it was away.
	exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()")
	exec("ALTER TABLE options DISABLE TRIGGER options_notify") // this change sends no notification...
	exec("UPDATE options SET value = '3' WHERE key = 'RetryTimes'")
	exec("ALTER TABLE options ENABLE TRIGGER options_notify")
	exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()")
	eventually(t, "reload after reconnect", func() bool { return st.Options().RetryTimes == 3 }) // ...yet it arrives

	exec("DELETE FROM tokens WHERE id = $1", tok.ID)
	eventually(t, "token deleted", func() bool { _, err := st.Token(ctx, hash); return err != nil })

	// Quota counters do not notify: settlement traffic must not churn every node's cache.
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "LISTEN "+Topic); err != nil {
		t.Fatal(err)
	}
	exec("UPDATE users SET quota = quota + 1, used_quota = used_quota + 1, request_count = request_count + 1 WHERE id = $1", u.ID)
	exec("UPDATE channels SET used_quota = used_quota + 1")
	waitCtx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if n, err := conn.Conn().WaitForNotification(waitCtx); err == nil {
		t.Errorf("quota update notified: %s", n.Payload)
	}
	if _, err := conn.Exec(ctx, "UNLISTEN *"); err != nil {
		t.Fatal(err)
	}
}
