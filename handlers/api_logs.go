package handlers

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"oneapi/queries"
)

// apiLog is a log row in One API's JSON shape: created_at in unix seconds,
// elapsed_time in milliseconds, the channel id as "channel" (0 in a user's
// own logs: which upstream served them is the operator's business).
type apiLog struct {
	ID                int64  `json:"id"`
	UserID            int64  `json:"user_id"`
	CreatedAt         int64  `json:"created_at"`
	Type              int16  `json:"type"`
	Content           string `json:"content"`
	Username          string `json:"username"`
	TokenName         string `json:"token_name"`
	ModelName         string `json:"model_name"`
	Quota             int64  `json:"quota"`
	PromptTokens      int32  `json:"prompt_tokens"`
	CompletionTokens  int32  `json:"completion_tokens"`
	ChannelID         int64  `json:"channel"`
	RequestID         string `json:"request_id"`
	ElapsedTime       int64  `json:"elapsed_time"`
	IsStream          bool   `json:"is_stream"`
	SystemPromptReset bool   `json:"system_prompt_reset"`
	// The stored prompt that served the request ("" and 0: none).
	PromptName    string `json:"prompt_name"`
	PromptVersion int32  `json:"prompt_version"`
	PromptHash    string `json:"prompt_hash"`
}

func toAPILogs(rows []queries.Log, admin bool) []apiLog {
	out := make([]apiLog, 0, len(rows))
	for _, r := range rows {
		l := apiLog{
			ID: r.ID, UserID: r.UserID, CreatedAt: r.CreatedAt.Unix(), Type: r.Type, Content: r.Content,
			Username: r.Username, TokenName: r.TokenName, ModelName: r.ModelName, Quota: r.Quota,
			PromptTokens: r.PromptTokens, CompletionTokens: r.CompletionTokens, RequestID: r.RequestID,
			ElapsedTime: int64(r.ElapsedMs), IsStream: r.IsStream,
			PromptName: r.PromptName, PromptVersion: r.PromptVersion, PromptHash: r.PromptHash,
		}
		if admin {
			l.ChannelID = r.ChannelID
		}
		out = append(out, l)
	}
	return out
}

// apiLogFilter reads One API's log parameters: type, token_name,
// model_name, start_timestamp and end_timestamp (unix seconds, both
// inclusive, 0 or absent: unbounded) and, for admins, username and channel.
// A value that is present but not a number is refused (One API would
// silently ignore it and return unfiltered rows).
func apiLogFilter(c echo.Context, admin bool) (logFilter, error) {
	f := logFilter{
		TokenName: strings.TrimSpace(c.QueryParam("token_name")),
		ModelName: strings.TrimSpace(c.QueryParam("model_name")),
		// Not One API's: the stored prompt a request used.
		PromptName: strings.TrimSpace(c.QueryParam("prompt_name")),
	}
	num := func(name string) (int64, error) {
		s := strings.TrimSpace(c.QueryParam(name))
		if s == "" {
			return 0, nil
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, apiInvalid("%s must be a whole number", name)
		}
		return n, nil
	}
	t, err := num("type")
	if err != nil {
		return f, err
	}
	if !validLogType(int(t)) {
		return f, apiInvalid("type must be 0 (all), 1 (top-up), 2 (consumption), 3 (management) or 4 (system)")
	}
	f.Type = int16(t)
	start, err := num("start_timestamp")
	if err != nil {
		return f, err
	}
	end, err := num("end_timestamp")
	if err != nil {
		return f, err
	}
	if start < 0 || start > maxExpiredTime || end < 0 || end > maxExpiredTime {
		return f, apiInvalid("start_timestamp and end_timestamp are unix times in seconds")
	}
	if start > 0 {
		f.Start = time.Unix(start, 0)
	}
	if end > 0 {
		f.End = time.Unix(end+1, 0) // One API's end is inclusive; ours is not
	}
	if admin {
		f.Username = strings.TrimSpace(c.QueryParam("username"))
		if f.ChannelID, err = num("channel"); err != nil {
			return f, err
		}
	}
	return f, nil
}

// apiLogList is GET /api/log/?p=: everyone's logs, newest first (admin).
func (h *Handler) apiLogList(c echo.Context) error {
	return h.apiLogs(c, true)
}

// apiLogSelf is GET /api/log/self?p=: the caller's own logs.
func (h *Handler) apiLogSelf(c echo.Context) error {
	return h.apiLogs(c, false)
}

