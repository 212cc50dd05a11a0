package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"oneapi/prompt"
	"oneapi/queries"
	"oneapi/relay/oai"
	"oneapi/relay/tokenizer"
	"oneapi/state"
	"oneapi/views"
)

// The console's prompt pages: list, editor with a live preview, a prompt's
// labels, history, content and usage, a diff of two versions, import. The
// writes are prompt_store.go's, shared with the JSON API.

const promptsPageSize = 20

var promptRoles = []string{"system", "developer", "user", "assistant"}

func (h *Handler) promptList(c echo.Context) error {
	ctx := c.Request().Context()
	me := h.currentUser(c)
	p := promptListParams(c, me)
	v := views.PromptsView{Layout: h.layout(c, "Prompts"), IsAdmin: isAdmin(me), Query: p.Keyword, Owner: p.Owner, Label: p.Label,
		Page: pageParam(c), PageSize: promptsPageSize}
	var err error
	if v.Total, err = h.q.PromptCount(ctx, queries.PromptCountParams{SeeAll: p.SeeAll, UserID: p.UserID, Keyword: p.Keyword, Owner: p.Owner, Label: p.Label}); err != nil {
		return err
	}
	p.Lim, p.Off = promptsPageSize, int32((v.Page-1)*promptsPageSize)
	rows, err := h.q.PromptList(ctx, p)
	if err != nil {
		return err
	}
	for _, r := range rows {
		item := views.PromptItemView{Name: r.Name, Description: r.Description, Owner: r.OwnerName, Shared: r.OwnerID == nil,
			Latest: r.LatestVersion, UpdatedAt: r.UpdatedAt}
		for l, n := range parseLabels(r.Labels) {
			item.Labels = append(item.Labels, views.LabelView{Label: l, Version: n})
		}
		sortLabels(item.Labels)
		v.Prompts = append(v.Prompts, item)
	}
	if wantsPartial(c, "prompt-table") {
		return render(c, http.StatusOK, views.PromptTable(v))
	}
	return render(c, http.StatusOK, views.PromptsPage(v))
}

// sortLabels puts production first, the rest by name.
func sortLabels(ls []views.LabelView) {
	rank := func(l views.LabelView) string {
		if l.Label == prompt.LabelProduction {
			return ""
		}
		return l.Label
	}
	for i := 1; i < len(ls); i++ {
		for j := i; j > 0 && rank(ls[j]) < rank(ls[j-1]); j-- {
			ls[j], ls[j-1] = ls[j-1], ls[j]
		}
	}
}

// --- editor ---------------------------------------------------------------

func (h *Handler) editorLayout(c echo.Context, v *views.PromptEditorView) {
	title := "New prompt"
	if !v.IsNew {
		title = "New version of " + v.Name
	}
	v.Layout = h.layout(c, title)
	v.Roles = promptRoles
}

func (h *Handler) promptNew(c echo.Context) error {
	me := h.currentUser(c)
	v := views.PromptEditorView{IsNew: true, ShowShared: isAdmin(me), Shared: isAdmin(me),
		Messages: []views.MessageRowView{{Role: "system"}, {Role: "user"}}}
	return h.renderEditor(c, v, http.StatusOK)
}

func (h *Handler) renderEditor(c echo.Context, v views.PromptEditorView, status int) error {
	h.editorLayout(c, &v)
	if v.Preview.Error == "" && v.Preview.Messages == nil {
		v.Preview = previewOf(v)
	}
	return render(c, status, views.PromptEditorPage(v))
}

// editorFromContent fills the editor with a stored version.
func editorFromContent(v *views.PromptEditorView, pc prompt.Content) {
	v.Messages = nil
	for _, m := range pc.Messages {
		row := views.MessageRowView{Role: m.Role, Text: m.Text}
		if m.Parts != nil {
			var texts, images []string
			for _, p := range m.Parts {
				if p.ImageURL != nil {
					line := p.ImageURL.URL
					if p.ImageURL.Detail != "" {
						line += " detail=" + p.ImageURL.Detail
					}
					images = append(images, line)
				} else {
					texts = append(texts, p.Text)
				}
			}
			row.Text, row.Images = strings.Join(texts, "\n"), strings.Join(images, "\n")
		}
		v.Messages = append(v.Messages, row)
	}
	v.Variables = nil
	for _, vr := range pc.Variables {
		row := views.VariableRowView{Name: vr.Name, Type: vr.Type, Required: vr.Required}
		if vr.Default != nil {
			row.Default = *vr.Default
		}
		v.Variables = append(v.Variables, row)
	}
	v.Model, v.Temperature, v.MaxTokens, v.Format, v.Tools, v.Other = "", "", "", "", "", ""
	other := map[string]json.RawMessage{}
	for k, raw := range pc.Parameters {
		switch k {
		case "model":
			_ = json.Unmarshal(raw, &v.Model)
		case "temperature":
			v.Temperature = string(raw)
		case "max_tokens":
			v.MaxTokens = string(raw)
		case "response_format":
			v.Format = indentJSON(raw)
		case "tools":
			v.Tools = indentJSON(raw)
		default:
			other[k] = raw
		}
	}
	if len(other) > 0 {
		b, _ := json.Marshal(other)
		v.Other = indentJSON(b)
	}
}

