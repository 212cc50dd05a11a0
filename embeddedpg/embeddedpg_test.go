package embeddedpg

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestStartRestartStop(t *testing.T) {
	if _, err := findBinaries(debianBinGlob); errors.Is(err, ErrNoBinaries) && os.Getenv("CI") == "" {
		t.Skip(err)
	}
	tmp, err := os.MkdirTemp("", "oapgl")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	_ = os.Chmod(tmp, 0o755) // postgres may run as another user
	dir := filepath.Join(tmp, "pg")
	ctx := context.Background()

	s, err := Start(ctx, dir, Options{Ephemeral: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateDatabase(ctx, "keep"); err != nil {
		t.Fatal(err)
	}
	execSQL(t, s, "CREATE TABLE notes (v text); INSERT INTO notes VALUES ('survives')")
	if _, err := Start(ctx, dir, Options{Ephemeral: true}); err == nil {
		t.Fatal("second server on the same directory started")
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "postmaster.pid")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("postmaster.pid still there after stop: %v", err)
	}

	s, err = Start(ctx, dir, Options{Ephemeral: true})
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	defer s.Stop()
	conn, err := pgx.Connect(ctx, s.DSN("keep"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var v string
	if err := conn.QueryRow(ctx, "SELECT v FROM notes").Scan(&v); err != nil || v != "survives" {
		t.Errorf("after restart: %q %v", v, err)
	}
	// The server must not listen on TCP.
	if _, err := pgx.Connect(ctx, "host=127.0.0.1 port=5432 user=postgres dbname=keep connect_timeout=2"); err == nil {
		t.Error("private server accepts TCP connections")
	}
}

func TestNoBinaries(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	if _, err := findBinaries(filepath.Join(t.TempDir(), "*", "bin")); !errors.Is(err, ErrNoBinaries) {
		t.Errorf("err = %v, want ErrNoBinaries", err)
	}
}

func TestPathTooLong(t *testing.T) {
	long := filepath.Join(t.TempDir(), strings.Repeat("a", 100))
	if _, err := Start(context.Background(), long, Options{}); err == nil {
		t.Error("started with a socket path over 107 bytes")
	}
}

func execSQL(t *testing.T, s *Server, sql string) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), s.DSN("keep"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), sql); err != nil {
		t.Fatal(err)
	}
}
