package handlers

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"oneapi/queries"
	"oneapi/views"
)

// Logs: admins see everyone's, users their own. Pages are by id, newest
// first: the console pages with a keyset cursor (?before=<id>), the JSON API
// with One API's ?p= offset. There is no count of matching rows: on a large
// log table it would cost more than the page itself.

const logsPageSize = 50

// logTypeMax is the last of One API's log types: 1 top-up, 2 consumption,
// 3 management, 4 system.
const logTypeMax = 4

// The log types the handlers write: money a user receives (a redeemed code,
// an invite reward) is a top-up; quota an admin grants, takes or sets is
// management, and names the admin.
const (
	logTypeTopUp  int16 = 1
	logTypeManage int16 = 3
)

// logQuotaChange writes the log row of a change of userID's quota by delta.
// It takes the transaction's queries: the row commits with the change or
// not at all, so the log never shows money that did not move, nor misses
// money that did.
func logQuotaChange(ctx context.Context, q *queries.Queries, typ int16, userID int64, username string, delta int64, content string) error {
	err := q.LogInsert(ctx, queries.LogInsertParams{
		Type: typ, UserID: userID, Username: username, Quota: delta, Content: content,
	})
	if err != nil {
		return fmt.Errorf("log quota change of user %d: %w", userID, err)
	}
	return nil
}

// logFilter is what a listing is narrowed to. Start and End bound created_at
// as [Start, End); zero times mean unbounded. Username and ChannelID are
// admin filters and ignored for a user's own logs.
type logFilter struct {
	Type      int16
	Username  string
	TokenName string
	ModelName string
	// PromptName keeps rows served with that stored prompt.
	PromptName string
	ChannelID  int64
	Start      time.Time
	End        time.Time
	BeforeID   int64
}

// Far bounds for an open date range: the queries always take a range, so
// that the (user_id, created_at) index serves a user's logs in every plan.
var (
	logTimeMin = time.Unix(0, 0).UTC()
	logTimeMax = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
)

func (f logFilter) bounds() (time.Time, time.Time) {
	start, end := f.Start, f.End
	if start.IsZero() {
		start = logTimeMin
	}
	if end.IsZero() {
		end = logTimeMax
	}
	return start, end
}

// listLogs reads one page: every user's logs for an admin view, else only
// userID's.
func (h *Handler) listLogs(ctx context.Context, all bool, userID int64, f logFilter, limit, offset int32) ([]queries.Log, error) {
	start, end := f.bounds()
	if all {
		return h.q.LogList(ctx, queries.LogListParams{
			Type: f.Type, Username: f.Username, TokenName: f.TokenName, ModelName: f.ModelName, ChannelID: f.ChannelID,
			PromptName: f.PromptName, StartAt: start, EndAt: end, BeforeID: f.BeforeID, Lim: limit, Off: offset,
		})
	}
	return h.q.LogListForUser(ctx, queries.LogListForUserParams{
		UserID: userID, Type: f.Type, TokenName: f.TokenName, ModelName: f.ModelName, PromptName: f.PromptName,
		StartAt: start, EndAt: end, BeforeID: f.BeforeID, Lim: limit, Off: offset,
	})
}

// sumLogQuota is the quota consumed (type 2 rows) matching f.
func (h *Handler) sumLogQuota(ctx context.Context, all bool, userID int64, f logFilter) (int64, error) {
	start, end := f.bounds()
	if all {
		return h.q.LogSumQuota(ctx, queries.LogSumQuotaParams{Username: f.Username, TokenName: f.TokenName,
			ModelName: f.ModelName, ChannelID: f.ChannelID, PromptName: f.PromptName, StartAt: start, EndAt: end})
	}
	return h.q.LogSumQuotaForUser(ctx, queries.LogSumQuotaForUserParams{UserID: userID, TokenName: f.TokenName,
		ModelName: f.ModelName, PromptName: f.PromptName, StartAt: start, EndAt: end})
}

// validLogType accepts One API's log types and 0 (all).
func validLogType(t int) bool { return t >= 0 && t <= logTypeMax }

// logDateLayout is what <input type="date"> sends.
const logDateLayout = "2006-01-02"

