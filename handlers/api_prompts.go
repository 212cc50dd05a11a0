package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"oneapi/prompt"
	"oneapi/queries"
	"oneapi/state"
)

// The management API for stored prompts, under /api/prompt/ in One API's
// {"success","message","data"} shape (One API has no prompts; the paths
// follow its style). Permissions are prompt_store.go's.

// apiPrompt is a prompt in the API's JSON.
type apiPrompt struct {
	ID            int64             `json:"id"`
	Name          string            `json:"name"`
	Description   string            `json:"description"`
	OwnerID       int64             `json:"owner_id"` // 0: shared
	Owner         string            `json:"owner"`
	Shared        bool              `json:"shared"`
	LatestVersion int32             `json:"latest_version"`
	Labels        map[string]int32  `json:"labels"`
	CreatedTime   int64             `json:"created_time"`
	UpdatedTime   int64             `json:"updated_time"`
	Latest        *apiPromptVersion `json:"latest,omitempty"`
}

// apiPromptVersion is one version with its content.
type apiPromptVersion struct {
	Version     int32                      `json:"version"`
	ContentHash string                     `json:"content_hash"`
	Note        string                     `json:"note"`
	CreatedBy   string                     `json:"created_by"`
	CreatedTime int64                      `json:"created_time"`
	Labels      []string                   `json:"labels"`
	Messages    []prompt.Message           `json:"messages"`
	Variables   []prompt.Variable          `json:"variables"`
	Parameters  map[string]json.RawMessage `json:"parameters"`
}

