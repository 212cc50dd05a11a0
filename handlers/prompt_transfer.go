package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"oneapi/prompt"
	"oneapi/queries"
)

// Prompts travel as one JSON file (to keep them in git, or to copy them
// from staging to production): every version's content as stored, and the
// labels. Import is idempotent and all or nothing: a version whose content
// a prompt already has is not stored twice (contents are compared by hash),
// new content becomes the prompt's next versions in file order, and each
// label is moved to the version with its file version's content.

// promptFile is the export and import format.
type promptFile struct {
	Prompts []promptFileEntry `json:"prompts"`
}

type promptFileEntry struct {
	Name        string              `json:"name"`
	Description string              `json:"description,omitempty"`
	Shared      bool                `json:"shared"`
	Labels      map[string]int32    `json:"labels,omitempty"`
	Versions    []promptFileVersion `json:"versions"`
}

type promptFileVersion struct {
	Version    int32           `json:"version"`
	Note       string          `json:"note,omitempty"`
	Messages   json.RawMessage `json:"messages"`
	Variables  json.RawMessage `json:"variables"`
	Parameters json.RawMessage `json:"parameters"`
}

// promptExportLimit bounds one export; more prompts than that is a
// database to back up, not a file to keep in git.
const promptExportLimit = 10000

// exportPrompts writes the prompts u may read (only those named, if any).
func (h *Handler) exportPrompts(ctx context.Context, u *queries.User, names []string) (promptFile, error) {
	rows, err := h.q.PromptList(ctx, queries.PromptListParams{SeeAll: isAdmin(u), UserID: u.ID, Lim: promptExportLimit})
	if err != nil {
		return promptFile{}, err
	}
	f := promptFile{Prompts: []promptFileEntry{}}
	found := map[string]bool{}
	for _, r := range rows {
		if len(names) > 0 && !slices.Contains(names, r.Name) {
			continue
		}
		found[r.Name] = true
		e := promptFileEntry{Name: r.Name, Description: r.Description, Shared: r.OwnerID == nil}
		_, labels, err := h.promptLabels(ctx, r.ID)
		if err != nil {
			return f, err
		}
		if len(labels) > 0 {
			e.Labels = map[string]int32{}
			for _, l := range labels {
				e.Labels[l.Label] = l.Version
			}
		}
		versions, err := h.q.PromptVersionList(ctx, r.ID)
		if err != nil {
			return f, err
		}
		for i := len(versions) - 1; i >= 0; i-- { // oldest first
			v := versions[i]
			fv := promptFileVersion{Version: v.Version, Note: v.Note}
			var parts struct {
				Messages   json.RawMessage `json:"messages"`
				Variables  json.RawMessage `json:"variables"`
				Parameters json.RawMessage `json:"parameters"`
			}
			if err := json.Unmarshal(v.Content, &parts); err != nil {
				return f, fmt.Errorf("stored version %d of prompt %s: %w", v.Version, r.Name, err)
			}
			fv.Messages, fv.Variables, fv.Parameters = parts.Messages, parts.Variables, parts.Parameters
			e.Versions = append(e.Versions, fv)
		}
		f.Prompts = append(f.Prompts, e)
	}
	for _, n := range names {
		if !found[n] {
			return f, errPromptNotFound(n)
		}
	}
	return f, nil
}

// promptImportResult says what an import changed, per prompt.
type promptImportResult struct {
	Name          string           `json:"name"`
	Created       bool             `json:"created"`
	VersionsAdded []int32          `json:"versions_added"`
	LabelsMoved   map[string]int32 `json:"labels_moved"`
	id            int64
}

// importPrompts applies a file in one transaction.
func (h *Handler) importPrompts(ctx context.Context, u *queries.User, f promptFile) ([]promptImportResult, error) {
	var out []promptImportResult
	err := queries.InTx(ctx, h.pool, func(q *queries.Queries) error {
		out = out[:0]
		seen := map[string]bool{}
		for i, e := range f.Prompts {
			if seen[e.Name] {
				return apiInvalid("prompts[%d]: %s appears twice in the file", i, e.Name)
			}
			seen[e.Name] = true
			res, err := importPrompt(ctx, q, u, e)
			if err != nil {
				return prefixed(err, fmt.Sprintf("prompts[%d] (%s)", i, e.Name))
			}
			out = append(out, res)
		}
		return nil
	})
	return out, err
}

