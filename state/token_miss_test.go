package state

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/jackc/pgx/v5"

	"oneapi/keys"
	"oneapi/queries"
	"oneapi/queries/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// TestTokenMissLookupsAreBounded: a key not in memory (made on another node a
// moment ago) is found in the database, but only while few such lookups run
// at once; beyond that an unknown key is refused without a query.
func TestTokenMissLookupsAreBounded(t *testing.T) {
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
	if _, err := q.TokenCreate(ctx, queries.TokenCreateParams{UserID: u.ID, Name: "t", KeyHash: hash[:], KeyPrefix: keys.Prefix(key), Status: StatusEnabled, UnlimitedQuota: true}); err != nil {
		t.Fatal(err)
	}

	for i := 0; i < maxTokenMisses; i++ { // as many lookups as allowed are in flight
		st.tokenMisses <- struct{}{}
	}
	if _, err := st.Token(ctx, hash); !errors.Is(err, pgx.ErrNoRows) {
		t.Fatalf("with every lookup slot taken: %v, want no rows", err)
	}
	for i := 0; i < maxTokenMisses; i++ {
		<-st.tokenMisses
	}
	tok, err := st.Token(ctx, hash)
	if err != nil || tok.UserID != u.ID {
		t.Fatalf("a key created elsewhere: %+v, %v", tok, err)
	}
	if len(st.tokenMisses) != 0 {
		t.Errorf("%d lookup slots left taken", len(st.tokenMisses))
	}
}
