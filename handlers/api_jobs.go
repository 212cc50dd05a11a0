package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"

	"oneapi/keys"
	"oneapi/queries"
)

// JobQueue is what the handlers need of the background jobs (jobs.River).
type JobQueue interface {
	// EnqueueChannelProbes enqueues a test of each channel and returns how
	// many were enqueued (a channel whose test is already pending is skipped).
	EnqueueChannelProbes(ctx context.Context, ids []int64) (int, error)
	// ChannelProbesPending is how many channel tests are still to run.
	ChannelProbesPending(ctx context.Context) (int, error)
}

// apiChannelProbeAll is GET /api/channel/test, One API's "test all
// channels": one test job per channel, worked by every node (spaced by
// POLLING_INTERVAL). It answers at once with how many were enqueued; results
// arrive on each channel (test_time, response_time) and in GET /api/jobs.
// ?scope= is all (the default, as One API), disabled or enabled.
func (h *Handler) apiChannelProbeAll(c echo.Context) error {
	if h.jobs == nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "background jobs are not running on this node")
	}
	var statuses []int16
	switch scope := c.QueryParam("scope"); scope {
	case "", "all":
	case "disabled":
		statuses = []int16{statusDisabled, channelStatusAutoDisabled}
	case "enabled":
		statuses = []int16{statusEnabled}
	default:
		return apiInvalid("scope %q: want all, enabled or disabled", scope)
	}
	ctx := c.Request().Context()
	ids, err := h.q.ChannelListIDs(ctx, statuses)
	if err != nil {
		return err
	}
	n, err := h.jobs.EnqueueChannelProbes(ctx, ids)
	if err != nil {
		return err
	}
	return apiOK(c, map[string]int{"channels": len(ids), "enqueued": n})
}

// channelStatusAutoDisabled is One API's status of a channel disabled by the
// gateway itself (a dead key, a failed test).
const channelStatusAutoDisabled int16 = 3

// apiJob is one River job as GET /api/jobs shows it.
type apiJob struct {
	ID          int64           `json:"id"`
	Kind        string          `json:"kind"`
	State       string          `json:"state"`
	Queue       string          `json:"queue"`
	Attempt     int16           `json:"attempt"`
	MaxAttempts int16           `json:"max_attempts"`
	Args        json.RawMessage `json:"args"`
	// Output is what the job recorded (a test's response time and result).
	Output      json.RawMessage `json:"output"`
	Errors      []apiJobError   `json:"errors"`
	AttemptedBy []string        `json:"attempted_by"`
	CreatedAt   time.Time       `json:"created_at"`
	ScheduledAt time.Time       `json:"scheduled_at"`
	AttemptedAt *time.Time      `json:"attempted_at"`
	FinalizedAt *time.Time      `json:"finalized_at"`
}

// apiJobError is one failed attempt; River's stack trace stays in the table.
type apiJobError struct {
	At      time.Time `json:"at"`
	Attempt int       `json:"attempt"`
	Error   string    `json:"error"`
}

// jobStates are River's job states, to refuse a misspelt filter.
var jobStates = map[string]bool{
	"available": true, "cancelled": true, "completed": true, "discarded": true,
	"pending": true, "retryable": true, "running": true, "scheduled": true,
}

// apiJobList is GET /api/jobs?kind=&state=&limit=: the newest River jobs of
// the whole cluster (limit 50 by default, at most 500). Finished jobs are
// kept a day.
func (h *Handler) apiJobList(c echo.Context) error {
	p := queries.JobListRecentParams{Kind: c.QueryParam("kind"), State: c.QueryParam("state"), MaxRows: 50}
	if p.State != "" && !jobStates[p.State] {
		return apiInvalid("state %q: want one of available, scheduled, running, retryable, completed, cancelled, discarded, pending", p.State)
	}
	if s := c.QueryParam("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 500 {
			return apiInvalid("limit: want a whole number from 1 to 500")
		}
		p.MaxRows = int32(n)
	}
	rows, err := h.q.JobListRecent(c.Request().Context(), p)
	if err != nil {
		return err
	}
	out := make([]apiJob, 0, len(rows))
	for _, r := range rows {
		j := apiJob{
			ID: r.ID, Kind: r.Kind, State: r.State, Queue: r.Queue, Attempt: r.Attempt, MaxAttempts: r.MaxAttempts,
			Args: r.Args, Output: r.Output, Errors: make([]apiJobError, 0, len(r.Errors)), AttemptedBy: r.AttemptedBy,
			CreatedAt: r.CreatedAt, ScheduledAt: r.ScheduledAt, AttemptedAt: r.AttemptedAt, FinalizedAt: r.FinalizedAt,
		}
		if j.AttemptedBy == nil {
			j.AttemptedBy = []string{}
		}
		for _, raw := range r.Errors {
			var e apiJobError
			if json.Unmarshal(raw, &e) == nil {
				j.Errors = append(j.Errors, e)
			}
		}
		out = append(out, j)
	}
	return apiOK(c, out)
}

// RootNotifier returns a function that mails a notice to the root user
// through the SMTP settings, for the background jobs (a channel disabled or
// re-enabled by its test, as One API notifies root). With no SMTP server
// configured, or no email address on root, it does nothing.
func RootNotifier(pool *pgxpool.Pool, cipher *keys.Cipher) func(ctx context.Context, subject, body string) error {
	q := queries.New(pool)
	return func(ctx context.Context, subject, body string) error {
		s, err := readSettings(ctx, q, cipher)
		if err != nil {
			return err
		}
		if s.str("SMTPServer") == "" {
			return nil
		}
		emails, err := q.UserListRootEmails(ctx)
		if err != nil {
			return fmt.Errorf("root email: %w", err)
		}
		var errs []error
		for _, to := range emails {
			if err := sendMail(ctx, s, to, subject, body); err != nil && !errors.Is(err, errMailNotConfigured) {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
}