func indentJSON(raw []byte) string {
	var b bytes.Buffer
	if json.Indent(&b, raw, "", "  ") != nil {
		return string(raw)
	}
	return b.String()
}

// readEditor reads the editor form back into its view.
func readEditor(c echo.Context, me *queries.User) views.PromptEditorView {
	form, _ := c.FormParams()
	v := views.PromptEditorView{
		IsNew: form.Get("is_new") == "true", Name: strings.TrimSpace(form.Get("name")), Description: form.Get("description"),
		Note: form.Get("note"), Shared: form.Get("shared") != "",
		Model: strings.TrimSpace(form.Get("p_model")), Temperature: strings.TrimSpace(form.Get("p_temperature")),
		MaxTokens: strings.TrimSpace(form.Get("p_max_tokens")), Format: form.Get("p_response_format"),
		Tools: form.Get("p_tools"), Other: form.Get("p_other"),
	}
	v.ShowShared = v.IsNew && isAdmin(me)
	from, _ := strconv.Atoi(form.Get("from"))
	v.From = int32(from)
	roles, texts, images := form["m_role"], form["m_text"], form["m_images"]
	for i := range roles {
		v.Messages = append(v.Messages, views.MessageRowView{Role: roles[i], Text: at(texts, i), Images: at(images, i)})
	}
	names, types, req, defs, samples := form["v_name"], form["v_type"], form["v_required"], form["v_default"], form["v_sample"]
	for i := range names {
		v.Variables = append(v.Variables, views.VariableRowView{Name: strings.TrimSpace(names[i]), Type: at(types, i),
			Required: at(req, i) != "optional", Default: at(defs, i), Sample: at(samples, i)})
	}
	return v
}

func at(s []string, i int) string {
	if i < len(s) {
		return s[i]
	}
	return ""
}

// editorInput turns the form into a version as the API takes it. errs are
// the fields that are not even JSON.
func editorInput(v views.PromptEditorView) (promptContentInput, []string) {
	var errs []string
	type part struct {
		Type     string           `json:"type"`
		Text     string           `json:"text,omitempty"`
		ImageURL *prompt.ImageURL `json:"image_url,omitempty"`
	}
	var msgs []map[string]any
	for _, m := range v.Messages {
		var imgs []part
		for _, line := range strings.Split(m.Images, "\n") {
			f := strings.Fields(line)
			if len(f) == 0 {
				continue
			}
			img := &prompt.ImageURL{URL: f[0]}
			if len(f) > 1 {
				img.Detail = strings.TrimPrefix(f[1], "detail=")
			}
			imgs = append(imgs, part{Type: "image_url", ImageURL: img})
		}
		text := strings.ReplaceAll(m.Text, "\r\n", "\n")
		if strings.TrimSpace(text) == "" && len(imgs) == 0 {
			continue // a blank row
		}
		if len(imgs) == 0 {
			msgs = append(msgs, map[string]any{"role": m.Role, "content": text})
			continue
		}
		var parts []part
		if strings.TrimSpace(text) != "" {
			parts = append(parts, part{Type: "text", Text: text})
		}
		msgs = append(msgs, map[string]any{"role": m.Role, "content": append(parts, imgs...)})
	}
	var vars []map[string]any
	for _, vr := range v.Variables {
		if vr.Name == "" {
			continue
		}
		m := map[string]any{"name": vr.Name, "type": vr.Type, "required": vr.Required}
		if vr.Default != "" {
			m["default"] = vr.Default
		}
		vars = append(vars, m)
	}
	params := map[string]json.RawMessage{}
	if v.Model != "" {
		params["model"], _ = json.Marshal(v.Model)
	}
	for name, s := range map[string]string{"temperature": v.Temperature, "max_tokens": v.MaxTokens} {
		if s == "" {
			continue
		}
		if _, err := strconv.ParseFloat(s, 64); err != nil {
			errs = append(errs, fmt.Sprintf("Parameter %s: enter a number.", name))
			continue
		}
		params[name] = json.RawMessage(s)
	}
	for name, s := range map[string]string{"response_format": v.Format, "tools": v.Tools} {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if !json.Valid([]byte(s)) {
			errs = append(errs, fmt.Sprintf("Parameter %s: not valid JSON.", name))
			continue
		}
		params[name] = json.RawMessage(s)
	}
	if s := strings.TrimSpace(v.Other); s != "" {
		var other map[string]json.RawMessage
		if json.Unmarshal([]byte(s), &other) != nil {
			errs = append(errs, "Other parameters: enter a JSON object.")
		}
		for k, raw := range other {
			params[k] = raw
		}
	}
	mb, _ := json.Marshal(msgs)
	vb, _ := json.Marshal(vars)
	pb, _ := json.Marshal(params)
	if msgs == nil {
		mb = []byte("[]")
	}
	return promptContentInput{Messages: mb, Variables: vb, Parameters: pb, Note: v.Note}, errs
}

