package handlers

import (
	"encoding/csv"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
)

// logExportBatch is how many rows one query of an export reads; the reply
// is streamed batch by batch, so an export of any size holds one batch in
// memory.
const logExportBatch = 1000

// apiLogExport is GET /api/log/export: the rows /api/log/ (admins: every
// user's) or /api/log/self (users: their own) would page through with the
// same filters, all of them, newest first, as a CSV file.
func (h *Handler) apiLogExport(c echo.Context) error {
	me := h.currentUser(c)
	all := me.Role >= roleAdmin
	f, err := apiLogFilter(c, all)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	// The first batch is read before the reply starts, so a database error
	// is still a clean {"success":false} reply.
	rows, err := h.listLogs(ctx, all, me.ID, f, logExportBatch, 0)
	if err != nil {
		return err
	}
	hd := c.Response().Header()
	hd.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	hd.Set(echo.HeaderContentDisposition, `attachment; filename="logs-`+time.Now().UTC().Format("20060102-150405")+`.csv"`)
	hd.Set(echo.HeaderCacheControl, "no-store")
	c.Response().WriteHeader(http.StatusOK)
	w := csv.NewWriter(c.Response())
	head := []string{"id", "created_at", "type", "username", "token_name", "model_name", "prompt_tokens", "completion_tokens", "quota", "elapsed_ms", "is_stream", "request_id", "prompt_name", "prompt_version", "content"}
	if all {
		head = append(head, "channel")
	}
	w.Write(head)
	for len(rows) > 0 {
		for _, r := range rows {
			rec := []string{strconv.FormatInt(r.ID, 10), r.CreatedAt.UTC().Format(time.RFC3339), strconv.Itoa(int(r.Type)),
				csvSafe(r.Username), csvSafe(r.TokenName), csvSafe(r.ModelName), strconv.Itoa(int(r.PromptTokens)),
				strconv.Itoa(int(r.CompletionTokens)), strconv.FormatInt(r.Quota, 10), strconv.Itoa(int(r.ElapsedMs)),
				strconv.FormatBool(r.IsStream), r.RequestID, csvSafe(r.PromptName), strconv.Itoa(int(r.PromptVersion)), csvSafe(r.Content)}
			if all {
				rec = append(rec, strconv.FormatInt(r.ChannelID, 10))
			}
			w.Write(rec)
		}
		w.Flush()
		if err := w.Error(); err != nil {
			return nil // the client went away; the reply has started
		}
		c.Response().Flush()
		if len(rows) < logExportBatch {
			break
		}
		f.BeforeID = rows[len(rows)-1].ID
		if rows, err = h.listLogs(ctx, all, me.ID, f, logExportBatch, 0); err != nil {
			h.log.Error("log export", "err", err)
			return nil // mid-stream: a truncated file is all that can be said
		}
	}
	return nil
}

// csvSafe keeps a spreadsheet from reading a user-chosen value (a token or
// user name) as a formula.
func csvSafe(s string) string {
	if s != "" && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' || s[0] == '\r') {
		return "'" + s
	}
	return s
}

// logExportURL is /api/log/export with the console's filter in /api/log/'s
// parameters (the logs page's button).
func logExportURL(f logFilter) string {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" && v != "0" {
			q.Set(k, v)
		}
	}
	set("type", strconv.Itoa(int(f.Type)))
	set("username", f.Username)
	set("token_name", f.TokenName)
	set("model_name", f.ModelName)
	set("prompt_name", f.PromptName)
	set("channel", strconv.FormatInt(f.ChannelID, 10))
	if !f.Start.IsZero() {
		set("start_timestamp", strconv.FormatInt(f.Start.Unix(), 10))
	}
	if !f.End.IsZero() {
		set("end_timestamp", strconv.FormatInt(f.End.Unix()-1, 10)) // /api/log/'s end is inclusive
	}
	if len(q) == 0 {
		return "/api/log/export"
	}
	return "/api/log/export?" + q.Encode()
}
