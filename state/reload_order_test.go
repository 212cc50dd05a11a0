package state

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"oneapi/keys"
	"oneapi/queries"
	"oneapi/queries/dbtest"
)

// TestFullReloadKeepsANewerRowChange: a full reload reads every token; the
// admin disables one right after, and its NOTIFY makes the listener reload
// that row; the full reload, finishing last, must not bring the old,
// enabled copy back (a disabled key would work again until the next reload).
func TestFullReloadKeepsANewerRowChange(t *testing.T) {
	pool := dbtest.Pool(t)
	ctx := context.Background()
	st, err := New(ctx, pool, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	q := queries.New(pool)
	u, err := q.UserCreate(ctx, queries.UserCreateParams{Username: "u", Role: RoleUser, Status: StatusEnabled, GroupName: "default"})
	if err != nil {
		t.Fatal(err)
	}
	key := keys.NewAPIKey()
	hash := [32]byte(keys.Hash(key))
	tok, err := q.TokenCreate(ctx, queries.TokenCreateParams{UserID: u.ID, Name: "t", KeyHash: hash[:], KeyPrefix: keys.Prefix(key), Status: StatusEnabled, UnlimitedQuota: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Reload(ctx, KindTokens, tok.ID); err != nil {
		t.Fatal(err)
	}

	rowDone := make(chan error, 1)
	st.afterRead = func(kind string) {
		if kind != KindTokens {
			return
		}
		st.afterRead = nil
		// The full reload has read the table: now the change and its row reload.
		if _, err := pool.Exec(ctx, "UPDATE tokens SET status = 2 WHERE id = $1", tok.ID); err != nil {
			t.Error(err)
		}
		go func() { rowDone <- st.Reload(ctx, KindTokens, tok.ID) }()
		time.Sleep(100 * time.Millisecond) // give the row reload every chance to go first
	}
	if err := st.Reload(ctx, KindTokens, 0); err != nil {
		t.Fatal(err)
	}
	if err := <-rowDone; err != nil {
		t.Fatal(err)
	}
	got, err := st.Token(ctx, hash)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != StatusDisabled {
		t.Errorf("token status %d after both reloads, want %d (disabled)", got.Status, StatusDisabled)
	}
}
