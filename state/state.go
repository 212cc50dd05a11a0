// Package state holds in memory what the relay reads on every request:
// tokens (by key hash), users, channels with the routing table built from
// them, the runtime options and the stored prompts. It loads through queries and is refreshed by
// Reload, called after local writes, by the periodic safety-net reload, and
// (later) by the cluster's LISTEN/NOTIFY listener. Balances are never cached:
// the meter's reservation UPDATE is the truth.
package state

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"oneapi/keys"
	"oneapi/queries"
)

// Kinds of state, as named in Reload and in change notifications.
const (
	KindTokens   = "tokens"
	KindUsers    = "users"
	KindChannels = "channels"
	KindOptions  = "options"
	// KindPrompts is in prompts.go.
)

// Status values shared by users, tokens and channels (One API's numbers).
const (
	StatusEnabled      = 1
	StatusDisabled     = 2
	StatusAutoDisabled = 3 // channels only
)

// Roles (One API's numbers).
const (
	RoleUser  = 1
	RoleAdmin = 10
	RoleRoot  = 100
)

// Token is what the relay needs to authorise a key.
type Token struct {
	ID        int64
	UserID    int64
	Name      string
	Status    int16
	ExpiresAt *time.Time
	Unlimited bool
	Models    map[string]bool // nil: any model
	Subnets   []netip.Prefix  // nil: any address
	// Prompts limits the stored prompts the token may use (nil: any);
	// PromptsOnly refuses requests that name no stored prompt.
	Prompts     map[string]bool
	PromptsOnly bool
	Limits      RateLimits
}

// User is what the relay needs of a token's owner.
type User struct {
	ID       int64
	Username string
	Role     int16
	Status   int16 // deleted users are StatusDisabled
	Group    string
	Limits   RateLimits // its own; Options.UserLimits adds the group's
}

// State is safe for concurrent use.
type State struct {
	pool   queries.TxBeginner
	q      *queries.Queries
	cipher *keys.Cipher
	log    *slog.Logger

	mu          sync.RWMutex
	tokens      map[[32]byte]*Token
	tokenHashes map[int64][32]byte // id -> hash, to drop a deleted token
	users       map[int64]*User

	routes  atomic.Pointer[Routes]
	options atomic.Pointer[Options]
	prompts atomic.Pointer[promptIndex]
	pmu     sync.Mutex // one prompt reload at a time

	// tokenMisses bounds the database lookups of keys not in memory.
	tokenMisses chan struct{}

	// Loads of one kind take turns, each from its query to storing what it
	// read: a full reload that read the table before a row changed must not
	// store its older copy over the row reload that followed the change's
	// NOTIFY (a disabled key working again until the next reload). In turn
	// the loads apply in the order they read, so the newest read wins.
	tokensMu, usersMu, channelsMu, optionsMu sync.Mutex
	// afterRead, set by tests, runs in a load between its query and its store.
	afterRead func(kind string)
}

// maxTokenMisses is how many lookups of unknown keys may run at once. Memory
// is kept whole by the listener, so a miss is almost always a made-up key;
// the lookup only covers a key created on another node a moment before its
// NOTIFY arrives. A flood of made-up keys thus costs at most this many
// queries in flight, and the rest are answered as unknown at once.
const maxTokenMisses = 4