// consoleLogFilter reads the console's filters. Dates are whole UTC days,
// the end day included. A value that does not parse is reported in errs
// and left out of the filter.
func consoleLogFilter(c echo.Context, admin bool) (logFilter, views.LogFilterView, map[string]string) {
	fv := views.LogFilterView{
		Model: strings.TrimSpace(c.QueryParam("model")), Token: strings.TrimSpace(c.QueryParam("token")),
		Prompt: strings.TrimSpace(c.QueryParam("prompt")),
		Start:  strings.TrimSpace(c.QueryParam("start")), End: strings.TrimSpace(c.QueryParam("end")),
	}
	f := logFilter{ModelName: fv.Model, TokenName: fv.Token, PromptName: fv.Prompt}
	errs := map[string]string{}
	if s := c.QueryParam("type"); s != "" {
		if t, err := strconv.Atoi(s); err == nil && validLogType(t) {
			f.Type, fv.Type = int16(t), t
		} else {
			errs["type"] = "Unknown log type."
		}
	}
	if admin {
		fv.Username = strings.TrimSpace(c.QueryParam("username"))
		fv.Channel = strings.TrimSpace(c.QueryParam("channel"))
		f.Username = fv.Username
		if fv.Channel != "" {
			if id, err := strconv.ParseInt(fv.Channel, 10, 64); err == nil && id > 0 {
				f.ChannelID = id
			} else {
				errs["channel"] = "Enter a channel id."
			}
		}
	}
	if fv.Start != "" {
		if t, err := time.ParseInLocation(logDateLayout, fv.Start, time.UTC); err == nil {
			f.Start = t
		} else {
			errs["start"] = "Enter a date."
		}
	}
	if fv.End != "" {
		if t, err := time.ParseInLocation(logDateLayout, fv.End, time.UTC); err == nil {
			f.End = t.AddDate(0, 0, 1)
		} else {
			errs["end"] = "Enter a date."
		}
	}
	if b, err := strconv.ParseInt(c.QueryParam("before"), 10, 64); err == nil && b > 0 {
		f.BeforeID = b
	}
	return f, fv, errs
}

// logQuery is the query string of the console's log filters.
func logQuery(fv views.LogFilterView, before int64) string {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	if fv.Type != 0 {
		q.Set("type", strconv.Itoa(fv.Type))
	}
	set("model", fv.Model)
	set("token", fv.Token)
	set("prompt", fv.Prompt)
	set("username", fv.Username)
	set("channel", fv.Channel)
	set("start", fv.Start)
	set("end", fv.End)
	if before > 0 {
		q.Set("before", strconv.FormatInt(before, 10))
	}
	if len(q) == 0 {
		return "/logs"
	}
	return "/logs?" + q.Encode()
}

func logView(r queries.Log, admin bool) views.LogView {
	v := views.LogView{
		ID: r.ID, CreatedAt: r.CreatedAt, Type: r.Type, Username: r.Username, TokenName: r.TokenName,
		ModelName: r.ModelName, PromptTokens: r.PromptTokens, CompletionTokens: r.CompletionTokens, Quota: r.Quota,
		ElapsedMs: r.ElapsedMs, IsStream: r.IsStream, RequestID: r.RequestID, Content: r.Content,
		PromptName: r.PromptName, PromptVersion: r.PromptVersion, PromptHash: r.PromptHash,
	}
	if admin {
		v.ChannelID = r.ChannelID
	}
	return v
}

// logList is the console's log table. htmx requests aimed at #log-table
// (filters, paging) get only the table.
func (h *Handler) logList(c echo.Context) error {
	me := h.currentUser(c)
	admin := me.Role >= roleAdmin
	f, fv, errs := consoleLogFilter(c, admin)
	v := views.LogsView{Layout: h.layout(c, "Logs"), IsAdmin: admin, Filter: fv, Errors: errs, Money: h.money(),
		Paged: f.BeforeID > 0, FirstURL: logQuery(fv, 0)}
	if len(errs) == 0 {
		v.ExportURL = logExportURL(f)
		total, err := h.sumLogQuota(c.Request().Context(), admin, me.ID, logFilter{Username: f.Username, TokenName: f.TokenName,
			ModelName: f.ModelName, PromptName: f.PromptName, ChannelID: f.ChannelID, Start: f.Start, End: f.End})
		if err != nil {
			return err
		}
		v.TotalQuota = total
	}
	rows, err := h.listLogs(c.Request().Context(), admin, me.ID, f, logsPageSize+1, 0)
	if err != nil {
		return err
	}
	if len(rows) > logsPageSize {
		rows = rows[:logsPageSize]
		v.OlderURL = logQuery(fv, rows[len(rows)-1].ID)
	}
	for _, r := range rows {
		v.Logs = append(v.Logs, logView(r, admin))
	}
	if wantsPartial(c, "log-table") {
		return render(c, http.StatusOK, views.LogTable(v))
	}
	return render(c, http.StatusOK, views.LogsPage(v))
}
