package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"oneapi/prompt"
	"oneapi/queries"
)

// Stored prompts: who may do what, and the writes the JSON API, the console
// and the import share. Every write is one transaction that locks the prompt
// row first, so version numbers are taken one at a time; the table triggers
// tell every node (state reloads the prompt from its NOTIFY).
//
// A shared prompt (no owner) is read and used by everyone and changed by
// admins; a private one is its owner's alone, though admins may manage it.
// A prompt the caller may not read is "not found", never "forbidden".

const promptMaxDescription = 1000

// promptRow is what the permission checks need of a prompt.
type promptRow struct {
	ID      int64
	Name    string
	OwnerID *int64
}

func isAdmin(u *queries.User) bool { return u.Role >= roleAdmin }

func promptReadable(u *queries.User, p promptRow) bool {
	return isAdmin(u) || p.OwnerID == nil || *p.OwnerID == u.ID
}

func promptWritable(u *queries.User, p promptRow) bool {
	return isAdmin(u) || (p.OwnerID != nil && *p.OwnerID == u.ID)
}

func errPromptNotFound(name string) error {
	return echo.NewHTTPError(http.StatusNotFound, fmt.Sprintf("prompt %q not found", name))
}

// checkPromptAccess applies the rules above to a loaded prompt.
func checkPromptAccess(u *queries.User, p promptRow, write bool) error {
	if !promptReadable(u, p) {
		return errPromptNotFound(p.Name)
	}
	if write && !promptWritable(u, p) {
		return echo.NewHTTPError(http.StatusForbidden, "only administrators change shared prompts")
	}
	return nil
}

// readPrompt loads a prompt the caller may read (write: also change).
func (h *Handler) readPrompt(ctx context.Context, u *queries.User, name string, write bool) (queries.PromptGetByNameRow, error) {
	row, err := h.q.PromptGetByName(ctx, name)
	if errors.Is(err, pgx.ErrNoRows) {
		return row, errPromptNotFound(name)
	}
	if err != nil {
		return row, err
	}
	return row, checkPromptAccess(u, promptRow{row.ID, row.Name, row.OwnerID}, write)
}

// lockPrompt loads and locks a prompt the caller may change, inside a write.
func lockPrompt(ctx context.Context, q *queries.Queries, u *queries.User, name string) (queries.Prompt, error) {
	row, err := q.PromptGetByNameForUpdate(ctx, name)
	if errors.Is(err, pgx.ErrNoRows) {
		return row, errPromptNotFound(name)
	}
	if err != nil {
		return row, err
	}
	return row, checkPromptAccess(u, promptRow{row.ID, row.Name, row.OwnerID}, true)
}

// promptContentInput is a version as a request body carries it.
type promptContentInput struct {
	Messages   json.RawMessage `json:"messages"`
	Variables  json.RawMessage `json:"variables"`
	Parameters json.RawMessage `json:"parameters"`
	Note       string          `json:"note"`
}

// content checks the version and returns its canonical encoding; a
// failure is invalidField's, naming the part ("messages[1].content").
func (in promptContentInput) content() (prompt.Content, []byte, error) {
	c, err := prompt.FromJSON(in.Messages, in.Variables, in.Parameters)
	if err != nil {
		var ce *prompt.ContentError
		if errors.As(err, &ce) {
			return c, nil, invalidField(ce.Field, "%s", ce.Error())
		}
		return c, nil, err
	}
	if utf8.RuneCountInString(in.Note) > promptMaxDescription {
		return c, nil, invalidField("note", "note must be at most %d characters", promptMaxDescription)
	}
	return c, c.Encode(), nil
}

// promptCreateInput is a new prompt: its first version, and who owns it.
type promptCreateInput struct {
	promptContentInput
	Name        string `json:"name"`
	Description string `json:"description"`
	// OwnerID (admins only): 0 shared, else that user's. Absent: shared
	// when an admin creates it, the creator's own otherwise.
	OwnerID *int64 `json:"owner_id"`
}

// resolveOwner applies the ownership rules to a requested owner.
func resolveOwner(ctx context.Context, q *queries.Queries, u *queries.User, requested *int64) (*int64, error) {
	if !isAdmin(u) {
		if requested != nil && *requested != u.ID {
			return nil, invalidField("owner_id", "only administrators create shared prompts or prompts for others")
		}
		return &u.ID, nil
	}
	if requested == nil || *requested == 0 {
		return nil, nil
	}
	if _, err := q.UserGetByID(ctx, *requested); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, invalidField("owner_id", "user %d does not exist", *requested)
		}
		return nil, err
	}
	return requested, nil
}

