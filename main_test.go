package main

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"oneapi/keys"
	"oneapi/queries"
	"oneapi/queries/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func TestBootstrapIsIdempotent(t *testing.T) {
	pool := dbtest.Pool(t)
	ctx := context.Background()
	q := queries.New(pool)
	cfg := config{InitialRootToken: "sk-initialroottoken0123456789", InitialRootAccessToken: "access-token-0123456789"}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for i := 0; i < 3; i++ {
		if err := bootstrap(ctx, q, pool, cfg, log); err != nil {
			t.Fatalf("bootstrap #%d: %v", i, err)
		}
	}
	if n, _ := q.UserCount(ctx); n != 1 {
		t.Fatalf("users = %d, want 1", n)
	}
	root, err := q.UserGetByUsername(ctx, "root")
	if err != nil {
		t.Fatal(err)
	}
	if root.Role != roleRoot || !root.MustChangePassword || root.PasswordHash == "123456" {
		t.Errorf("root = role %d must_change %v", root.Role, root.MustChangePassword)
	}
	if u, err := q.UserGetByAccessToken(ctx, keys.Hash(cfg.InitialRootAccessToken)); err != nil || u.ID != root.ID {
		t.Errorf("access token lookup: %v", err)
	}
	var tokens int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM tokens WHERE key_hash = $1", keys.Hash(cfg.InitialRootToken)).Scan(&tokens); err != nil || tokens != 1 {
		t.Errorf("initial root tokens = %d (%v), want 1", tokens, err)
	}
	// Nothing stored in the clear.
	var leaked int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM users WHERE row_to_json(users)::text LIKE '%access-token-0123456789%'").Scan(&leaked); err != nil || leaked != 0 {
		t.Errorf("access token stored in the clear (%d rows, %v)", leaked, err)
	}
}

func TestBootstrapConcurrentNodes(t *testing.T) {
	pool := dbtest.Pool(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		go func() { errs <- bootstrap(context.Background(), queries.New(pool), pool, config{}, log) }()
	}
	for i := 0; i < 4; i++ {
		if err := <-errs; err != nil {
			t.Errorf("bootstrap: %v", err)
		}
	}
	if n, _ := queries.New(pool).UserCount(context.Background()); n != 1 {
		t.Errorf("users = %d, want 1", n)
	}
}

// TestServeWithExternalDatabase runs the real serve path against SQL_DSN and
// stops it the way a signal would.
func TestServeWithExternalDatabase(t *testing.T) {
	dsn := dbtest.DSN(t)
	port := freePort(t)
	cfg, err := parseConfig([]string{"--port", strconv.Itoa(port)}, envOf(map[string]string{
		"SQL_DSN": dsn, "ENCRYPTION_KEY": strings.Repeat("cd", 32), "HOST": "127.0.0.1",
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, io.Discard) }()
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	waitFor(t, base+"/readyz")
	if res, err := http.Get(base + "/healthz"); err != nil || res.StatusCode != 200 {
		t.Fatalf("healthz: %v", err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("server did not stop")
	}
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := queries.New(pool).UserGetByUsername(context.Background(), "root"); err != nil {
		t.Errorf("root user: %v", err)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func waitFor(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if res, err := http.Get(url); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never became ready", url)
}

// TestOpenPoolHonoursOneAPISettings: SQL_MAX_OPEN_CONNS, SQL_MAX_IDLE_CONNS
// and SQL_CONN_MAX_LIFETIME shape the real pool.
func TestOpenPoolHonoursOneAPISettings(t *testing.T) {
	ctx := context.Background()
	pool, err := openPool(ctx, dbtest.DSN(t), poolConfig{MaxConns: 4, MaxIdle: 1, MaxLifetime: 90 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if c := pool.Config(); c.MaxConns != 4 || c.MaxConnLifetime != 90*time.Second {
		t.Fatalf("pool config: max %d lifetime %v", c.MaxConns, c.MaxConnLifetime)
	}
	var conns []*pgxpool.Conn
	for i := 0; i < 4; i++ {
		c, err := pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		c.Release()
	}
	// Released connections beyond the one idle allowed are closed.
	deadline := time.Now().Add(5 * time.Second)
	for pool.Stat().TotalConns() > 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if s := pool.Stat(); s.IdleConns() != 1 || s.TotalConns() != 1 {
		t.Errorf("after release: %d idle of %d, want 1 of 1", s.IdleConns(), s.TotalConns())
	}

	// Unset, the defaults stay (at least 16 connections, none closed on release).
	def, err := openPool(ctx, dbtest.DSN(t), poolConfig{MaxIdle: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer def.Close()
	if c := def.Config(); c.MaxConns < 16 || c.AfterRelease != nil {
		t.Errorf("default pool: max %d, release hook %v", c.MaxConns, c.AfterRelease != nil)
	}
}

// TestImportCommand runs `oneapi import` the way an operator does, on a One
// API SQLite database made from One API's schema.
func TestImportCommand(t *testing.T) {
	dsn := dbtest.DSN(t)
	schema, err := os.ReadFile("oneapiimport/testdata/schema-sqlite.sql")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "one-api.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(string(schema) + `;INSERT INTO users (id, username, password, role, status, quota) VALUES (1, 'root', '', 100, 1, 42);
		INSERT INTO tokens (id, user_id, key, status, name, remain_quota, unlimited_quota) VALUES (1, 1, 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKL', 1, 'ci', 0, 1);
		INSERT INTO options (key, value) VALUES ('SystemName', 'Old'), ('SomethingNew', 'x');`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	env := map[string]string{"SQL_DSN": dsn, "ENCRYPTION_KEY": strings.Repeat("cd", 32)}
	for _, step := range []struct {
		args []string
		want []string
	}{
		{[]string{"import", "--from", "sqlite://" + path, "--dry-run"}, []string{"dry run, nothing was written", "users 1 1 0 0"}},
		{[]string{"import", "--from", "sqlite://" + path}, []string{"done, in one transaction", "unknown to this version, not carried over: SomethingNew"}},
		{[]string{"import", "--from", "sqlite://" + path, "--merge"}, []string{"(merge): done", "tokens 1 0 1 0"}},
	} {
		cfg, err := parseConfig(step.args, envOf(env), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		var out strings.Builder
		if err := run(context.Background(), cfg, &out); err != nil {
			t.Fatalf("%v: %v", step.args, err)
		}
		flat := strings.Join(strings.Fields(out.String()), " ")
		for _, w := range step.want {
			if !strings.Contains(flat, w) {
				t.Errorf("%v: output lacks %q:\n%s", step.args, w, out.String())
			}
		}
	}
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var n int
	if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM tokens WHERE key_hash = $1", keys.Hash("sk-abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKL")).Scan(&n); err != nil || n != 1 {
		t.Errorf("imported token: %d (%v)", n, err)
	}
}
