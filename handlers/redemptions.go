package handlers

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"oneapi/keys"
	"oneapi/queries"
	"oneapi/views"
)

// Redemption codes (admin): made in batches, shown once at creation (only a
// SHA-256 hash and a short prefix are stored), disabled, deleted. Redeeming
// is redeem in account.go. The rules live here once and serve the console
// and /api/redemption.

const (
	redemptionsPageSize = 20
	redemptionMaxName   = 20  // One API's limit
	redemptionMaxCount  = 100 // One API's limit per request
	redemptionCodeLen   = 32  // One API's codes are 32 characters too
	redemptionUsed      = 3   // status of a redeemed code
)

// redemptionInput is a batch to create (or an edit), in One API's field names.
type redemptionInput struct {
	ID     int64  `json:"id"`
	Name   string `json:"name"`
	Quota  int64  `json:"quota"`
	Count  int    `json:"count"`
	Status int16  `json:"status"`
}

// validate checks name and quota, and the count when creating.
func (in *redemptionInput) validate(create bool) error {
	in.Name = strings.TrimSpace(in.Name)
	if n := utf8.RuneCountInString(in.Name); n == 0 || n > redemptionMaxName {
		return invalidField("name", "name must be 1 to %d characters", redemptionMaxName)
	}
	if in.Quota <= 0 {
		return invalidField("quota", "quota must be greater than 0")
	}
	if create && (in.Count < 1 || in.Count > redemptionMaxCount) {
		return invalidField("count", "count must be from 1 to %d", redemptionMaxCount)
	}
	return nil
}

// redemptionPrefix is the part of a code lists show.
func redemptionPrefix(code string) string {
	return strings.TrimPrefix(keys.Prefix(code), "sk-")
}