func importPrompt(ctx context.Context, q *queries.Queries, u *queries.User, e promptFileEntry) (promptImportResult, error) {
	res := promptImportResult{Name: e.Name, VersionsAdded: []int32{}, LabelsMoved: map[string]int32{}}
	if err := prompt.CheckName(e.Name); err != nil {
		return res, invalidField("name", "%v", err)
	}
	if len(e.Versions) == 0 {
		return res, invalidField("versions", "a prompt needs at least one version")
	}
	if err := checkDescription(e.Description); err != nil {
		return res, err
	}
	versions := slices.Clone(e.Versions)
	slices.SortFunc(versions, func(a, b promptFileVersion) int { return int(a.Version - b.Version) })
	encs := make([][]byte, len(versions))
	for i, v := range versions {
		if i > 0 && v.Version == versions[i-1].Version {
			return res, invalidField("versions", "version %d appears twice", v.Version)
		}
		_, enc, err := promptContentInput{Messages: v.Messages, Variables: v.Variables, Parameters: v.Parameters, Note: v.Note}.content()
		if err != nil {
			return res, prefixed(err, fmt.Sprintf("version %d", v.Version))
		}
		encs[i] = enc
	}

	p, err := q.PromptGetByNameForUpdate(ctx, e.Name)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		var owner *int64
		if e.Shared && !isAdmin(u) {
			return res, echo.NewHTTPError(http.StatusForbidden, "only administrators import shared prompts")
		}
		if !e.Shared {
			owner = &u.ID
		}
		if p, err = insertPrompt(ctx, q, u, e.Name, strings.TrimSpace(e.Description), owner); err != nil {
			return res, err
		}
		res.Created = true
	case err != nil:
		return res, err
	default:
		if err := checkPromptAccess(u, promptRow{p.ID, p.Name, p.OwnerID}, true); err != nil {
			return res, err
		}
		if d := strings.TrimSpace(e.Description); d != "" && d != p.Description {
			if p, err = q.PromptUpdate(ctx, queries.PromptUpdateParams{ID: p.ID, Description: d, OwnerID: p.OwnerID}); err != nil {
				return res, err
			}
		}
	}
	res.id = p.ID

	byHash := map[string]int32{}
	if !res.Created {
		hashes, err := q.PromptVersionHashesForPrompt(ctx, p.ID)
		if err != nil {
			return res, err
		}
		for _, hv := range hashes {
			byHash[hv.ContentHash] = hv.Version // the newest with that content
		}
	}
	mapped := map[int32]int32{} // file version -> stored version
	for i, v := range versions {
		hash := prompt.Hash(encs[i])
		if n, ok := byHash[hash]; ok {
			mapped[v.Version] = n
			continue
		}
		sv, err := appendVersion(ctx, q, u, &p, encs[i], v.Note)
		if err != nil {
			return res, err
		}
		byHash[hash], mapped[v.Version] = sv.Version, sv.Version
		res.VersionsAdded = append(res.VersionsAdded, sv.Version)
	}

	current := map[string]int32{}
	labels, err := q.PromptLabelListForPrompt(ctx, p.ID)
	if err != nil {
		return res, err
	}
	for _, l := range labels {
		current[l.Label] = l.Version
	}
	fileLabels := e.Labels
	if res.Created && len(fileLabels) == 0 {
		fileLabels = map[string]int32{prompt.LabelProduction: versions[len(versions)-1].Version}
	}
	names := make([]string, 0, len(fileLabels))
	for l := range fileLabels {
		names = append(names, l)
	}
	slices.Sort(names)
	for _, l := range names {
		if err := prompt.CheckLabel(l); err != nil {
			return res, invalidField("labels", "label %q: %v", l, err)
		}
		to, ok := mapped[fileLabels[l]]
		if !ok {
			return res, invalidField("labels", "label %q points at version %d, which the file does not hold", l, fileLabels[l])
		}
		if cur, ok := current[l]; ok && cur == to {
			continue
		}
		if err := q.PromptLabelSet(ctx, queries.PromptLabelSetParams{PromptID: p.ID, Label: l, Version: to, UpdatedBy: u.ID}); err != nil {
			return res, err
		}
		res.LabelsMoved[l] = to
	}
	return res, nil
}

// prefixed puts where a refusal happened in front of its message.
func prefixed(err error, where string) error {
	var he *echo.HTTPError
	if !errors.As(err, &he) {
		return err
	}
	msg, _ := he.Message.(string)
	return &echo.HTTPError{Code: he.Code, Message: where + ": " + msg, Internal: he.Internal}
}
