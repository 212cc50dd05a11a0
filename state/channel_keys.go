package state

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"oneapi/keys"
	"oneapi/queries"
)

// KeyRing is the keys of a multi-key channel (config "multi_key"): its key
// field, one key a line, used in rotation. A key the upstream refuses
// (invalid, deactivated, out of credit) is disabled alone, with the reason,
// while the others go on serving; when the last one goes, the channel is
// disabled. It is rebuilt with the routing table; the rotation restarts
// then, which only shifts which key goes first.
type KeyRing struct {
	st        *State
	channelID int64
	keys      []string
	hashes    [][32]byte
	disabled  map[[32]byte]DisabledKey
	usable    []int // indices of the keys not disabled
	next      atomic.Uint64
}

// DisabledKey is why and when a key of a channel was disabled.
type DisabledKey struct {
	Hint   string
	Reason string
	At     time.Time
}

// KeyStatus is one key of a channel as the management API shows it: never
// the key itself.
type KeyStatus struct {
	Index      int        `json:"index"`
	Hint       string     `json:"hint"`
	Enabled    bool       `json:"enabled"`
	Reason     string     `json:"reason,omitempty"`
	DisabledAt *time.Time `json:"disabled_at,omitempty"`
}

// SplitKeys splits a multi-key channel's key field: one key a line, blank
// lines skipped.
func SplitKeys(s string) []string {
	var out []string
	for line := range strings.SplitSeq(s, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	return out
}

func newKeyRing(st *State, channelID int64, keyField string) *KeyRing {
	r := &KeyRing{st: st, channelID: channelID, keys: SplitKeys(keyField)}
	r.hashes = make([][32]byte, len(r.keys))
	for i, k := range r.keys {
		r.hashes[i] = sha256.Sum256([]byte(k))
	}
	r.setDisabled(nil)
	return r
}

func (r *KeyRing) setDisabled(d map[[32]byte]DisabledKey) {
	r.disabled = d
	r.usable = r.usable[:0]
	for i, h := range r.hashes {
		if _, off := d[h]; !off {
			r.usable = append(r.usable, i)
		}
	}
}

// Len is the number of keys.
func (r *KeyRing) Len() int { return len(r.keys) }

// Next returns the next usable key in rotation, "" when every key is
// disabled (the channel is then being disabled too).
func (r *KeyRing) Next() string {
	if len(r.usable) == 0 {
		return ""
	}
	n := r.next.Add(1) - 1
	return r.keys[r.usable[n%uint64(len(r.usable))]]
}

// AutoDisable reports whether a key the upstream refuses is disabled
// (AutomaticDisableChannelEnabled, as for whole channels).
func (r *KeyRing) AutoDisable() bool { return r.st.Options().AutoDisableChannel }

// Usable is the number of keys not disabled.
func (r *KeyRing) Usable() int { return len(r.usable) }

// Statuses lists the keys by hint, in order, with why each disabled one is.
func (r *KeyRing) Statuses() []KeyStatus {
	out := make([]KeyStatus, len(r.keys))
	for i, k := range r.keys {
		out[i] = KeyStatus{Index: i, Hint: keys.Hint(k), Enabled: true}
		if d, off := r.disabled[r.hashes[i]]; off {
			at := d.At
			out[i].Enabled, out[i].Reason, out[i].DisabledAt = false, d.Reason, &at
		}
	}
	return out
}

// Disable disables key (one of the ring's) for reason: recorded for every
// node, written to the system log, applied here at once. When it was the
// last usable key the channel itself is disabled automatically, its
// disabled keys forgotten (enabling the channel gives each key another
// try), and channelDisabled is true. A channel an admin disabled by hand
// keeps its status.
func (r *KeyRing) Disable(ctx context.Context, key, reason string) (channelDisabled bool, err error) {
	h := sha256.Sum256([]byte(key))
	known := false
	for _, kh := range r.hashes {
		known = known || kh == h
	}
	if !known {
		return false, fmt.Errorf("key is not one of channel %d's", r.channelID)
	}
	return r.st.disableChannelKey(ctx, r, h, keys.Hint(key), reason)
}

func (s *State) disableChannelKey(ctx context.Context, r *KeyRing, h [32]byte, hint, reason string) (bool, error) {
	id := r.channelID
	whole := false
	err := queries.InTx(ctx, s.pool, func(q *queries.Queries) error {
		// The channel row's lock puts concurrent failures of its keys in
		// line: each sees the keys the others disabled.
		if _, err := q.ChannelGetByIDForUpdate(ctx, id); err != nil {
			return err
		}
		keep := make([][]byte, len(r.hashes))
		for i := range r.hashes {
			keep[i] = r.hashes[i][:]
		}
		if err := q.ChannelKeyPrune(ctx, queries.ChannelKeyPruneParams{ChannelID: id, Keep: keep}); err != nil {
			return err
		}
		if err := q.ChannelKeyDisable(ctx, queries.ChannelKeyDisableParams{ChannelID: id, KeyHash: h[:], KeyHint: hint, Reason: reason}); err != nil {
			return err
		}
		rows, err := q.ChannelKeyDisabledList(ctx, id)
		if err != nil {
			return err
		}
		if len(rows) < len(r.hashes) {
			return q.LogInsert(ctx, queries.LogInsertParams{Type: logTypeSystem, ChannelID: id,
				Content: fmt.Sprintf("channel %d: key %s disabled automatically (%d of %d keys left): %s", id, hint, len(r.hashes)-len(rows), len(r.hashes), reason)})
		}
		whole = true
		if _, err := q.ChannelKeyEnable(ctx, queries.ChannelKeyEnableParams{ChannelID: id}); err != nil {
			return err
		}
		if _, err := q.ChannelDisableAuto(ctx, id); err != nil {
			return err
		}
		return q.LogInsert(ctx, queries.LogInsertParams{Type: logTypeSystem, ChannelID: id,
			Content: fmt.Sprintf("channel %d disabled automatically: every key failed; the last, %s: %s", id, hint, reason)})
	})
	if err != nil {
		return false, fmt.Errorf("disable key of channel %d: %w", id, err)
	}
	return whole, s.Reload(ctx, KindChannels, id)
}

// EnableChannelKeys enables again the disabled keys of channel id whose hint
// is hint, or all of them when hint is "". It returns how many.
func (s *State) EnableChannelKeys(ctx context.Context, id int64, hint string) (int64, error) {
	var n int64
	err := queries.InTx(ctx, s.pool, func(q *queries.Queries) error {
		if hint == "" {
			var err error
			n, err = q.ChannelKeyEnable(ctx, queries.ChannelKeyEnableParams{ChannelID: id})
			return err
		}
		rows, err := q.ChannelKeyDisabledList(ctx, id)
		if err != nil {
			return err
		}
		for _, row := range rows {
			if row.KeyHint == hint {
				m, err := q.ChannelKeyEnable(ctx, queries.ChannelKeyEnableParams{ChannelID: id, KeyHash: row.KeyHash})
				if err != nil {
					return err
				}
				n += m
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, s.Reload(ctx, KindChannels, id)
}

// loadDisabledKeys gives the key rings of chans their disabled keys.
func (s *State) loadDisabledKeys(ctx context.Context, chans []*Channel) error {
	rows, err := s.q.ChannelKeyDisabledListAll(ctx)
	if err != nil {
		return fmt.Errorf("load disabled channel keys: %w", err)
	}
	byChannel := map[int64]map[[32]byte]DisabledKey{}
	for _, row := range rows {
		if len(row.KeyHash) != sha256.Size {
			continue
		}
		m := byChannel[row.ChannelID]
		if m == nil {
			m = map[[32]byte]DisabledKey{}
			byChannel[row.ChannelID] = m
		}
		m[[32]byte(bytes.Clone(row.KeyHash))] = DisabledKey{Hint: row.KeyHint, Reason: row.Reason, At: row.DisabledAt}
	}
	for _, c := range chans {
		if c.Keys != nil {
			c.Keys.setDisabled(byChannel[c.ID])
		}
	}
	return nil
}