// New loads everything once.
func New(ctx context.Context, pool *pgxpool.Pool, cipher *keys.Cipher, log *slog.Logger) (*State, error) {
	s := &State{pool: pool, q: queries.New(pool), cipher: cipher, log: log, tokenMisses: make(chan struct{}, maxTokenMisses)}
	if err := s.ReloadAll(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// ReloadAll reloads every kind: at start, after a listener reconnects, and
// periodically as the safety net.
func (s *State) ReloadAll(ctx context.Context) error {
	for _, k := range []string{KindOptions, KindUsers, KindTokens, KindChannels, KindPrompts} {
		if err := s.Reload(ctx, k, 0); err != nil {
			return err
		}
	}
	return nil
}

// Reload refreshes one row (id > 0) or all rows (id = 0) of a kind.
func (s *State) Reload(ctx context.Context, kind string, id int64) error {
	switch kind {
	case KindTokens:
		s.tokensMu.Lock()
		defer s.tokensMu.Unlock()
		return s.reloadTokens(ctx, id)
	case KindUsers:
		s.usersMu.Lock()
		defer s.usersMu.Unlock()
		return s.reloadUsers(ctx, id)
	case KindChannels:
		s.channelsMu.Lock()
		defer s.channelsMu.Unlock()
		return s.reloadChannels(ctx)
	case KindOptions:
		s.optionsMu.Lock()
		defer s.optionsMu.Unlock()
		return s.reloadOptions(ctx)
	case KindPrompts:
		return s.reloadPrompts(ctx, id)
	}
	return fmt.Errorf("state: unknown kind %q", kind)
}

func (s *State) readDone(kind string) {
	if s.afterRead != nil {
		s.afterRead(kind)
	}
}

// Token returns the token whose key hashes to hash. A key not in memory is
// looked up in the database once (it may have been created on another node).
func (s *State) Token(ctx context.Context, hash [32]byte) (*Token, error) {
	s.mu.RLock()
	t := s.tokens[hash]
	s.mu.RUnlock()
	if t != nil {
		return t, nil
	}
	select {
	case s.tokenMisses <- struct{}{}:
		defer func() { <-s.tokenMisses }()
	default:
		return nil, pgx.ErrNoRows
	}
	s.tokensMu.Lock() // a load like the others (see tokensMu)
	defer s.tokensMu.Unlock()
	row, err := s.q.TokenGetByKeyHash(ctx, hash[:])
	if err != nil {
		return nil, err
	}
	t = tokenFromRow(row)
	s.mu.Lock()
	s.tokens[hash] = t
	s.tokenHashes[t.ID] = hash
	s.mu.Unlock()
	return t, nil
}

// TokenByID returns a token by id, from memory or, on a miss, from the
// database (the console's playground names a token by id, not by key).
func (s *State) TokenByID(ctx context.Context, id int64) (*Token, error) {
	s.mu.RLock()
	h, ok := s.tokenHashes[id]
	t := s.tokens[h]
	s.mu.RUnlock()
	if ok && t != nil {
		return t, nil
	}
	row, err := s.q.TokenGetByID(ctx, id)
	if err != nil {
		return nil, err
	}
	t = tokenFromRow(row)
	s.mu.Lock()
	s.tokens[[32]byte(row.KeyHash)] = t
	s.tokenHashes[id] = [32]byte(row.KeyHash)
	s.mu.Unlock()
	return t, nil
}

// User returns a user by id, from memory or, on a miss, from the database.
func (s *State) User(ctx context.Context, id int64) (*User, error) {
	s.mu.RLock()
	u := s.users[id]
	s.mu.RUnlock()
	if u != nil {
		return u, nil
	}
	s.usersMu.Lock()
	defer s.usersMu.Unlock()
	row, err := s.q.UserGetByID(ctx, id)
	if err != nil {
		return nil, err
	}
	u = userFromRow(row)
	s.mu.Lock()
	s.users[id] = u
	s.mu.Unlock()
	return u, nil
}

// Routes returns the current routing table.
func (s *State) Routes() *Routes { return s.routes.Load() }

// Options returns the current runtime options.
func (s *State) Options() *Options { return s.options.Load() }

func (s *State) reloadTokens(ctx context.Context, id int64) error {
	if id == 0 {
		rows, err := s.q.TokenListAll(ctx)
		if err != nil {
			return fmt.Errorf("load tokens: %w", err)
		}
		s.readDone(KindTokens)
		tokens := make(map[[32]byte]*Token, len(rows))
		hashes := make(map[int64][32]byte, len(rows))
		for _, r := range rows {
			h := [32]byte(r.KeyHash)
			tokens[h] = tokenFromRow(r)
			hashes[r.ID] = h
		}
		s.mu.Lock()
		s.tokens, s.tokenHashes = tokens, hashes
		s.mu.Unlock()
		return nil
	}
	row, err := s.q.TokenGetByID(ctx, id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.tokenHashes[id]; ok {
		delete(s.tokens, old)
		delete(s.tokenHashes, id)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // deleted
	}
	if err != nil {
		return fmt.Errorf("load token %d: %w", id, err)
	}
	h := [32]byte(row.KeyHash)
	s.tokens[h] = tokenFromRow(row)
	s.tokenHashes[id] = h
	return nil
}

func (s *State) reloadUsers(ctx context.Context, id int64) error {
	if id == 0 {
		rows, err := s.q.UserListAll(ctx)
		if err != nil {
			return fmt.Errorf("load users: %w", err)
		}
		s.readDone(KindUsers)
		users := make(map[int64]*User, len(rows))
		for _, r := range rows {
			users[r.ID] = userFromRow(r)
		}
		s.mu.Lock()
		s.users = users
		s.mu.Unlock()
		return nil
	}
	row, err := s.q.UserGetByID(ctx, id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if errors.Is(err, pgx.ErrNoRows) {
		// Deleted: keep a disabled entry so the relay refuses without a query.
		s.users[id] = &User{ID: id, Status: StatusDisabled}
		return nil
	}
	if err != nil {
		return fmt.Errorf("load user %d: %w", id, err)
	}
	s.users[id] = userFromRow(row)
	return nil
}

func (s *State) reloadChannels(ctx context.Context) error {
	rows, err := s.q.ChannelListAll(ctx)
	if err != nil {
		return fmt.Errorf("load channels: %w", err)
	}
	s.readDone(KindChannels)
	chans := make([]*Channel, 0, len(rows))
	for _, r := range rows {
		ch, err := s.channelFromRow(r)
		if err != nil {
			// One undecryptable key must not take the others down.
			s.log.Error("channel skipped", "channel", r.ID, "err", err)
			continue
		}
		chans = append(chans, ch)
	}
	if err := s.loadDisabledKeys(ctx, chans); err != nil { // multi-key channels: channel_keys.go
		return err
	}
	s.routes.Store(buildRoutes(chans))
	return nil
}

func (s *State) reloadOptions(ctx context.Context) error {
	rows, err := s.q.OptionList(ctx)
	if err != nil {
		return fmt.Errorf("load options: %w", err)
	}
	raw := make(map[string]string, len(rows))
	for _, r := range rows {
		raw[r.Key] = r.Value
	}
	o, err := ParseOptions(raw)
	if err != nil {
		// Only a hand edit gets an invalid value past the API: that key keeps
		// its default, and the others still apply.
		s.log.Error("invalid stored option ignored", "err", err)
	}
	s.options.Store(o)
	return nil
}

func tokenFromRow(r queries.Token) *Token {
	t := &Token{
		ID: r.ID, UserID: r.UserID, Name: r.Name, Status: r.Status,
		ExpiresAt: r.ExpiresAt, Unlimited: r.UnlimitedQuota,
	}
	if ms := splitList(r.Models); len(ms) > 0 {
		t.Models = make(map[string]bool, len(ms))
		for _, m := range ms {
			t.Models[m] = true
		}
	}
	if ps := splitList(r.Prompts); len(ps) > 0 {
		t.Prompts = make(map[string]bool, len(ps))
		for _, p := range ps {
			t.Prompts[p] = true
		}
	}
	t.PromptsOnly = r.PromptsOnly
	t.Limits = rowLimits(r.RpmLimit, r.RpdLimit, r.TpmLimit, r.MaxConcurrency, r.ModelLimits)
	for _, s := range splitList(r.Subnet) {
		if p, err := ParsePrefix(s); err == nil {
			t.Subnets = append(t.Subnets, p)
		} else {
			// Stored unparseable: fail closed, no address matches.
			t.Subnets = append(t.Subnets, netip.Prefix{})
		}
	}
	return t
}

func userFromRow(r queries.User) *User {
	u := &User{ID: r.ID, Username: r.Username, Role: r.Role, Status: r.Status, Group: r.GroupName,
		Limits: rowLimits(r.RpmLimit, r.RpdLimit, r.TpmLimit, r.MaxConcurrency, r.ModelLimits)}
	if r.DeletedAt != nil {
		u.Status = StatusDisabled
	}
	return u
}

// splitList splits a comma-separated list, trimming blanks.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// ParsePrefix accepts a CIDR or a single address. IPv4-mapped IPv6 forms
// (::ffff:10.0.0.0/104, ::ffff:10.0.0.1) become the IPv4 prefix they mean:
// the relay compares client addresses unmapped, and an IPv6 prefix never
// contains an IPv4 address, so the mapped spelling would lock the token out.
func ParsePrefix(s string) (netip.Prefix, error) {
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return netip.Prefix{}, err
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

// RunPeriodicReload reloads everything every interval until ctx ends.
func (s *State) RunPeriodicReload(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.ReloadAll(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("periodic state reload failed", "err", err)
			}
		}
	}
}