func ownerID(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

// parseLabels reads PromptList's "production=2,staging=3".
func parseLabels(s string) map[string]int32 {
	m := map[string]int32{}
	for _, kv := range strings.Split(s, ",") {
		if l, v, ok := strings.Cut(kv, "="); ok {
			n, _ := strconv.Atoi(v)
			m[l] = int32(n)
		}
	}
	return m
}

func toAPIPrompt(r queries.PromptListRow) apiPrompt {
	return apiPrompt{ID: r.ID, Name: r.Name, Description: r.Description, OwnerID: ownerID(r.OwnerID), Owner: r.OwnerName,
		Shared: r.OwnerID == nil, LatestVersion: r.LatestVersion, Labels: parseLabels(r.Labels),
		CreatedTime: r.CreatedAt.Unix(), UpdatedTime: r.UpdatedAt.Unix()}
}

func labelsOf(labels map[string]int, version int32) []string {
	out := []string{}
	for l, v := range labels {
		if int32(v) == version {
			out = append(out, l)
		}
	}
	slices.Sort(out)
	return out
}

func toAPIPromptVersion(v queries.PromptVersion, createdBy string, c prompt.Content, labels map[string]int) *apiPromptVersion {
	return &apiPromptVersion{Version: v.Version, ContentHash: v.ContentHash, Note: v.Note, CreatedBy: createdBy,
		CreatedTime: v.CreatedAt.Unix(), Labels: labelsOf(labels, v.Version),
		Messages: c.Messages, Variables: c.Variables, Parameters: c.Parameters}
}

// promptListFilter reads ?keyword=&owner=&label= (the console's q= too).
func promptListParams(c echo.Context, u *queries.User) queries.PromptListParams {
	kw := strings.TrimSpace(c.QueryParam("keyword"))
	if kw == "" {
		kw = strings.TrimSpace(c.QueryParam("q"))
	}
	return queries.PromptListParams{SeeAll: isAdmin(u), UserID: u.ID, Keyword: kw,
		Owner: strings.TrimSpace(c.QueryParam("owner")), Label: strings.TrimSpace(c.QueryParam("label"))}
}

// apiPromptList is GET /api/prompt/?keyword=&owner=&label=&p=: the prompts
// the caller may see, by name. owner is "shared", "mine" or a username.
func (h *Handler) apiPromptList(c echo.Context) error {
	u := h.currentUser(c)
	p := promptListParams(c, u)
	p.Lim, p.Off = apiPage(c)
	rows, err := h.q.PromptList(c.Request().Context(), p)
	if err != nil {
		return err
	}
	out := make([]apiPrompt, 0, len(rows))
	for _, r := range rows {
		out = append(out, toAPIPrompt(r))
	}
	return apiOK(c, out)
}

// apiPromptCreate is POST /api/prompt/: {"name","description","messages",
// "variables","parameters"} is version 1, labelled production.
func (h *Handler) apiPromptCreate(c echo.Context) error {
	body, err := apiReadBody(c)
	if err != nil {
		return err
	}
	var in promptCreateInput
	if err := apiUnmarshal(body, &in); err != nil {
		return err
	}
	u := h.currentUser(c)
	p, err := h.createPrompt(c.Request().Context(), u, in)
	if err != nil {
		return err
	}
	h.apiReload(c, state.KindPrompts, p.ID)
	return h.apiPromptReply(c, u, p.Name)
}

// apiPromptReply answers with a prompt and its latest version.
func (h *Handler) apiPromptReply(c echo.Context, u *queries.User, name string) error {
	ctx := c.Request().Context()
	row, err := h.readPrompt(ctx, u, name, false)
	if err != nil {
		return err
	}
	labels, _, err := h.promptLabels(ctx, row.ID)
	if err != nil {
		return err
	}
	out := apiPrompt{ID: row.ID, Name: row.Name, Description: row.Description, OwnerID: ownerID(row.OwnerID), Owner: row.OwnerName,
		Shared: row.OwnerID == nil, LatestVersion: row.LatestVersion, Labels: map[string]int32{},
		CreatedTime: row.CreatedAt.Unix(), UpdatedTime: row.UpdatedAt.Unix()}
	for l, v := range labels {
		out.Labels[l] = int32(v)
	}
	if row.LatestVersion > 0 {
		v, content, err := h.loadVersion(ctx, row.ID, row.LatestVersion)
		if err != nil {
			return err
		}
		out.Latest = toAPIPromptVersion(versionOf(v), v.CreatedByName, content, labels)
	}
	return apiOK(c, out)
}

func versionOf(v queries.PromptVersionGetRow) queries.PromptVersion {
	return queries.PromptVersion{PromptID: v.PromptID, Version: v.Version, Content: v.Content, ContentHash: v.ContentHash,
		Note: v.Note, CreatedBy: v.CreatedBy, CreatedAt: v.CreatedAt}
}

// apiPromptGet is GET /api/prompt/:name.
func (h *Handler) apiPromptGet(c echo.Context) error {
	return h.apiPromptReply(c, h.currentUser(c), c.Param("name"))
}

// apiPromptUpdate is PUT /api/prompt/:name with {"description"} and, for
// admins, {"owner_id"} (0: shared). Content is not changed in place: a
// version is immutable.
func (h *Handler) apiPromptUpdate(c echo.Context) error {
	body, err := apiReadBody(c)
	if err != nil {
		return err
	}
	var in struct {
		Name        *string         `json:"name"`
		Description *string         `json:"description"`
		OwnerID     *int64          `json:"owner_id"`
		Messages    json.RawMessage `json:"messages"`
	}
	if err := apiUnmarshal(body, &in); err != nil {
		return err
	}
	name := c.Param("name")
	if in.Messages != nil {
		return apiInvalid("versions are immutable: POST /api/prompt/%s/versions saves a new one", name)
	}
	if in.Name != nil && *in.Name != name {
		return apiInvalid("a prompt's name is its id and does not change: create a new prompt (export and import copy one)")
	}
	u := h.currentUser(c)
	p, err := h.updatePrompt(c.Request().Context(), u, name, in.Description, in.OwnerID)
	if err != nil {
		return err
	}
	h.apiReload(c, state.KindPrompts, p.ID)
	return h.apiPromptReply(c, u, p.Name)
}

// apiPromptDelete is DELETE /api/prompt/:name: the prompt, its versions and
// labels. Requests naming it are refused from then on; log rows keep it.
func (h *Handler) apiPromptDelete(c echo.Context) error {
	id, err := h.deletePrompt(c.Request().Context(), h.currentUser(c), c.Param("name"))
	if err != nil {
		return err
	}
	h.apiReload(c, state.KindPrompts, id)
	return apiOK(c, nil)
}

// apiPromptVersionList is GET /api/prompt/:name/versions, newest first.
func (h *Handler) apiPromptVersionList(c echo.Context) error {
	ctx := c.Request().Context()
	row, err := h.readPrompt(ctx, h.currentUser(c), c.Param("name"), false)
	if err != nil {
		return err
	}
	labels, _, err := h.promptLabels(ctx, row.ID)
	if err != nil {
		return err
	}
	versions, err := h.q.PromptVersionList(ctx, row.ID)
	if err != nil {
		return err
	}
	out := make([]*apiPromptVersion, 0, len(versions))
	for _, v := range versions {
		content, err := prompt.Decode(v.Content)
		if err != nil {
			return err
		}
		out = append(out, toAPIPromptVersion(queries.PromptVersion{PromptID: v.PromptID, Version: v.Version, Content: v.Content,
			ContentHash: v.ContentHash, Note: v.Note, CreatedBy: v.CreatedBy, CreatedAt: v.CreatedAt}, v.CreatedByName, content, labels))
	}
	return apiOK(c, out)
}

// apiPromptVersionGet is GET /api/prompt/:name/versions/:version, where
// version is a number, a label or "latest".
func (h *Handler) apiPromptVersionGet(c echo.Context) error {
	ctx := c.Request().Context()
	row, err := h.readPrompt(ctx, h.currentUser(c), c.Param("name"), false)
	if err != nil {
		return err
	}
	n, err := h.resolvePromptRef(ctx, row, c.Param("version"))
	if err != nil {
		return err
	}
	v, content, err := h.loadVersion(ctx, row.ID, n)
	if err != nil {
		return err
	}
	labels, _, err := h.promptLabels(ctx, row.ID)
	if err != nil {
		return err
	}
	return apiOK(c, toAPIPromptVersion(versionOf(v), v.CreatedByName, content, labels))
}

// apiPromptVersionCreate is POST /api/prompt/:name/versions: the create
// body without name; the new version is the latest (labels stay).
func (h *Handler) apiPromptVersionCreate(c echo.Context) error {
	body, err := apiReadBody(c)
	if err != nil {
		return err
	}
	var in promptCreateInput
	if err := apiUnmarshal(body, &in); err != nil {
		return err
	}
	ctx := c.Request().Context()
	u := h.currentUser(c)
	p, v, err := h.addPromptVersion(ctx, u, c.Param("name"), in.promptContentInput)
	if err != nil {
		return err
	}
	if in.Description != "" {
		d := in.Description
		if p, err = h.updatePrompt(ctx, u, p.Name, &d, nil); err != nil {
			return err
		}
	}
	h.apiReload(c, state.KindPrompts, p.ID)
	content, _ := prompt.Decode(v.Content)
	labels, _, err := h.promptLabels(ctx, p.ID)
	if err != nil {
		return err
	}
	return apiOK(c, toAPIPromptVersion(v, u.Username, content, labels))
}

// flexVersion is a version sent as 3 or "3".
type flexVersion int32

func (f *flexVersion) UnmarshalJSON(b []byte) error {
	b = bytes.Trim(bytes.TrimSpace(b), `"`)
	n, err := strconv.ParseInt(string(b), 10, 32)
	if err != nil {
		return errors.New("version must be a version number")
	}
	*f = flexVersion(n)
	return nil
}

// apiPromptLabelSet is PUT /api/prompt/:name/labels/:label {"version"}:
// the label now points there, on every node at once.
func (h *Handler) apiPromptLabelSet(c echo.Context) error {
	body, err := apiReadBody(c)
	if err != nil {
		return err
	}
	var in struct {
		Version *flexVersion `json:"version"`
	}
	if err := apiUnmarshal(body, &in); err != nil {
		return err
	}
	if in.Version == nil {
		return apiInvalid("version is required")
	}
	u := h.currentUser(c)
	p, err := h.setPromptLabel(c.Request().Context(), u, c.Param("name"), c.Param("label"), int32(*in.Version))
	if err != nil {
		return err
	}
	h.apiReload(c, state.KindPrompts, p.ID)
	return h.apiPromptReply(c, u, p.Name)
}

// apiPromptLabelDelete is DELETE /api/prompt/:name/labels/:label.
func (h *Handler) apiPromptLabelDelete(c echo.Context) error {
	u := h.currentUser(c)
	p, err := h.deletePromptLabel(c.Request().Context(), u, c.Param("name"), c.Param("label"))
	if err != nil {
		return err
	}
	h.apiReload(c, state.KindPrompts, p.ID)
	return h.apiPromptReply(c, u, p.Name)
}

// apiPromptRender is POST /api/prompt/:name/render {"version" or "label",
// "variables"}: the messages as a request would get them, filled. A
// variable that is missing, unknown or of the wrong kind is a 400 naming it,
// as on /v1.
func (h *Handler) apiPromptRender(c echo.Context) error {
	body, err := apiReadBody(c)
	if err != nil {
		return err
	}
	var in struct {
		Version   json.RawMessage            `json:"version"`
		Label     string                     `json:"label"`
		Variables map[string]json.RawMessage `json:"variables"`
	}
	if err := apiUnmarshal(body, &in); err != nil {
		return err
	}
	ref := in.Label
	if len(in.Version) > 0 && string(in.Version) != "null" {
		var s string
		if json.Unmarshal(in.Version, &s) != nil {
			s = string(in.Version) // a number
		}
		ref = s
	}
	ctx := c.Request().Context()
	row, err := h.readPrompt(ctx, h.currentUser(c), c.Param("name"), false)
	if err != nil {
		return err
	}
	n, err := h.resolvePromptRef(ctx, row, ref)
	if err != nil {
		return err
	}
	v, content, err := h.loadVersion(ctx, row.ID, n)
	if err != nil {
		return err
	}
	msgs, err := renderContent(content, in.Variables)
	if err != nil {
		return err
	}
	return apiOK(c, map[string]any{"name": row.Name, "version": v.Version, "content_hash": v.ContentHash,
		"messages": msgs, "parameters": content.Parameters})
}

// renderContent fills a version in; variable failures are 400s.
func renderContent(c prompt.Content, vars map[string]json.RawMessage) ([]prompt.Message, error) {
	t, err := prompt.Compile(c)
	if err != nil {
		return nil, err
	}
	msgs, err := t.Render(vars)
	var ve *prompt.VariableError
	if errors.As(err, &ve) {
		return nil, echo.NewHTTPError(http.StatusBadRequest, ve.Msg)
	}
	return msgs, err
}

// apiPromptExport is GET /api/prompt/export?name=a,b: the prompts the
// caller may read (or those named) with every version and label, as a JSON
// file for git or for another gateway's import.
func (h *Handler) apiPromptExport(c echo.Context) error {
	var names []string
	if s := strings.TrimSpace(c.QueryParam("name")); s != "" {
		names = splitCommaList(s)
	}
	f, err := h.exportPrompts(c.Request().Context(), h.currentUser(c), names)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // a prompt about <tags> reads as written, in git too
	enc.SetIndent("", "  ")
	if err := enc.Encode(f); err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderContentDisposition, `attachment; filename="prompts-`+time.Now().UTC().Format("20060102-150405")+`.json"`)
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSONCharsetUTF8, b.Bytes())
}

// apiPromptImport is POST /api/prompt/import with an export's JSON: all or
// nothing, idempotent (see prompt_transfer.go). data lists what changed.
func (h *Handler) apiPromptImport(c echo.Context) error {
	body, err := apiReadBody(c)
	if err != nil {
		return err
	}
	var f promptFile
	if err := apiUnmarshal(body, &f); err != nil {
		return err
	}
	res, err := h.importPrompts(c.Request().Context(), h.currentUser(c), f)
	if err != nil {
		return err
	}
	for _, r := range res {
		h.apiReload(c, state.KindPrompts, r.id)
	}
	return apiOK(c, res)
}
