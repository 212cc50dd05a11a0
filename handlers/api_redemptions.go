package handlers

import (
	"errors"
	"net/http"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"oneapi/queries"
)

// apiRedemption is a redemption code in One API's JSON shape. Key is the
// display prefix: codes are stored as hashes, so the full code exists only
// in the reply to its creation (a list of codes, as One API replies).
// UsedBy is ours: the user who redeemed it, 0 if nobody has.
type apiRedemption struct {
	ID           int64  `json:"id"`
	UserID       int64  `json:"user_id"`
	Key          string `json:"key"`
	Status       int16  `json:"status"`
	Name         string `json:"name"`
	Quota        int64  `json:"quota"`
	CreatedTime  int64  `json:"created_time"`
	RedeemedTime int64  `json:"redeemed_time"`
	UsedBy       int64  `json:"used_by"`
}

func toAPIRedemption(r queries.Redemption) apiRedemption {
	return apiRedemption{
		ID: r.ID, UserID: r.UserID, Key: r.CodePrefix, Status: r.Status, Name: r.Name, Quota: r.Quota,
		CreatedTime: r.CreatedAt.Unix(), RedeemedTime: unixOrZero(r.RedeemedAt), UsedBy: r.UsedBy.Int64,
	}
}

func toAPIRedemptions(rows []queries.Redemption) []apiRedemption {
	out := make([]apiRedemption, 0, len(rows))
	for _, r := range rows {
		out = append(out, toAPIRedemption(r))
	}
	return out
}

// apiRedemptionList is GET /api/redemption/?p=: one page, newest first.
func (h *Handler) apiRedemptionList(c echo.Context) error {
	limit, offset := apiPage(c)
	rows, err := h.q.RedemptionList(c.Request().Context(), queries.RedemptionListParams{Lim: limit, Off: offset})
	if err != nil {
		return err
	}
	return apiOK(c, toAPIRedemptions(rows))
}

// apiRedemptionSearch is GET /api/redemption/search?keyword=: by id or name.
func (h *Handler) apiRedemptionSearch(c echo.Context) error {
	rows, err := h.q.RedemptionList(c.Request().Context(), queries.RedemptionListParams{
		Keyword: strings.TrimSpace(c.QueryParam("keyword")), Lim: 100,
	})
	if err != nil {
		return err
	}
	return apiOK(c, toAPIRedemptions(rows))
}

// apiRedemptionGet is GET /api/redemption/:id.
func (h *Handler) apiRedemptionGet(c echo.Context) error {
	id, err := apiPathID(c)
	if err != nil {
		return err
	}
	r, err := h.q.RedemptionGetByID(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return apiOK(c, toAPIRedemption(r))
}

// apiRedemptionCreate is POST /api/redemption/ {name, quota, count}: data is
// the list of new codes, shown this once.
func (h *Handler) apiRedemptionCreate(c echo.Context) error {
	body, err := apiReadBody(c)
	if err != nil {
		return err
	}
	var in redemptionInput
	if err := apiUnmarshal(body, &in); err != nil {
		return err
	}
	codes, err := h.createRedemptions(c.Request().Context(), h.currentUser(c).ID, in)
	if err != nil {
		return err
	}
	return apiOKSecret(c, codes)
}

// apiRedemptionUpdate is PUT /api/redemption/ with the code's id in the
// body. With ?status_only= only the status changes (1 enabled, 2 disabled);
// otherwise name and quota change, as in One API. A redeemed code is history
// and does not change.
func (h *Handler) apiRedemptionUpdate(c echo.Context) error {
	body, err := apiReadBody(c)
	if err != nil {
		return err
	}
	var in redemptionInput
	if err := apiUnmarshal(body, &in); err != nil {
		return err
	}
	if in.ID <= 0 {
		return apiInvalid("id is required")
	}
	ctx := c.Request().Context()
	var r queries.Redemption
	if so := c.QueryParam("status_only"); so != "" && so != "false" {
		r, err = h.setRedemptionStatus(ctx, in.ID, in.Status)
	} else {
		if err := in.validate(false); err != nil {
			return err
		}
		r, err = h.q.RedemptionUpdate(ctx, queries.RedemptionUpdateParams{ID: in.ID, Name: in.Name, Quota: in.Quota})
		if errors.Is(err, pgx.ErrNoRows) {
			err = h.redemptionMissingOrUsed(ctx, in.ID)
		}
	}
	if err != nil {
		return err
	}
	return apiOK(c, toAPIRedemption(r))
}

// apiRedemptionDelete is DELETE /api/redemption/:id.
func (h *Handler) apiRedemptionDelete(c echo.Context) error {
	id, err := apiPathID(c)
	if err != nil {
		return err
	}
	n, err := h.q.RedemptionDelete(c.Request().Context(), id)
	if err != nil {
		return err
	}
	if n == 0 {
		return echo.NewHTTPError(http.StatusNotFound, "redemption code not found")
	}
	return apiOK(c, nil)
}