var fieldPathRe = regexp.MustCompile(`^(messages|variables)\[(\d+)\]`)

// friendlyError names a ContentError's field as the form shows it
// ("Message 2" for messages[1]).
func friendlyError(msg string) string {
	if m := fieldPathRe.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[2])
		noun := "Message"
		if m[1] == "variables" {
			noun = "Variable"
		}
		return noun + " " + strconv.Itoa(n+1) + strings.TrimPrefix(msg, m[0])
	}
	if rest, ok := strings.CutPrefix(msg, "parameters."); ok {
		return "Parameter " + rest
	}
	return msg
}

// previewOf renders the editor's messages with the sample values.
func previewOf(v views.PromptEditorView) views.PromptPreviewView {
	in, errs := editorInput(v)
	if len(errs) > 0 {
		return views.PromptPreviewView{Error: errs[0]}
	}
	c, err := prompt.FromJSON(in.Messages, in.Variables, in.Parameters)
	if err != nil {
		return views.PromptPreviewView{Error: friendlyError(err.Error())}
	}
	t, err := prompt.Compile(c)
	if err != nil {
		return views.PromptPreviewView{Error: friendlyError(err.Error())}
	}
	samples := map[string]string{}
	for _, vr := range v.Variables {
		if vr.Sample != "" {
			samples[vr.Name] = vr.Sample
		}
	}
	msgs := t.Preview(samples)
	p := views.PromptPreviewView{Messages: previewMessages(msgs), Model: v.Model}
	p.Tokens = countPrompt(v.Model, msgs)
	return p
}

func previewMessages(msgs []prompt.Message) []views.PreviewMessageView {
	out := make([]views.PreviewMessageView, 0, len(msgs))
	for _, m := range msgs {
		pm := views.PreviewMessageView{Role: m.Role}
		if m.Parts == nil {
			pm.Parts = []views.PreviewPartView{{Text: m.Text}}
		}
		for _, p := range m.Parts {
			if p.ImageURL != nil {
				pm.Parts = append(pm.Parts, views.PreviewPartView{Image: p.ImageURL.URL})
			} else {
				pm.Parts = append(pm.Parts, views.PreviewPartView{Text: p.Text})
			}
		}
		out = append(out, pm)
	}
	return out
}

// countPrompt estimates the tokens a version's messages add, as the relay
// counts them.
func countPrompt(model string, msgs []prompt.Message) int {
	b, _ := json.Marshal(msgs)
	var om []oai.Message
	if json.Unmarshal(b, &om) != nil {
		return 0
	}
	if model == "" {
		model = "gpt-4o-mini"
	}
	n, _ := tokenizer.CountChat(context.Background(), model, om)
	return n
}

// promptPreview is the htmx live preview of the editor form.
func (h *Handler) promptPreview(c echo.Context) error {
	return render(c, http.StatusOK, views.PromptPreview(previewOf(readEditor(c, h.currentUser(c)))))
}

