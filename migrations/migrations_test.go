package migrations_test

import (
	"context"
	"testing"

	"oneapi/migrations"
	"oneapi/queries/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// TestUpDownUp proves every Down undoes its Up on a database that already ran
// them all (the test database comes migrated).
func TestUpDownUp(t *testing.T) {
	pool := dbtest.Pool(t)
	ctx := context.Background()
	p, db, err := migrations.NewProvider(pool)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, target, err := p.GetVersions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, 0); err != nil {
		t.Fatalf("down: %v", err)
	}
	var tables int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'goose_db_version'").Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 0 {
		t.Errorf("%d tables left after migrating down", tables)
	}
	if err := migrations.Up(ctx, pool); err != nil {
		t.Fatalf("up again: %v", err)
	}
	if v, err := p.GetDBVersion(ctx); err != nil || v != target {
		t.Errorf("version = %d (%v), want %d", v, err, target)
	}
}

// TestConcurrentUp runs migrations from several "nodes" at once on an empty database.
func TestConcurrentUp(t *testing.T) {
	pool := dbtest.Pool(t)
	ctx := context.Background()
	p, db, err := migrations.NewProvider(pool)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := p.DownTo(ctx, 0); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 3)
	for i := 0; i < 3; i++ {
		go func() { errs <- migrations.Up(ctx, pool) }()
	}
	for i := 0; i < 3; i++ {
		if err := <-errs; err != nil {
			t.Errorf("concurrent up: %v", err)
		}
	}
	if pending, err := p.HasPending(ctx); err != nil || pending {
		t.Errorf("pending after concurrent up: %v %v", pending, err)
	}
}
