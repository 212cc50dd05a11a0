package state

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"oneapi/prompt"
	"oneapi/queries"
)

// KindPrompts is the change kind of a prompt, its versions and its labels
// (the id is the prompt's).
const KindPrompts = "prompts"

// Prompt is a stored prompt as the relay resolves it: every version
// compiled, and the labels. A Prompt is never modified once published; a
// change replaces it.
type Prompt struct {
	ID       int64
	Name     string
	OwnerID  int64 // 0: shared
	Latest   int
	Labels   map[string]int
	Versions map[int]*PromptVersion
}

// PromptVersion is one compiled version.
type PromptVersion struct {
	Version  int
	Hash     string
	Template *prompt.Template
}

// UsableBy says whether userID's tokens may use the prompt: a shared one
// anyone may, a private one only its owner.
func (p *Prompt) UsableBy(userID int64) bool {
	return p.OwnerID == 0 || p.OwnerID == userID
}

// Resolve picks the version ref names (see prompt.Resolve) among the
// compiled ones.
func (p *Prompt) Resolve(ref string) (*PromptVersion, error) {
	n, err := prompt.Resolve(p.Name, ref, p.Latest, p.Labels)
	if err != nil {
		return nil, err
	}
	pv := p.Versions[n]
	if pv == nil {
		return nil, &prompt.RefError{Msg: fmt.Sprintf("The prompt `%s` has no version %d.", p.Name, n)}
	}
	return pv, nil
}

// promptIndex is every prompt, published whole: readers never lock.
type promptIndex struct {
	byName map[string]*Prompt
	byID   map[int64]*Prompt
}

// Prompt returns the stored prompt with that name, or nil.
func (s *State) Prompt(name string) *Prompt {
	idx := s.prompts.Load()
	if idx == nil {
		return nil
	}
	return idx.byName[name]
}

// promptFetchBatch bounds one query for version contents.
const promptFetchBatch = 500

type versionKey struct {
	prompt  int64
	version int32
}

// reloadPrompts refreshes one prompt (id > 0) or all. Versions never
// change, so only the ones this node lacks are fetched and compiled; a
// label move costs three small queries. Reloads take turns (pmu), so an
// older read of the database is never published after a newer one.
func (s *State) reloadPrompts(ctx context.Context, id int64) error {
	s.pmu.Lock()
	defer s.pmu.Unlock()
	old := s.prompts.Load()
	if old == nil {
		old = &promptIndex{byName: map[string]*Prompt{}, byID: map[int64]*Prompt{}}
	}
	if id == 0 {
		return s.reloadAllPrompts(ctx, old)
	}
	row, err := s.q.PromptGetByID(ctx, id)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("load prompt %d: %w", id, err)
	}
	next := &promptIndex{byName: make(map[string]*Prompt, len(old.byName)+1), byID: make(map[int64]*Prompt, len(old.byID)+1)}
	for k, v := range old.byID {
		if k != id {
			next.byID[k] = v
			next.byName[v.Name] = v
		}
	}
	if err == nil {
		hashes, err := s.q.PromptVersionHashesForPrompt(ctx, id)
		if err != nil {
			return fmt.Errorf("load prompt %d versions: %w", id, err)
		}
		labels, err := s.q.PromptLabelListForPrompt(ctx, id)
		if err != nil {
			return fmt.Errorf("load prompt %d labels: %w", id, err)
		}
		p := newPrompt(row.ID, row.Name, row.OwnerID, row.LatestVersion)
		for _, l := range labels {
			p.Labels[l.Label] = int(l.Version)
		}
		want := make([]versionKey, 0, len(hashes))
		hashOf := make(map[versionKey]string, len(hashes))
		for _, h := range hashes {
			want = append(want, versionKey{id, h.Version})
			hashOf[versionKey{id, h.Version}] = h.ContentHash
		}
		if err := s.fillVersions(ctx, map[int64]*Prompt{id: p}, old, want, hashOf); err != nil {
			return err
		}
		if prev := next.byName[p.Name]; prev != nil {
			delete(next.byID, prev.ID) // a name freed and taken again before its delete arrived
		}
		next.byID[id], next.byName[p.Name] = p, p
	}
	s.prompts.Store(next)
	return nil
}