// promptEditorRefresh re-renders the editor after a row was added or
// removed or the placeholders were declared: no JavaScript needed.
func (h *Handler) promptEditorRefresh(c echo.Context) error {
	v := readEditor(c, h.currentUser(c))
	switch op := c.FormValue("op"); {
	case op == "add-message":
		v.Messages = append(v.Messages, views.MessageRowView{Role: "user"})
	case op == "add-variable":
		v.Variables = append(v.Variables, views.VariableRowView{Type: prompt.TypeText, Required: true})
	case strings.HasPrefix(op, "remove-message:"):
		if i, err := strconv.Atoi(strings.TrimPrefix(op, "remove-message:")); err == nil && i >= 0 && i < len(v.Messages) {
			v.Messages = append(v.Messages[:i], v.Messages[i+1:]...)
		}
	case op == "detect":
		in, errs := editorInput(v)
		if len(errs) > 0 {
			v.Errors = errs
			break
		}
		pc, err := prompt.FromJSON(in.Messages, in.Variables, in.Parameters)
		if err != nil {
			v.Errors = []string{friendlyError(err.Error())}
			break
		}
		samples := map[string]string{}
		for _, vr := range v.Variables {
			samples[vr.Name] = vr.Sample
		}
		editorFromContent(&v, pc) // variables now hold every placeholder
		for i := range v.Variables {
			v.Variables[i].Sample = samples[v.Variables[i].Name]
		}
		in2 := readEditor(c, h.currentUser(c)) // keep the messages and parameters as typed
		v.Messages, v.Model, v.Temperature, v.MaxTokens, v.Format, v.Tools, v.Other =
			in2.Messages, in2.Model, in2.Temperature, in2.MaxTokens, in2.Format, in2.Tools, in2.Other
	}
	return h.renderEditor(c, v, http.StatusOK)
}

// editorFailed re-renders the editor with what is wrong, or returns err
// when it is not the form's fault.
func (h *Handler) editorFailed(c echo.Context, v views.PromptEditorView, err error) error {
	var he *echo.HTTPError
	if errors.As(err, &he) && (he.Code == http.StatusUnprocessableEntity || he.Code == http.StatusConflict) {
		msg, _ := he.Message.(string)
		v.Errors = []string{friendlyError(msg)}
		return h.renderEditor(c, v, http.StatusUnprocessableEntity)
	}
	return err
}

func (h *Handler) promptCreate(c echo.Context) error {
	me := h.currentUser(c)
	v := readEditor(c, me)
	v.IsNew, v.ShowShared = true, isAdmin(me)
	in, errs := editorInput(v)
	if len(errs) > 0 {
		v.Errors = errs
		return h.renderEditor(c, v, http.StatusUnprocessableEntity)
	}
	ci := promptCreateInput{promptContentInput: in, Name: v.Name, Description: v.Description}
	if isAdmin(me) {
		owner := int64(0)
		if !v.Shared {
			owner = me.ID
		}
		ci.OwnerID = &owner
	}
	p, err := h.createPrompt(c.Request().Context(), me, ci)
	if err != nil {
		return h.editorFailed(c, v, err)
	}
	h.apiReload(c, state.KindPrompts, p.ID)
	h.setFlash(c, fmt.Sprintf("Prompt %s created: version 1 is production.", p.Name))
	return redirect(c, string(promptPath(p.Name)))
}

func promptPath(name string, rest ...string) string {
	return "/prompts/" + url.PathEscape(name) + strings.Join(rest, "")
}

// promptEdit opens the editor for a new version, filled with ?from= (the
// latest by default).
func (h *Handler) promptEdit(c echo.Context) error {
	ctx := c.Request().Context()
	me := h.currentUser(c)
	row, err := h.readPrompt(ctx, me, c.Param("name"), true)
	if err != nil {
		return err
	}
	from := row.LatestVersion
	if s := c.QueryParam("from"); s != "" {
		if from, err = h.resolvePromptRef(ctx, row, s); err != nil {
			return err
		}
	}
	_, pc, err := h.loadVersion(ctx, row.ID, from)
	if err != nil {
		return err
	}
	v := views.PromptEditorView{Name: row.Name, Description: row.Description, From: from}
	editorFromContent(&v, pc)
	return h.renderEditor(c, v, http.StatusOK)
}

