package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"oneapi/state"
)

// Topic is the NOTIFY channel the config triggers (migration 00010) use.
const Topic = "config_changed"

// Listener keeps this node's in-memory state in step with the database: it
// holds one connection outside the pool, LISTENs, and applies each change.
// After every (re)connect it reloads everything, because notifications sent
// while it was away are lost.
type Listener struct {
	pool *pgxpool.Pool
	st   *state.State
	log  *slog.Logger
}

// NewListener returns a listener; call Run.
func NewListener(pool *pgxpool.Pool, st *state.State, log *slog.Logger) *Listener {
	return &Listener{pool: pool, st: st, log: log}
}

// Run listens until ctx ends, reconnecting with exponential backoff.
func (l *Listener) Run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		start := time.Now()
		err := l.listen(ctx)
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > time.Minute {
			backoff = 100 * time.Millisecond // it worked for a while: retry soon
		}
		l.log.Warn("config listener disconnected; reconnecting", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

type change struct {
	Kind string `json:"kind"`
	ID   string `json:"id"`
}

func (l *Listener) listen(ctx context.Context) error {
	pc, err := l.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	conn := pc.Hijack() // a LISTEN connection must not go back to the pool
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+Topic); err != nil {
		return err
	}
	if err := l.st.ReloadAll(ctx); err != nil {
		return err
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		l.apply(ctx, n)
	}
}

func (l *Listener) apply(ctx context.Context, n *pgconn.Notification) {
	var c change
	if err := json.Unmarshal([]byte(n.Payload), &c); err != nil {
		l.log.Warn("bad config notification", "payload", n.Payload)
		return
	}
	var id int64
	if c.Kind == state.KindTokens || c.Kind == state.KindUsers || c.Kind == state.KindPrompts {
		id, _ = strconv.ParseInt(c.ID, 10, 64)
	}
	if err := l.st.Reload(ctx, c.Kind, id); err != nil && !errors.Is(err, context.Canceled) {
		l.log.Error("apply config change", "kind", c.Kind, "id", c.ID, "err", err)
	}
}
