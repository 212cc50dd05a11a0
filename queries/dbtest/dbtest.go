// Package dbtest gives tests a real, freshly migrated PostgreSQL database.
//
// The server is TEST_DATABASE_URL when set, otherwise a private server started
// with the same launcher the gateway uses, one per test package. Each call to
// DSN or Pool creates a new database from a migrated template, so tests never
// see each other's rows. With no PostgreSQL at all, tests skip locally and fail
// in CI (CI set).
package dbtest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"oneapi/embeddedpg"
	"oneapi/migrations"
)

var (
	once      sync.Once
	server    *embeddedpg.Server
	tmpDir    string
	baseURL   string // connection string of the cluster's maintenance database
	template  string
	setupErr  error
	dbCounter atomic.Int64
)

// Main runs the package's tests and stops the private server afterwards; call
// it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if server != nil {
		_ = server.Stop()
	}
	if tmpDir != "" {
		_ = os.RemoveAll(tmpDir)
	}
	if template != "" && os.Getenv("TEST_DATABASE_URL") != "" {
		dropDatabase(template)
	}
	os.Exit(code)
}

func setup() {
	ctx := context.Background()
	template = fmt.Sprintf("oneapi_tmpl_%d", os.Getpid())
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		baseURL = u
	} else {
		// Short path: the socket lives in the data directory.
		tmpDir, setupErr = os.MkdirTemp("", "oapg")
		if setupErr != nil {
			return
		}
		_ = os.Chmod(tmpDir, 0o755)
		server, setupErr = embeddedpg.Start(ctx, filepath.Join(tmpDir, "pg"), embeddedpg.Options{Ephemeral: true})
		if setupErr != nil {
			return
		}
		baseURL = server.DSN("postgres")
	}
	if setupErr = exec(ctx, "CREATE DATABASE "+template); setupErr != nil {
		return
	}
	pool, err := pgxpool.New(ctx, withDatabase(baseURL, template))
	if err != nil {
		setupErr = err
		return
	}
	defer pool.Close()
	setupErr = migrations.Up(ctx, pool)
}

// DSN creates a fresh migrated database for t and returns its connection
// string. The database is dropped when t ends.
func DSN(t testing.TB) string {
	t.Helper()
	once.Do(setup)
	if setupErr != nil {
		if os.Getenv("CI") == "" && (setupErr == embeddedpg.ErrNoBinaries) {
			t.Skipf("no PostgreSQL: %v", setupErr)
		}
		t.Fatalf("test database: %v", setupErr)
	}
	name := fmt.Sprintf("oneapi_t%d_%d", os.Getpid(), dbCounter.Add(1))
	// FILE_COPY is much faster than WAL_LOG for a small template.
	if err := exec(context.Background(), fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s STRATEGY FILE_COPY", name, template)); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() { dropDatabase(name) })
	return withDatabase(baseURL, name)
}

// Pool returns a pool on a fresh migrated database, closed when t ends.
func Pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// Server returns the private server, or nil when TEST_DATABASE_URL is used.
func Server() *embeddedpg.Server { return server }

func exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, baseURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

func dropDatabase(name string) {
	_ = exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
}

// withDatabase points a connection string (URL or key=value form) at db.
func withDatabase(dsn, db string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err == nil {
			u.Path = "/" + db
			return u.String()
		}
	}
	return dsn + " dbname=" + db // a later key wins
}
