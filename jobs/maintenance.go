package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"oneapi/queries"
)

// LogRetentionOption is the option key of the log retention: days of
// consumption logs to keep, 0 = keep forever. The state package registers
// it (state.Options.LogRetentionDays).
const LogRetentionOption = "LogRetentionDays"

// ReservationSweepArgs is the periodic job that settles reservations a dead
// node left behind (relay.Meter.SweepStale), at their estimate.
type ReservationSweepArgs struct{}

// Kind is the job kind stored in river_job.
func (ReservationSweepArgs) Kind() string { return "reservation_sweep" }

type sweepWorker struct {
	river.WorkerDefaults[ReservationSweepArgs]
	r *River
}

func (w *sweepWorker) Timeout(*river.Job[ReservationSweepArgs]) time.Duration {
	return w.r.timeout(sweepJobTimeout)
}

func (w *sweepWorker) Work(ctx context.Context, job *river.Job[ReservationSweepArgs]) error {
	r := w.r
	deadAfter := r.d.NodeDeadAfter
	if deadAfter <= 0 {
		deadAfter = time.Minute
	}
	n, err := r.d.Meter.SweepStale(ctx, deadAfter)
	if err != nil {
		return fmt.Errorf("sweep stale reservations: %w", err)
	}
	if n > 0 {
		r.log.Warn("settled stale reservations at their estimate", "count", n)
	}
	recordOutput(ctx, map[string]int{"settled": n})
	return nil
}

// LogRetentionArgs is the hourly job that deletes consumption logs older than
// LogRetentionDays.
type LogRetentionArgs struct{}

// Kind is the job kind stored in river_job.
func (LogRetentionArgs) Kind() string { return "log_retention" }

type logRetentionWorker struct {
	river.WorkerDefaults[LogRetentionArgs]
	r *River
}

func (w *logRetentionWorker) Timeout(*river.Job[LogRetentionArgs]) time.Duration {
	return w.r.timeout(retentionJobTimeout)
}

// logDeleteBatch bounds one DELETE: small enough to keep each transaction
// short beside the meter's inserts, large enough to clear a backlog.
const logDeleteBatch = 5000

// Work deletes consumption logs (type 2) older than the retention, in
// batches; other log types (top-ups, admin and system events) are kept.
func (w *logRetentionWorker) Work(ctx context.Context, job *river.Job[LogRetentionArgs]) error {
	r := w.r
	days := r.st.Options().LogRetentionDays
	if days <= 0 {
		recordOutput(ctx, map[string]int{"deleted": 0})
		return nil
	}
	cutoff := time.Now().AddDate(0, 0, -days)
	var total int64
	for {
		n, err := r.q.LogDeleteConsumeBefore(ctx, queries.LogDeleteConsumeBeforeParams{Cutoff: cutoff, BatchSize: logDeleteBatch})
		if err != nil {
			return fmt.Errorf("delete logs before %s: %w", cutoff.Format(time.RFC3339), err)
		}
		total += n
		if n < logDeleteBatch {
			break
		}
	}
	if total > 0 {
		r.log.Info("deleted old consumption logs", "count", total, "before", cutoff.Format(time.RFC3339))
	}
	recordOutput(ctx, map[string]int64{"deleted": total})
	return nil
}

// AccountCleanupArgs is the hourly job that deletes what the sign-in paths
// leave behind: mailed codes a day past expiry and ended login-failure
// windows. Neither is read once expired, so this only keeps the tables small.
// Sessions are not here: scs' Postgres store deletes expired ones itself
// (handlers.newSessionManager sets its cleanup interval).
type AccountCleanupArgs struct{}

// Kind is the job kind stored in river_job.
func (AccountCleanupArgs) Kind() string { return "account_cleanup" }

type accountCleanupWorker struct {
	river.WorkerDefaults[AccountCleanupArgs]
	r *River
}

func (w *accountCleanupWorker) Timeout(*river.Job[AccountCleanupArgs]) time.Duration {
	return w.r.timeout(sweepJobTimeout)
}

// Work deletes both kinds of expired rows. Each DELETE is one statement:
// the tables hold at most an hour or a day of sign-in traffic.
func (w *accountCleanupWorker) Work(ctx context.Context, job *river.Job[AccountCleanupArgs]) error {
	codes, err := w.r.q.AccountCodeDeleteExpired(ctx)
	if err != nil {
		return fmt.Errorf("delete expired account codes: %w", err)
	}
	failures, err := w.r.q.LoginFailureDeleteExpired(ctx)
	if err != nil {
		return fmt.Errorf("delete expired login failures: %w", err)
	}
	recordOutput(ctx, map[string]int64{"account_codes": codes, "login_failures": failures})
	return nil
}