func checkDescription(s string) error {
	if utf8.RuneCountInString(s) > promptMaxDescription {
		return invalidField("description", "description must be at most %d characters", promptMaxDescription)
	}
	return nil
}

// createPrompt stores a prompt and its version 1, which gets the production
// label.
func (h *Handler) createPrompt(ctx context.Context, u *queries.User, in promptCreateInput) (queries.Prompt, error) {
	in.Name = strings.TrimSpace(in.Name)
	if err := prompt.CheckName(in.Name); err != nil {
		return queries.Prompt{}, invalidField("name", "%v", err)
	}
	in.Description = strings.TrimSpace(in.Description)
	if err := checkDescription(in.Description); err != nil {
		return queries.Prompt{}, err
	}
	_, enc, err := in.content()
	if err != nil {
		return queries.Prompt{}, err
	}
	var p queries.Prompt
	err = queries.InTx(ctx, h.pool, func(q *queries.Queries) error {
		owner, err := resolveOwner(ctx, q, u, in.OwnerID)
		if err != nil {
			return err
		}
		p, err = insertPrompt(ctx, q, u, in.Name, in.Description, owner)
		if err != nil {
			return err
		}
		if _, err := appendVersion(ctx, q, u, &p, enc, in.Note); err != nil {
			return err
		}
		return q.PromptLabelSet(ctx, queries.PromptLabelSetParams{PromptID: p.ID, Label: prompt.LabelProduction, Version: 1, UpdatedBy: u.ID})
	})
	return p, err
}

func insertPrompt(ctx context.Context, q *queries.Queries, u *queries.User, name, description string, owner *int64) (queries.Prompt, error) {
	p, err := q.PromptCreate(ctx, queries.PromptCreateParams{Name: name, OwnerID: owner, Description: description})
	if queries.IsUniqueViolation(err) {
		return p, &echo.HTTPError{Code: http.StatusConflict, Message: fmt.Sprintf("a prompt named %q already exists", name), Internal: fieldRef("name")}
	}
	return p, err
}

// appendVersion stores the next version of a locked prompt.
func appendVersion(ctx context.Context, q *queries.Queries, u *queries.User, p *queries.Prompt, enc []byte, note string) (queries.PromptVersion, error) {
	v, err := q.PromptVersionCreate(ctx, queries.PromptVersionCreateParams{
		PromptID: p.ID, Version: p.LatestVersion + 1, Content: enc, ContentHash: prompt.Hash(enc),
		Note: strings.TrimSpace(note), CreatedBy: u.ID,
	})
	if err != nil {
		return v, err
	}
	p.LatestVersion = v.Version
	return v, q.PromptSetLatest(ctx, queries.PromptSetLatestParams{ID: p.ID, LatestVersion: v.Version})
}

// addPromptVersion saves a new version of name.
func (h *Handler) addPromptVersion(ctx context.Context, u *queries.User, name string, in promptContentInput) (queries.Prompt, queries.PromptVersion, error) {
	_, enc, err := in.content()
	if err != nil {
		return queries.Prompt{}, queries.PromptVersion{}, err
	}
	var p queries.Prompt
	var v queries.PromptVersion
	err = queries.InTx(ctx, h.pool, func(q *queries.Queries) error {
		if p, err = lockPrompt(ctx, q, u, name); err != nil {
			return err
		}
		v, err = appendVersion(ctx, q, u, &p, enc, in.Note)
		return err
	})
	return p, v, err
}

// setPromptLabel points label at version (it is created if new).
func (h *Handler) setPromptLabel(ctx context.Context, u *queries.User, name, label string, version int32) (queries.Prompt, error) {
	if err := prompt.CheckLabel(label); err != nil {
		return queries.Prompt{}, invalidField("label", "%v", err)
	}
	var p queries.Prompt
	err := queries.InTx(ctx, h.pool, func(q *queries.Queries) error {
		var err error
		if p, err = lockPrompt(ctx, q, u, name); err != nil {
			return err
		}
		if version < 1 || version > p.LatestVersion {
			return invalidField("version", "prompt %q has versions 1 to %d", name, p.LatestVersion)
		}
		if err := q.PromptLabelSet(ctx, queries.PromptLabelSetParams{PromptID: p.ID, Label: label, Version: version, UpdatedBy: u.ID}); err != nil {
			return err
		}
		return q.PromptTouch(ctx, p.ID)
	})
	return p, err
}