func (h *Handler) apiLogs(c echo.Context, all bool) error {
	f, err := apiLogFilter(c, all)
	if err != nil {
		return err
	}
	limit, offset := apiPage(c)
	rows, err := h.listLogs(c.Request().Context(), all, h.currentUser(c).ID, f, limit, offset)
	if err != nil {
		return err
	}
	return apiOK(c, toAPILogs(rows, all))
}

// apiLogStat is GET /api/log/stat: {"quota": consumed} over the filters
// (admin), as One API answers.
func (h *Handler) apiLogStat(c echo.Context) error {
	return h.apiLogQuota(c, true)
}

// apiLogSelfStat is GET /api/log/self/stat: the caller's own consumption.
func (h *Handler) apiLogSelfStat(c echo.Context) error {
	return h.apiLogQuota(c, false)
}

func (h *Handler) apiLogQuota(c echo.Context, all bool) error {
	f, err := apiLogFilter(c, all)
	if err != nil {
		return err
	}
	q, err := h.sumLogQuota(c.Request().Context(), all, h.currentUser(c).ID, f)
	if err != nil {
		return err
	}
	return apiOK(c, map[string]int64{"quota": q})
}

// logSearchLimit is One API's MaxRecentItems: a search returns at most this
// many rows, newest first, and does not page.
const logSearchLimit = 100

// apiLogSearch is GET /api/log/search?keyword= (admin): as One API, rows
// whose type is the keyword (a number) or whose content contains it, and
// also rows of that token, model or user, which is what people type.
func (h *Handler) apiLogSearch(c echo.Context) error {
	rows, err := h.q.LogSearch(c.Request().Context(), queries.LogSearchParams{
		Keyword: strings.TrimSpace(c.QueryParam("keyword")), Lim: logSearchLimit,
	})
	if err != nil {
		return err
	}
	return apiOK(c, toAPILogs(rows, true))
}

// apiLogSelfSearch is GET /api/log/self/search?keyword=: apiLogSearch over
// the caller's own logs (the user field is theirs anyway).
func (h *Handler) apiLogSelfSearch(c echo.Context) error {
	rows, err := h.q.LogSearchForUser(c.Request().Context(), queries.LogSearchForUserParams{
		UserID: h.currentUser(c).ID, Keyword: strings.TrimSpace(c.QueryParam("keyword")), Lim: logSearchLimit,
	})
	if err != nil {
		return err
	}
	return apiOK(c, toAPILogs(rows, false))
}

// logDeleteBatch bounds one DELETE of old logs, as the retention job's: each
// transaction stays short beside the meter's inserts.
const logDeleteBatch = 5000

// apiLogDelete is DELETE /api/log/?target_timestamp= (admin), One API's
// "clear history logs": every log row, of every type, created before the
// unix time. data is the number of rows deleted. The rows go in batches, so
// a large table is never locked in one statement; a failure part-way leaves
// the older rows deleted, and calling again finishes the job.
func (h *Handler) apiLogDelete(c echo.Context) error {
	raw := strings.TrimSpace(c.QueryParam("target_timestamp"))
	ts, err := strconv.ParseInt(raw, 10, 64)
	if raw == "" || err != nil || ts <= 0 || ts > maxExpiredTime {
		return apiInvalid("target_timestamp is required: a unix time in seconds")
	}
	ctx := c.Request().Context()
	cutoff := time.Unix(ts, 0)
	var total int64
	for {
		n, err := h.q.LogDeleteBefore(ctx, queries.LogDeleteBeforeParams{Cutoff: cutoff, BatchSize: logDeleteBatch})
		if err != nil {
			return fmt.Errorf("delete logs before %d (%d deleted so far): %w", ts, total, err)
		}
		total += n
		if n < logDeleteBatch {
			break
		}
	}
	// The deletion leaves its own trace: a management row written after it,
	// so never deleted by it. Failing to write it does not fail the request:
	// the rows are gone, and the server log below keeps the record.
	admin := h.currentUser(c)
	content := fmt.Sprintf("admin %s (#%d) deleted %d log rows created before %s",
		admin.Username, admin.ID, total, cutoff.UTC().Format(time.RFC3339))
	h.log.Info(content, "id", c.Response().Header().Get(echo.HeaderXRequestID))
	if err := h.q.LogInsert(ctx, queries.LogInsertParams{Type: logTypeManage, UserID: admin.ID, Username: admin.Username,
		Content: content}); err != nil {
		h.log.Error("log the deletion of logs", "id", c.Response().Header().Get(echo.HeaderXRequestID), "err", err)
	}
	return apiOK(c, total)
}