func (h *Handler) promptVersionCreate(c echo.Context) error {
	ctx := c.Request().Context()
	me := h.currentUser(c)
	v := readEditor(c, me)
	v.IsNew, v.Name = false, c.Param("name")
	in, errs := editorInput(v)
	if len(errs) > 0 {
		v.Errors = errs
		return h.renderEditor(c, v, http.StatusUnprocessableEntity)
	}
	p, pv, err := h.addPromptVersion(ctx, me, v.Name, in)
	if err != nil {
		return h.editorFailed(c, v, err)
	}
	if d := strings.TrimSpace(v.Description); d != p.Description {
		if _, err := h.updatePrompt(ctx, me, p.Name, &d, nil); err != nil {
			return h.editorFailed(c, v, err)
		}
	}
	h.apiReload(c, state.KindPrompts, p.ID)
	labels, _, err := h.promptLabels(ctx, p.ID)
	if err != nil {
		return err
	}
	msg := fmt.Sprintf("Saved version %d.", pv.Version)
	if prod, ok := labels[prompt.LabelProduction]; ok && int32(prod) != pv.Version {
		msg += fmt.Sprintf(" production still serves version %d: move it below when ready.", prod)
	}
	h.setFlash(c, msg)
	return redirect(c, promptPath(p.Name, "?version="+strconv.Itoa(int(pv.Version))))
}

// --- a prompt's page --------------------------------------------------------

// promptPageView builds a prompt's page showing version ref ("" latest).
func (h *Handler) promptPageView(c echo.Context, name, ref string) (views.PromptView, error) {
	ctx := c.Request().Context()
	me := h.currentUser(c)
	row, err := h.readPrompt(ctx, me, name, false)
	if err != nil {
		return views.PromptView{}, err
	}
	v := views.PromptView{Layout: h.layout(c, row.Name), Name: row.Name, Description: row.Description, Owner: row.OwnerName,
		Shared: row.OwnerID == nil, CanWrite: promptWritable(me, promptRow{row.ID, row.Name, row.OwnerID}),
		Latest: row.LatestVersion, Money: h.money(), UsageAll: isAdmin(me)}
	labels, labelRows, err := h.promptLabels(ctx, row.ID)
	if err != nil {
		return v, err
	}
	for _, l := range labelRows {
		v.Labels = append(v.Labels, views.LabelView{Label: l.Label, Version: l.Version, UpdatedBy: l.UpdatedByName, UpdatedAt: l.UpdatedAt})
	}
	sortLabels(v.Labels)
	versions, err := h.q.PromptVersionList(ctx, row.ID)
	if err != nil {
		return v, err
	}
	for _, pv := range versions {
		v.Versions = append(v.Versions, views.PromptVersionView{Version: pv.Version, Hash: pv.ContentHash, Note: pv.Note,
			CreatedBy: pv.CreatedByName, CreatedAt: pv.CreatedAt, Labels: labelsOf(labels, pv.Version)})
	}
	shown := row.LatestVersion
	if ref = strings.TrimSpace(ref); ref != "" {
		if shown, err = h.resolvePromptRef(ctx, row, ref); err != nil {
			return v, err
		}
	}
	for _, pv := range v.Versions {
		if pv.Version == shown {
			v.Shown = pv
		}
	}
	if _, pc, err := h.loadVersion(ctx, row.ID, shown); err != nil {
		return v, err
	} else {
		v.ShownLines = prompt.Lines(pc)
	}
	var viewer int64
	if !isAdmin(me) {
		viewer = me.ID
	}
	usage, err := h.q.LogUsageForPromptSince(ctx, queries.LogUsageForPromptSinceParams{PromptName: row.Name,
		Since: time.Now().AddDate(0, 0, -dashboardDays), UserID: viewer})
	if err != nil {
		return v, err
	}
	for _, u := range usage {
		v.Usage = append(v.Usage, views.PromptUsageRow{Prompt: row.Name, Version: u.PromptVersion, Requests: u.Requests,
			PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens, Quota: u.Quota})
	}
	return v, nil
}

func (h *Handler) promptShow(c echo.Context) error {
	v, err := h.promptPageView(c, c.Param("name"), c.QueryParam("version"))
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.PromptPage(v))
}

