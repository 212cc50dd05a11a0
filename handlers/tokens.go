package handlers

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"oneapi/queries"
	"oneapi/state"
	"oneapi/views"
)

// Every user's own API tokens. Validation and writes are the JSON API's
// (tokenInput.validate, createToken, updateToken). The key is shown in the
// reply to the creation only; lists show the display prefix.

const tokensPageSize = 20

// tokenTimeLayout is what <input type="datetime-local"> sends and shows.
const tokenTimeLayout = "2006-01-02T15:04"

func tokenView(r queries.Token, now time.Time) views.TokenView {
	return views.TokenView{
		ID: r.ID, Name: r.Name, KeyPrefix: r.KeyPrefix, Status: tokenStatus(r, now), RemainQuota: r.RemainQuota,
		Unlimited: r.UnlimitedQuota, UsedQuota: r.UsedQuota, ExpiresAt: r.ExpiresAt, AccessedAt: r.AccessedAt,
		CreatedAt: r.CreatedAt, Models: r.Models, Subnet: r.Subnet, Prompts: r.Prompts, PromptsOnly: r.PromptsOnly,
	}
}

// tokenList is the caller's token table: ?q= searches names, ?p= pages.
func (h *Handler) tokenList(c echo.Context) error {
	ctx := c.Request().Context()
	me := h.currentUser(c)
	v := views.TokensView{Layout: h.layout(c, "Tokens"), Query: strings.TrimSpace(c.QueryParam("q")), Page: pageParam(c),
		PageSize: tokensPageSize, Money: h.money()}
	var err error
	v.Total, err = h.q.TokenCountForUserFiltered(ctx, queries.TokenCountForUserFilteredParams{UserID: me.ID, Keyword: v.Query})
	if err != nil {
		return err
	}
	rows, err := h.q.TokenListForUserFiltered(ctx, queries.TokenListForUserFilteredParams{
		UserID: me.ID, Keyword: v.Query, Lim: tokensPageSize, Off: int32((v.Page - 1) * tokensPageSize),
	})
	if err != nil {
		return err
	}
	now := time.Now()
	for _, r := range rows {
		v.Tokens = append(v.Tokens, tokenView(r, now))
	}
	if wantsPartial(c, "token-table") {
		return render(c, http.StatusOK, views.TokenTable(v))
	}
	return render(c, http.StatusOK, views.TokensPage(v))
}

func (h *Handler) tokenNew(c echo.Context) error {
	return h.renderTokenForm(c, nil, views.TokenInputView{RemainQuota: "0", Unlimited: true}, nil)
}

// tokenFormInput reads the create/edit form into the API's input; errs
// holds what could not be parsed.
func tokenFormInput(c echo.Context) (tokenInput, views.TokenInputView, map[string]string) {
	form := views.TokenInputView{
		Name: c.FormValue("name"), RemainQuota: strings.TrimSpace(c.FormValue("remain_quota")),
		QuotaShown: c.FormValue("remain_quota_shown"),
		Unlimited:  c.FormValue("unlimited_quota") != "", ExpiresAt: strings.TrimSpace(c.FormValue("expired_time")),
		Models: c.FormValue("models"), Subnet: c.FormValue("subnet"),
		Prompts: c.FormValue("prompts"), PromptsOnly: c.FormValue("prompts_only") != "",
	}
	in := tokenInput{Name: form.Name, UnlimitedQuota: form.Unlimited, Models: form.Models, Subnet: form.Subnet, ExpiredTime: -1,
		Prompts: form.Prompts, PromptsOnly: form.PromptsOnly}
	errs := map[string]string{}
	in.limitInput, form.Limits = limitFormInput(c, errs)
	if q, ok := formInt(c, "remain_quota"); !ok {
		errs["remain_quota"] = "Enter a whole number."
	} else {
		in.RemainQuota = &q
	}
	if form.ExpiresAt != "" {
		t, err := time.ParseInLocation(tokenTimeLayout, form.ExpiresAt, time.UTC)
		if err != nil {
			// Some browsers send seconds too.
			t, err = time.ParseInLocation(tokenTimeLayout+":05", form.ExpiresAt, time.UTC)
		}
		if err != nil {
			errs["expired_time"] = "Enter a date and time, or leave it empty for never."
		} else {
			in.ExpiredTime = t.Unix()
		}
	}
	return in, form, errs
}

// tokenCreate issues a token and shows its key, this once. The reply is the
// page itself rather than a redirect: the key must not be parked in the
// session, and no cache may keep the page.
func (h *Handler) tokenCreate(c echo.Context) error {
	in, form, errs := tokenFormInput(c)
	if len(errs) > 0 {
		return h.renderTokenForm(c, nil, form, errs)
	}
	row, key, err := h.createToken(c.Request().Context(), h.currentUser(c).ID, in)
	if err != nil {
		if errs, ok := fieldErrorsOf(err); ok {
			return h.renderTokenForm(c, nil, form, errs)
		}
		return err
	}
	h.apiReload(c, state.KindTokens, row.ID)
	noStore(c)
	v := views.TokenCreatedView{Layout: h.layout(c, "Token created"), Key: key, Token: tokenView(row, time.Now())}
	return render(c, http.StatusOK, views.TokenCreatedPage(v))
}

