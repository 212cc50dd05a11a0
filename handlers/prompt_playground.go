package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"oneapi/pricing"
	"oneapi/prompt"
	"oneapi/queries"
	"oneapi/views"
)

// The playground runs a version through the gateway itself, as one of the
// user's tokens: the request goes through the relay's whole path (token
// checks, prompt resolution, reservation, routing, settlement), so it is
// billed and logged like any, and what it shows is what an application
// calling the prompt gets.

// RelayAs serves a /v1 request as one of a user's tokens (relay.Server's
// ServeAs).
type RelayAs interface {
	ServeAs(w http.ResponseWriter, r *http.Request, tokenID, userID int64)
}

// playgroundTimeout bounds one run.
const playgroundTimeout = 2 * time.Minute

// playgroundView fills the form for version ref of name, keeping values.
func (h *Handler) playgroundView(c echo.Context, name, ref string, values map[string]string) (views.PlaygroundView, error) {
	ctx := c.Request().Context()
	me := h.currentUser(c)
	row, err := h.readPrompt(ctx, me, name, false)
	if err != nil {
		return views.PlaygroundView{}, err
	}
	v := views.PlaygroundView{Layout: h.layout(c, "Playground: "+row.Name), Name: row.Name, Available: h.relay != nil, Ref: strings.TrimSpace(ref)}
	labels, labelRows, err := h.promptLabels(ctx, row.ID)
	if err != nil {
		return v, err
	}
	def := "latest → v" + strconv.Itoa(int(row.LatestVersion))
	if p, ok := labels[prompt.LabelProduction]; ok {
		def = "production → v" + strconv.Itoa(p)
	}
	v.Refs = append(v.Refs, views.RefOption{Value: "", Label: "default (" + def + ")"})
	for _, l := range labelRows {
		v.Refs = append(v.Refs, views.RefOption{Value: l.Label, Label: l.Label + " → v" + strconv.Itoa(int(l.Version))})
	}
	for n := row.LatestVersion; n >= 1; n-- {
		v.Refs = append(v.Refs, views.RefOption{Value: strconv.Itoa(int(n)), Label: "v" + strconv.Itoa(int(n))})
	}
	if v.Version, err = h.resolvePromptRef(ctx, row, v.Ref); err != nil {
		return v, err
	}
	_, pc, err := h.loadVersion(ctx, row.ID, v.Version)
	if err != nil {
		return v, err
	}
	if raw, ok := pc.Parameters["model"]; ok {
		_ = json.Unmarshal(raw, &v.DefaultModel)
	}
	for _, pv := range pc.Variables {
		pg := views.PlaygroundVarView{Name: pv.Name, Type: pv.Type, Required: pv.Required, Value: values[pv.Name]}
		if pv.Default != nil {
			pg.Default = *pv.Default
		}
		v.Variables = append(v.Variables, pg)
	}
	if t, err := prompt.Compile(pc); err == nil {
		v.Preview = previewMessages(t.Preview(values))
	}
	tokens, err := h.q.TokenListForUser(ctx, queries.TokenListForUserParams{UserID: me.ID, Limit: 100})
	if err != nil {
		return v, err
	}
	now := time.Now()
	for _, t := range tokens {
		if tokenStatus(t, now) == statusEnabled {
			v.Tokens = append(v.Tokens, views.TokenOption{ID: t.ID, Name: t.Name + " (" + t.KeyPrefix + ")"})
		}
	}
	return v, nil
}

func (h *Handler) promptPlayground(c echo.Context) error {
	v, err := h.playgroundView(c, c.Param("name"), c.QueryParam("version"), nil)
	if err != nil {
		return err
	}
	if len(v.Tokens) > 0 {
		v.TokenID = tokenIDOf(v.Tokens[0])
	}
	if wantsPartial(c, "playground") {
		return render(c, http.StatusOK, views.PlaygroundPanel(v))
	}
	return render(c, http.StatusOK, views.PromptPlaygroundPage(v))
}

func tokenIDOf(t views.TokenOption) int64 { return t.ID }