// deletePromptLabel removes a label; without production, requests get the
// latest version.
func (h *Handler) deletePromptLabel(ctx context.Context, u *queries.User, name, label string) (queries.Prompt, error) {
	var p queries.Prompt
	err := queries.InTx(ctx, h.pool, func(q *queries.Queries) error {
		var err error
		if p, err = lockPrompt(ctx, q, u, name); err != nil {
			return err
		}
		n, err := q.PromptLabelDelete(ctx, queries.PromptLabelDeleteParams{PromptID: p.ID, Label: label})
		if err == nil && n == 0 {
			err = echo.NewHTTPError(http.StatusNotFound, fmt.Sprintf("prompt %q has no label %q", name, label))
		}
		return err
	})
	return p, err
}

// updatePrompt changes the description and (admins) the owner; nil keeps
// a field.
func (h *Handler) updatePrompt(ctx context.Context, u *queries.User, name string, description *string, owner *int64) (queries.Prompt, error) {
	var p queries.Prompt
	err := queries.InTx(ctx, h.pool, func(q *queries.Queries) error {
		var err error
		if p, err = lockPrompt(ctx, q, u, name); err != nil {
			return err
		}
		params := queries.PromptUpdateParams{ID: p.ID, Description: p.Description, OwnerID: p.OwnerID}
		if description != nil {
			params.Description = strings.TrimSpace(*description)
			if err := checkDescription(params.Description); err != nil {
				return err
			}
		}
		if owner != nil {
			if !isAdmin(u) {
				return invalidField("owner_id", "only administrators change who owns a prompt")
			}
			if params.OwnerID, err = resolveOwner(ctx, q, u, owner); err != nil {
				return err
			}
		}
		p, err = q.PromptUpdate(ctx, params)
		return err
	})
	return p, err
}

// deletePrompt removes a prompt with its versions and labels. Log rows keep
// its name, version and hash.
func (h *Handler) deletePrompt(ctx context.Context, u *queries.User, name string) (int64, error) {
	var id int64
	err := queries.InTx(ctx, h.pool, func(q *queries.Queries) error {
		p, err := lockPrompt(ctx, q, u, name)
		if err != nil {
			return err
		}
		id = p.ID
		_, err = q.PromptDelete(ctx, p.ID)
		return err
	})
	return id, err
}

// loadVersion reads one stored version and decodes it.
func (h *Handler) loadVersion(ctx context.Context, promptID int64, version int32) (queries.PromptVersionGetRow, prompt.Content, error) {
	v, err := h.q.PromptVersionGet(ctx, queries.PromptVersionGetParams{PromptID: promptID, Version: version})
	if err != nil {
		return v, prompt.Content{}, err
	}
	c, err := prompt.Decode(v.Content)
	if err != nil {
		return v, c, fmt.Errorf("stored version %d of prompt %d: %w", version, promptID, err)
	}
	return v, c, nil
}

// promptLabels reads a prompt's labels as label → version.
func (h *Handler) promptLabels(ctx context.Context, promptID int64) (map[string]int, []queries.PromptLabelListForPromptRow, error) {
	rows, err := h.q.PromptLabelListForPrompt(ctx, promptID)
	if err != nil {
		return nil, nil, err
	}
	m := make(map[string]int, len(rows))
	for _, r := range rows {
		m[r.Label] = int(r.Version)
	}
	return m, rows, nil
}

// resolvePromptRef picks the version ref names, as the relay does.
func (h *Handler) resolvePromptRef(ctx context.Context, p queries.PromptGetByNameRow, ref string) (int32, error) {
	labels, _, err := h.promptLabels(ctx, p.ID)
	if err != nil {
		return 0, err
	}
	n, err := prompt.Resolve(p.Name, strings.TrimSpace(ref), int(p.LatestVersion), labels)
	if err != nil {
		return 0, echo.NewHTTPError(http.StatusNotFound, err.Error())
	}
	return int32(n), nil
}