// createRedemptions validates in and makes in.Count codes owned by userID,
// all or none. The codes are returned this once.
func (h *Handler) createRedemptions(ctx context.Context, userID int64, in redemptionInput) ([]string, error) {
	if err := in.validate(true); err != nil {
		return nil, err
	}
	codes := make([]string, 0, in.Count)
	err := queries.InTx(ctx, h.pool, func(q *queries.Queries) error {
		for range in.Count {
			code := keys.Random(redemptionCodeLen)
			if _, err := q.RedemptionCreate(ctx, queries.RedemptionCreateParams{
				UserID: userID, Name: in.Name, CodeHash: keys.Hash(code), CodePrefix: redemptionPrefix(code), Quota: in.Quota,
			}); err != nil {
				return err
			}
			codes = append(codes, code)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("create %d redemption codes: %w", in.Count, err)
	}
	return codes, nil
}

var errRedemptionUsed = echo.NewHTTPError(http.StatusUnprocessableEntity, "this code has been redeemed and can no longer change")

// setRedemptionStatus enables (1) or disables (2) an unused code.
func (h *Handler) setRedemptionStatus(ctx context.Context, id int64, status int16) (queries.Redemption, error) {
	if status != statusEnabled && status != statusDisabled {
		return queries.Redemption{}, invalidField("status", "status must be 1 (enabled) or 2 (disabled)")
	}
	r, err := h.q.RedemptionSetStatus(ctx, queries.RedemptionSetStatusParams{ID: id, Status: status})
	if errors.Is(err, pgx.ErrNoRows) {
		return queries.Redemption{}, h.redemptionMissingOrUsed(ctx, id)
	}
	return r, err
}

// redemptionMissingOrUsed explains why a conditional update found no row.
func (h *Handler) redemptionMissingOrUsed(ctx context.Context, id int64) error {
	if _, err := h.q.RedemptionGetByID(ctx, id); err != nil {
		return err // not found (404) or worse
	}
	return errRedemptionUsed
}

func redemptionView(r queries.Redemption) views.RedemptionView {
	return views.RedemptionView{ID: r.ID, Name: r.Name, Prefix: r.CodePrefix, Status: r.Status, Quota: r.Quota,
		CreatedAt: r.CreatedAt, RedeemedAt: r.RedeemedAt, UsedBy: r.UsedBy.Int64}
}

// redemptionList is the admin's code table: ?q= searches, ?p= pages.
func (h *Handler) redemptionList(c echo.Context) error {
	ctx := c.Request().Context()
	v := views.RedemptionsView{Layout: h.layout(c, "Redemption codes"), Query: strings.TrimSpace(c.QueryParam("q")),
		Page: pageParam(c), PageSize: redemptionsPageSize, Money: h.money()}
	var err error
	if v.Total, err = h.q.RedemptionCount(ctx, v.Query); err != nil {
		return err
	}
	rows, err := h.q.RedemptionList(ctx, queries.RedemptionListParams{Keyword: v.Query, Lim: redemptionsPageSize,
		Off: int32((v.Page - 1) * redemptionsPageSize)})
	if err != nil {
		return err
	}
	for _, r := range rows {
		v.Redemptions = append(v.Redemptions, redemptionView(r))
	}
	if wantsPartial(c, "redemption-table") {
		return render(c, http.StatusOK, views.RedemptionTable(v))
	}
	return render(c, http.StatusOK, views.RedemptionsPage(v))
}

func (h *Handler) redemptionNew(c echo.Context) error {
	m := h.money()
	v := views.RedemptionFormView{Layout: h.layout(c, "New redemption codes"), Count: "1",
		Quota: strconv.FormatInt(int64(m.PerUnit), 10), Money: m}
	return render(c, http.StatusOK, views.RedemptionFormPage(v))
}

// redemptionCreate makes the codes and shows them, this once: the reply is
// the page itself (no redirect, no copy in the session, no caching).
func (h *Handler) redemptionCreate(c echo.Context) error {
	v := views.RedemptionFormView{Layout: h.layout(c, "New redemption codes"), Name: c.FormValue("name"),
		Quota: strings.TrimSpace(c.FormValue("quota")), Count: strings.TrimSpace(c.FormValue("count")), Money: h.money(), Errors: map[string]string{}}
	in := redemptionInput{Name: v.Name}
	var err error
	if in.Quota, err = strconv.ParseInt(v.Quota, 10, 64); err != nil {
		v.Errors["quota"] = "Enter a whole number."
	}
	if in.Count, err = strconv.Atoi(v.Count); err != nil {
		v.Errors["count"] = "Enter a whole number."
	}
	if len(v.Errors) > 0 {
		return render(c, http.StatusUnprocessableEntity, views.RedemptionFormPage(v))
	}
	codes, err := h.createRedemptions(c.Request().Context(), h.currentUser(c).ID, in)
	if err != nil {
		if errs, ok := fieldErrorsOf(err); ok {
			v.Errors = errs
			return render(c, http.StatusUnprocessableEntity, views.RedemptionFormPage(v))
		}
		return err
	}
	noStore(c)
	return render(c, http.StatusOK, views.RedemptionsCreatedPage(views.RedemptionsCreatedView{
		Layout: h.layout(c, "Codes created"), Name: strings.TrimSpace(in.Name), Quota: in.Quota, Codes: codes, Money: h.money(),
		CSVDataURL: codesCSVDataURL(strings.TrimSpace(in.Name), in.Quota, codes),
	}))
}

// codesCSVDataURL is new codes as a CSV file (name, code, quota) in a data:
// URL, for the download button of the page that shows them once.
func codesCSVDataURL(name string, quota int64, codes []string) string {
	var b strings.Builder
	w := csv.NewWriter(&b)
	w.Write([]string{"name", "code", "quota"})
	for _, code := range codes {
		w.Write([]string{csvSafe(name), code, strconv.FormatInt(quota, 10)})
	}
	w.Flush()
	return "data:text/csv;charset=utf-8," + url.PathEscape(b.String())
}

// redemptionAction enables, disables or deletes a code from the table. htmx
// gets the new row, or nothing for a deleted code.
func (h *Handler) redemptionAction(action string) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := pathIDParam(c)
		if err != nil {
			return err
		}
		ctx := c.Request().Context()
		var row queries.Redemption
		switch action {
		case "enable":
			row, err = h.setRedemptionStatus(ctx, id, statusEnabled)
		case "disable":
			row, err = h.setRedemptionStatus(ctx, id, statusDisabled)
		case "delete":
			var n int64
			n, err = h.q.RedemptionDelete(ctx, id)
			if err == nil && n == 0 {
				err = echo.NewHTTPError(http.StatusNotFound, "redemption code not found")
			}
		}
		if err != nil {
			return err
		}
		if !isHTMX(c) {
			h.setFlash(c, fmt.Sprintf("Redemption code %d: %s done.", id, action))
			return redirect(c, "/redemptions")
		}
		if action == "delete" {
			return c.HTML(http.StatusOK, "")
		}
		return render(c, http.StatusOK, views.RedemptionRow(redemptionView(row), h.money(), h.csrfToken(c)))
	}
}
