package handlers

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"oneapi/queries"
	"oneapi/views"
)

// dashboardDays is how far back the start page's usage table looks.
const dashboardDays = 7

// dashboard is the start page of a signed-in user: balance, totals, and the
// last week's consumption by model and by stored prompt version (read
// through the (user_id, created_at) index, so it stays cheap however large
// the log table grows). Admins see every user's usage per prompt, through
// the partial index on prompt rows.
func (h *Handler) dashboard(c echo.Context) error {
	me := h.currentUser(c)
	rows, err := h.q.LogUsageByModelForUserSince(c.Request().Context(), queries.LogUsageByModelForUserSinceParams{
		UserID: me.ID, Since: time.Now().AddDate(0, 0, -dashboardDays),
	})
	if err != nil {
		return err
	}
	v := views.DashboardView{Layout: h.layout(c, "Home"), User: userView(me), Money: h.money(), Days: dashboardDays}
	if n := strings.TrimSpace(h.option("Notice")); n != "" {
		sum := sha256.Sum256([]byte(n))
		v.NoticeHTML, v.NoticeID = markdownHTML(n), hex.EncodeToString(sum[:8])
	}
	for _, r := range rows {
		v.Usage = append(v.Usage, views.UsageRow{Model: r.ModelName, Requests: r.Requests,
			PromptTokens: r.PromptTokens, CompletionTokens: r.CompletionTokens, Quota: r.Quota})
	}
	since := time.Now().AddDate(0, 0, -dashboardDays)
	if me.Role >= roleAdmin {
		v.PromptUsageAll = true
		rows, err := h.q.LogUsageByPromptSince(c.Request().Context(), since)
		if err != nil {
			return err
		}
		for _, r := range rows {
			v.PromptUsage = append(v.PromptUsage, views.PromptUsageRow{Prompt: r.PromptName, Version: r.PromptVersion, Requests: r.Requests,
				PromptTokens: r.PromptTokens, CompletionTokens: r.CompletionTokens, Quota: r.Quota})
		}
	} else {
		rows, err := h.q.LogUsageByPromptForUserSince(c.Request().Context(), queries.LogUsageByPromptForUserSinceParams{UserID: me.ID, Since: since})
		if err != nil {
			return err
		}
		for _, r := range rows {
			v.PromptUsage = append(v.PromptUsage, views.PromptUsageRow{Prompt: r.PromptName, Version: r.PromptVersion, Requests: r.Requests,
				PromptTokens: r.PromptTokens, CompletionTokens: r.CompletionTokens, Quota: r.Quota})
		}
	}
	return render(c, http.StatusOK, views.DashboardPage(v))
}