// promptLabelMove points a label at a version. Moving production asks
// first (the form comes back with a confirmation); the others move at once.
func (h *Handler) promptLabelMove(c echo.Context) error {
	ctx := c.Request().Context()
	name := c.Param("name")
	label := strings.TrimSpace(c.FormValue("label"))
	n, _ := strconv.Atoi(c.FormValue("version"))
	v, err := h.promptPageView(c, name, "")
	if err != nil {
		return err
	}
	if !v.CanWrite {
		return echo.NewHTTPError(http.StatusForbidden, "only administrators change shared prompts")
	}
	v.LabelForm = views.LabelFormView{Label: label, Version: int32(n)}
	for _, l := range v.Labels {
		if l.Label == label {
			v.LabelForm.From = l.Version
		}
	}
	status := http.StatusOK
	switch {
	case label == prompt.LabelProduction && c.FormValue("confirm") != "yes" && v.LabelForm.From != int32(n):
		v.LabelForm.Confirm = true
	default:
		p, err := h.setPromptLabel(ctx, h.currentUser(c), name, label, int32(n))
		if errs, ok := fieldErrorsOf(err); ok {
			v.LabelForm.Error = errs[sortedKeys(errs)[0]]
			status = http.StatusUnprocessableEntity
			break
		}
		if err != nil {
			return err
		}
		h.apiReload(c, state.KindPrompts, p.ID)
		if !isHTMX(c) {
			h.setFlash(c, fmt.Sprintf("%s now points at version %d.", label, n))
			return redirect(c, promptPath(name))
		}
		if v, err = h.promptPageView(c, name, ""); err != nil {
			return err
		}
	}
	if isHTMX(c) {
		return render(c, status, views.PromptLabels(v))
	}
	return render(c, status, views.PromptPage(v))
}

func (h *Handler) promptDelete(c echo.Context) error {
	name := c.Param("name")
	id, err := h.deletePrompt(c.Request().Context(), h.currentUser(c), name)
	if err != nil {
		return err
	}
	h.apiReload(c, state.KindPrompts, id)
	h.setFlash(c, fmt.Sprintf("Prompt %s deleted.", name))
	return redirect(c, "/prompts")
}

// promptDiff compares ?a= and ?b= (numbers or labels).
func (h *Handler) promptDiff(c echo.Context) error {
	ctx := c.Request().Context()
	row, err := h.readPrompt(ctx, h.currentUser(c), c.Param("name"), false)
	if err != nil {
		return err
	}
	v := views.PromptDiffView{Layout: h.layout(c, row.Name+": diff"), Name: row.Name}
	var contents [2]prompt.Content
	for i, ref := range []string{c.QueryParam("a"), c.QueryParam("b")} {
		if ref == "" {
			ref = strconv.Itoa(int(max(row.LatestVersion-1+int32(i), 1)))
		}
		n, err := h.resolvePromptRef(ctx, row, ref)
		if err != nil {
			return err
		}
		if _, contents[i], err = h.loadVersion(ctx, row.ID, n); err != nil {
			return err
		}
		if i == 0 {
			v.A = n
		} else {
			v.B = n
		}
	}
	versions, err := h.q.PromptVersionList(ctx, row.ID)
	if err != nil {
		return err
	}
	for _, pv := range versions {
		v.Versions = append(v.Versions, views.PromptVersionView{Version: pv.Version})
	}
	for _, l := range prompt.Diff(prompt.Lines(contents[0]), prompt.Lines(contents[1])) {
		op := "same"
		switch l.Op {
		case prompt.Added:
			op, v.Changed = "add", true
		case prompt.Removed:
			op, v.Changed = "del", true
		}
		v.Lines = append(v.Lines, views.DiffLineView{Op: op, Text: l.Text})
	}
	return render(c, http.StatusOK, views.PromptDiffPage(v))
}

// promptImport applies an uploaded export file.
func (h *Handler) promptImport(c echo.Context) error {
	fh, err := c.FormFile("file")
	if err != nil {
		h.setFlash(c, "Import: choose a file exported from the Prompts page.")
		return redirect(c, "/prompts")
	}
	f, err := fh.Open()
	if err != nil {
		return err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, apiMaxBody))
	if err != nil {
		return err
	}
	var file promptFile
	if err := json.Unmarshal(b, &file); err != nil {
		h.setFlash(c, "Import failed: the file is not a prompt export (JSON).")
		return redirect(c, "/prompts")
	}
	res, err := h.importPrompts(c.Request().Context(), h.currentUser(c), file)
	if err != nil {
		var he *echo.HTTPError
		if errors.As(err, &he) && he.Code < 500 {
			msg, _ := he.Message.(string)
			h.setFlash(c, "Import failed, nothing was changed: "+msg)
			return redirect(c, "/prompts")
		}
		return err
	}
	created, versions, labels := 0, 0, 0
	for _, r := range res {
		h.apiReload(c, state.KindPrompts, r.id)
		if r.Created {
			created++
		}
		versions += len(r.VersionsAdded)
		labels += len(r.LabelsMoved)
	}
	h.setFlash(c, fmt.Sprintf("Imported %d prompts: %d new, %d versions added, %d labels moved.", len(res), created, versions, labels))
	return redirect(c, "/prompts")
}