// promptPlaygroundRun sends the version through the relay and shows the
// answer, the tokens and what it cost.
func (h *Handler) promptPlaygroundRun(c echo.Context) error {
	form, _ := c.FormParams()
	values := map[string]string{}
	for k, vs := range form {
		if name, ok := strings.CutPrefix(k, "var."); ok && len(vs) > 0 && vs[0] != "" {
			values[name] = vs[0]
		}
	}
	v, err := h.playgroundView(c, c.Param("name"), form.Get("version"), values)
	if err != nil {
		return err
	}
	v.Message, v.Model = form.Get("message"), strings.TrimSpace(form.Get("model"))
	v.TokenID, _ = strconv.ParseInt(form.Get("token_id"), 10, 64)
	if h.relay == nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "the playground is not available on this node")
	}
	vars := map[string]string{}
	for _, pv := range v.Variables {
		if s, ok := values[pv.Name]; ok {
			vars[pv.Name] = s
		}
	}
	body := map[string]any{"prompt_id": v.Name, "prompt_version": strconv.Itoa(int(v.Version)), "prompt_variables": vars}
	if strings.TrimSpace(v.Message) != "" {
		body["messages"] = []map[string]string{{"role": "user", "content": v.Message}}
	}
	model := v.Model
	if model != "" {
		body["model"] = model
	} else {
		model = v.DefaultModel
	}
	res := h.runAs(c, v.TokenID, body)
	res.Version, res.Model = v.Version, model
	if res.OK {
		h.playgroundBill(c.Request().Context(), &res, h.currentUser(c).GroupName)
	}
	v.Result = &res
	if isHTMX(c) {
		return render(c, http.StatusOK, views.PlaygroundPanel(v))
	}
	return render(c, http.StatusOK, views.PromptPlaygroundPage(v))
}

// playgroundSettleWait is how long the playground waits for the request's
// log row: settlements are written in batches off the request path.
const playgroundSettleWait = 2 * time.Second

// playgroundBill fills in what the run was billed, from its log row; if
// that is not written yet, from the reply's usage at the current prices
// (marked as an estimate).
func (h *Handler) playgroundBill(ctx context.Context, res *views.PlaygroundResultView, group string) {
	deadline := time.Now().Add(playgroundSettleWait)
	for res.RequestID != "" {
		row, err := h.q.LogConsumeByRequestID(ctx, res.RequestID)
		if err == nil {
			res.PromptTokens, res.CompletionTokens = int(row.PromptTokens), int(row.CompletionTokens)
			res.Cost = h.money().Format(row.Quota)
			return
		}
		if !errors.Is(err, pgx.ErrNoRows) || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
	price, _ := h.state.Options().Price(res.Model, group, 0)
	res.Cost = "≈ " + h.money().Format(pricing.Cost(price, pricing.Usage{Input: res.PromptTokens, Output: res.CompletionTokens})) + " (not settled yet)"
}

// runAs sends a chat completion through the relay as tokenID.
func (h *Handler) runAs(c echo.Context, tokenID int64, body map[string]any) views.PlaygroundResultView {
	b, _ := json.Marshal(body)
	ctx, cancel := context.WithTimeout(c.Request().Context(), playgroundTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "/v1/chat/completions", bytes.NewReader(b))
	if err != nil {
		return views.PlaygroundResultView{Status: http.StatusInternalServerError, Error: err.Error()}
	}
	// The browser's address, so the token's IP limits apply to it.
	req.RemoteAddr = c.Request().RemoteAddr
	if xff := c.Request().Header.Values("X-Forwarded-For"); len(xff) > 0 {
		req.Header["X-Forwarded-For"] = xff
	}
	req.Header.Set("Content-Type", "application/json")
	w := &bufferedResponse{header: http.Header{}}
	start := time.Now()
	h.relay.ServeAs(w, req, tokenID, h.currentUser(c).ID)
	out := views.PlaygroundResultView{Status: w.status, RequestID: w.header.Get("X-Request-Id"), Elapsed: time.Since(start).Round(time.Millisecond).String()}
	if w.status != http.StatusOK {
		var e struct {
			Error struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if json.Unmarshal(w.body.Bytes(), &e) == nil && e.Error.Message != "" {
			out.Error = e.Error.Message
		} else {
			out.Error = http.StatusText(w.status)
		}
		return out
	}
	var reply struct {
		Choices []struct {
			Message struct {
				Content string `json:"content"`
			} `json:"message"`
		} `json:"choices"`
		Usage struct {
			PromptTokens     int `json:"prompt_tokens"`
			CompletionTokens int `json:"completion_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal(w.body.Bytes(), &reply); err != nil || len(reply.Choices) == 0 {
		out.Error = fmt.Sprintf("the answer could not be read (%d bytes)", w.body.Len())
		return out
	}
	out.OK, out.Answer = true, reply.Choices[0].Message.Content
	out.PromptTokens, out.CompletionTokens = reply.Usage.PromptTokens, reply.Usage.CompletionTokens
	return out
}

// bufferedResponse keeps a relay reply in memory.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	b.WriteHeader(http.StatusOK)
	return b.body.Write(p)
}