func (s *State) reloadAllPrompts(ctx context.Context, old *promptIndex) error {
	rows, err := s.q.PromptListAll(ctx)
	if err != nil {
		return fmt.Errorf("load prompts: %w", err)
	}
	hashes, err := s.q.PromptVersionHashesAll(ctx)
	if err != nil {
		return fmt.Errorf("load prompt versions: %w", err)
	}
	labels, err := s.q.PromptLabelListAll(ctx)
	if err != nil {
		return fmt.Errorf("load prompt labels: %w", err)
	}
	byID := make(map[int64]*Prompt, len(rows))
	for _, r := range rows {
		byID[r.ID] = newPrompt(r.ID, r.Name, r.OwnerID, r.LatestVersion)
	}
	for _, l := range labels {
		if p := byID[l.PromptID]; p != nil {
			p.Labels[l.Label] = int(l.Version)
		}
	}
	want := make([]versionKey, 0, len(hashes))
	hashOf := make(map[versionKey]string, len(hashes))
	for _, h := range hashes {
		if byID[h.PromptID] != nil { // a prompt created after the list was read
			k := versionKey{h.PromptID, h.Version}
			want = append(want, k)
			hashOf[k] = h.ContentHash
		}
	}
	if err := s.fillVersions(ctx, byID, old, want, hashOf); err != nil {
		return err
	}
	next := &promptIndex{byName: make(map[string]*Prompt, len(byID)), byID: byID}
	for _, p := range byID {
		next.byName[p.Name] = p
	}
	s.prompts.Store(next)
	return nil
}

func newPrompt(id int64, name string, owner *int64, latest int32) *Prompt {
	p := &Prompt{ID: id, Name: name, Latest: int(latest), Labels: map[string]int{}, Versions: map[int]*PromptVersion{}}
	if owner != nil {
		p.OwnerID = *owner
	}
	return p
}

// fillVersions puts the wanted versions into their prompts: the compiled
// one old already holds when its hash matches, else fetched and compiled.
func (s *State) fillVersions(ctx context.Context, into map[int64]*Prompt, old *promptIndex, want []versionKey, hashOf map[versionKey]string) error {
	var missing []versionKey
	for _, k := range want {
		if op := old.byID[k.prompt]; op != nil {
			if v := op.Versions[int(k.version)]; v != nil && v.Hash == hashOf[k] {
				into[k.prompt].Versions[int(k.version)] = v
				continue
			}
		}
		missing = append(missing, k)
	}
	for len(missing) > 0 {
		batch := missing[:min(len(missing), promptFetchBatch)]
		missing = missing[len(batch):]
		ids := make([]int64, len(batch))
		versions := make([]int32, len(batch))
		for i, k := range batch {
			ids[i], versions[i] = k.prompt, k.version
		}
		rows, err := s.q.PromptVersionGetMany(ctx, queries.PromptVersionGetManyParams{PromptIds: ids, Versions: versions})
		if err != nil {
			return fmt.Errorf("load prompt versions: %w", err)
		}
		for _, r := range rows {
			v, err := compileVersion(r.Version, r.Content, r.ContentHash)
			if err != nil {
				// Only a hand edit stores a version the API would refuse:
				// that version is not served, the others are.
				s.log.Error("prompt version skipped", "prompt", r.PromptID, "version", r.Version, "err", err)
				continue
			}
			into[r.PromptID].Versions[int(r.Version)] = v
		}
	}
	return nil
}

func compileVersion(version int32, content []byte, hash string) (*PromptVersion, error) {
	c, err := prompt.Decode(content)
	if err != nil {
		return nil, err
	}
	t, err := prompt.Compile(c)
	if err != nil {
		return nil, err
	}
	return &PromptVersion{Version: int(version), Hash: hash, Template: t}, nil
}
