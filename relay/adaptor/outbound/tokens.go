package outbound

import (
	"context"
	"crypto/sha256"
	"errors"
	"sync"
	"time"

	"oneapi/relay/adaptor"
)

// Credential is a secret an adaptor obtained for a channel, and when it
// stops working.
type Credential struct {
	Value   string
	Expires time.Time // zero: it does not expire
}

// FetchTimeout bounds one fetch of a credential.
const FetchTimeout = 30 * time.Second

// Tokens caches one credential per channel, for the channel's current key.
// The zero value is ready to use; share one per adaptor.
type Tokens struct {
	mu      sync.Mutex
	entries map[int64]*tokenEntry
	// Now is the clock; nil is time.Now. Tests set it.
	Now func() time.Time
}

type tokenEntry struct {
	keyHash  [32]byte // the channel key the credential was made from
	cred     Credential
	got      time.Time     // when cred was fetched
	fetching chan struct{} // closed when the fetch under way ends; nil if none
	gen      int           // counts finished fetches
	err      error         // of the last fetch
}

// Get returns ch's credential: the cached one while it is valid and not
// due for renewal (renewBefore its expiry), else a new one from fetch. One
// fetch runs at a time per channel; meanwhile other callers keep using the
// current credential if it is still valid, or wait for the fetch. A renewal
// that fails leaves the current credential in use until it expires.
//
// fetch runs with ctx's values (the relay's client) but not its
// cancellation, bounded by FetchTimeout: a client that leaves must not fail
// the others waiting on the same fetch. A caller whose ctx ends stops
// waiting.
func (t *Tokens) Get(ctx context.Context, ch *adaptor.Channel, renewBefore time.Duration, fetch func(context.Context) (Credential, error)) (string, error) {
	keyHash := sha256.Sum256([]byte(ch.Key))
	for {
		t.mu.Lock()
		if t.entries == nil {
			t.entries = map[int64]*tokenEntry{}
		}
		e := t.entries[ch.ID]
		if e == nil || e.keyHash != keyHash {
			// A new channel, or its key changed: what was cached is void.
			e = &tokenEntry{keyHash: keyHash}
			t.entries[ch.ID] = e
		}
		now := t.clock()
		valid := e.cred.Value != "" && (e.cred.Expires.IsZero() || now.Before(e.cred.Expires))
		due := !valid || (!e.cred.Expires.IsZero() && !now.Before(e.cred.Expires.Add(-e.early(renewBefore))))
		switch {
		case !due:
			v := e.cred.Value
			t.mu.Unlock()
			return v, nil
		case e.fetching == nil:
			e.fetching = make(chan struct{})
			go t.fetch(context.WithoutCancel(ctx), e, fetch)
		}
		if valid { // being renewed: the current one still works
			v := e.cred.Value
			t.mu.Unlock()
			return v, nil
		}
		wait, gen := e.fetching, e.gen
		t.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return "", ctx.Err()
		}
		t.mu.Lock()
		err := e.err
		failed := e.gen > gen && err != nil && e.cred.Value == ""
		t.mu.Unlock()
		if failed {
			return "", err
		}
	}
}

func (t *Tokens) fetch(ctx context.Context, e *tokenEntry, fetch func(context.Context) (Credential, error)) {
	ctx, cancel := context.WithTimeout(ctx, FetchTimeout)
	defer cancel()
	cred, err := fetch(ctx)
	t.mu.Lock()
	defer t.mu.Unlock()
	if err == nil && cred.Value != "" {
		e.cred, e.got = cred, t.clock()
	}
	if err == nil && cred.Value == "" {
		err = errEmptyCredential
	}
	if err != nil && !e.cred.Expires.IsZero() && !t.clock().Before(e.cred.Expires) {
		e.cred = Credential{} // expired meanwhile: waiters get the error
	}
	e.err = err
	e.gen++
	close(e.fetching)
	e.fetching = nil
}

// Forget drops ch's cached credential if it is still value: upstream said
// it is no longer valid (revoked before its expiry), so the next Get
// fetches another.
func (t *Tokens) Forget(ch *adaptor.Channel, value string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.entries[ch.ID]; e != nil && e.cred.Value == value {
		e.cred = Credential{}
	}
}

func (t *Tokens) clock() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

// early is how long before expiry the credential is renewed: renewBefore,
// but at most half its lifetime, so that a short-lived one is not renewed
// on every call.
func (e *tokenEntry) early(renewBefore time.Duration) time.Duration {
	if life := e.cred.Expires.Sub(e.got); renewBefore > life/2 {
		return life / 2
	}
	return renewBefore
}

var errEmptyCredential = errors.New("outbound: the credential fetched is empty")