// targetToken loads :id among the caller's own tokens; another user's token
// is not found.
func (h *Handler) targetToken(c echo.Context) (queries.Token, error) {
	id, err := pathIDParam(c)
	if err != nil {
		return queries.Token{}, err
	}
	return h.q.TokenGetForUser(c.Request().Context(), queries.TokenGetForUserParams{ID: id, UserID: h.currentUser(c).ID})
}

func (h *Handler) tokenEdit(c echo.Context) error {
	t, err := h.targetToken(c)
	if err != nil {
		return err
	}
	q := strconv.FormatInt(t.RemainQuota, 10)
	in := views.TokenInputView{Name: t.Name, RemainQuota: q, QuotaShown: q, Unlimited: t.UnlimitedQuota,
		Models: t.Models, Subnet: t.Subnet, Prompts: t.Prompts, PromptsOnly: t.PromptsOnly, Limits: limitsView(tokenLimitFields(t))}
	if t.ExpiresAt != nil {
		in.ExpiresAt = t.ExpiresAt.UTC().Format(tokenTimeLayout)
	}
	return h.renderTokenForm(c, &t, in, nil)
}

// tokenUpdate saves the edit form; the status stays as it is (the table's
// enable/disable change it).
func (h *Handler) tokenUpdate(c echo.Context) error {
	t, err := h.targetToken(c)
	if err != nil {
		return err
	}
	in, form, errs := tokenFormInput(c)
	if len(errs) > 0 {
		return h.renderTokenForm(c, &t, form, errs)
	}
	if form.QuotaShown != "" && form.RemainQuota == form.QuotaShown {
		in.RemainQuota = nil // untouched: keep the live balance
	}
	updated, err := h.updateToken(c.Request().Context(), t.UserID, t.ID, false, func(cur *tokenInput) error {
		*cur = in
		return nil
	})
	if err != nil {
		if errs, ok := fieldErrorsOf(err); ok {
			return h.renderTokenForm(c, &t, form, errs)
		}
		return err
	}
	h.apiReload(c, state.KindTokens, updated.ID)
	h.setFlash(c, fmt.Sprintf("Token %s saved.", updated.Name))
	return redirect(c, "/tokens")
}

func (h *Handler) renderTokenForm(c echo.Context, t *queries.Token, in views.TokenInputView, errs map[string]string) error {
	v := views.TokenFormView{Layout: h.layout(c, "New token"), IsNew: t == nil, Input: in, Errors: errs, Money: h.money()}
	if t != nil {
		v.ID, v.KeyPrefix, v.Layout.Title = t.ID, t.KeyPrefix, "Edit token "+t.Name
	}
	status := http.StatusOK
	if len(errs) > 0 {
		status = http.StatusUnprocessableEntity
	}
	return render(c, status, views.TokenFormPage(v))
}

// tokenAction enables, disables or deletes one of the caller's tokens from
// the table. htmx gets the new row, or nothing for a deleted token. Enabling
// a token past its expiry is refused (a flash says why).
func (h *Handler) tokenAction(action string) echo.HandlerFunc {
	return func(c echo.Context) error {
		t, err := h.targetToken(c)
		if err != nil {
			return err
		}
		ctx := c.Request().Context()
		row := t
		switch action {
		case "enable", "disable":
			status := statusEnabled
			if action == "disable" {
				status = statusDisabled
			}
			row, err = h.updateToken(ctx, t.UserID, t.ID, true, func(in *tokenInput) error {
				in.Status = status
				return nil
			})
		case "delete":
			var n int64
			n, err = h.q.TokenDelete(ctx, queries.TokenDeleteParams{ID: t.ID, UserID: t.UserID})
			if err == nil && n == 0 {
				err = echo.NewHTTPError(http.StatusNotFound, "token not found")
			}
		}
		if err != nil {
			if errs, ok := fieldErrorsOf(err); ok && !isHTMX(c) {
				h.setFlash(c, errs[sortedKeys(errs)[0]])
				return redirect(c, "/tokens")
			}
			return err
		}
		h.apiReload(c, state.KindTokens, t.ID)
		if !isHTMX(c) {
			h.setFlash(c, fmt.Sprintf("Token %s: %s done.", t.Name, action))
			return redirect(c, "/tokens")
		}
		if action == "delete" {
			return c.HTML(http.StatusOK, "")
		}
		return render(c, http.StatusOK, views.TokenRow(tokenView(row, time.Now()), h.money(), h.csrfToken(c)))
	}
}
