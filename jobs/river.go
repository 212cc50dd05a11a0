package jobs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"oneapi/queries"
	"oneapi/state"
)

// Queues. Channel work (tests, balances) is slow network I/O and comes in
// bursts of one job per channel; maintenance gets its own small queue so a
// burst of channel tests never delays the reservation sweeper.
const (
	QueueChannels    = "channels"
	QueueMaintenance = "maintenance"
)

// Sweeper settles reservations a dead node left behind (relay.Meter).
type Sweeper interface {
	SweepStale(ctx context.Context, olderThan time.Duration) (int, error)
}

// Deps is what the workers need. Zero durations mean the defaults (or, for
// the frequencies, that the periodic job is off).
type Deps struct {
	State *state.State
	Log   *slog.Logger
	// HTTPClient calls upstreams for channel tests and balances.
	HTTPClient *http.Client
	// Meter, when set, is swept of stale reservations every minute.
	Meter Sweeper
	// NodeDeadAfter is how long a node may go without renewing its meter
	// heartbeat before its reservations are swept (relay.NodeDeadAfter).
	NodeDeadAfter time.Duration
	// NodeID names this node in River (river_job.attempted_by).
	NodeID string

	ChannelTestFrequency   time.Duration // CHANNEL_TEST_FREQUENCY; 0 = off
	ChannelUpdateFrequency time.Duration // CHANNEL_UPDATE_FREQUENCY; 0 = off
	PollingInterval        time.Duration // POLLING_INTERVAL: spacing of channel requests

	// NotifyFunc, when set, tells root about channel status changes (mail).
	// Its failure is logged, never retried.
	NotifyFunc func(ctx context.Context, subject, body string) error

	// RescueStuckJobsAfter is how long a job may stay running before River's
	// rescuer (on the leader) gives it to another node: its node was killed.
	// Default 2 minutes (or the job's timeout, when longer). Tests shorten it
	// together with JobTimeout.
	RescueStuckJobsAfter time.Duration
	// JobTimeout, when set, bounds every job instead of the per-kind
	// defaults (tests only).
	JobTimeout time.Duration
}

// River is the node's River client with its workers and periodic jobs.
// Every node works jobs; periodic jobs are enqueued by River's elected leader
// only, so each runs once per cluster.
type River struct {
	client *river.Client[pgx.Tx]
	pool   *pgxpool.Pool
	q      *queries.Queries
	st     *state.State
	log    *slog.Logger
	d      Deps
}

// Default job timeouts per kind. River's rescuer never takes a job from a
// node before its timeout has passed, so they also bound how long a job of a
// killed node waits (together with RescueStuckJobsAfter).
const (
	probeJobTimeout     = 45 * time.Second // relay.ProbeTimeout plus the database writes
	balanceJobTimeout   = 45 * time.Second
	fanOutJobTimeout    = time.Minute
	sweepJobTimeout     = time.Minute
	retentionJobTimeout = 10 * time.Minute
	// defaultRescueAfter is short because the rescuer also waits for a
	// job's own timeout: log retention is never taken from a live node.
	defaultRescueAfter = 2 * time.Minute
)

// NewRiver builds the River client on pool (the gateway's database; River's
// tables come from migrations 00011 and 00012). Call Start, and Stop before
// closing what the workers use (the meter).
func NewRiver(pool *pgxpool.Pool, d Deps) (*River, error) {
	if d.State == nil || d.Log == nil || d.HTTPClient == nil {
		return nil, errors.New("jobs: State, Log and HTTPClient are required")
	}
	r := &River{pool: pool, q: queries.New(pool), st: d.State, log: d.Log, d: d}

	workers := river.NewWorkers()
	if err := errors.Join(
		river.AddWorkerSafely(workers, &probeWorker{r: r}),
		river.AddWorkerSafely(workers, &probeAllWorker{r: r}),
		river.AddWorkerSafely(workers, &balanceWorker{r: r}),
		river.AddWorkerSafely(workers, &balanceAllWorker{r: r}),
		river.AddWorkerSafely(workers, &sweepWorker{r: r}),
		river.AddWorkerSafely(workers, &logRetentionWorker{r: r}),
		river.AddWorkerSafely(workers, &accountCleanupWorker{r: r}),
	); err != nil {
		return nil, err
	}

	var periodic []*river.PeriodicJob
	every := func(interval time.Duration, runOnStart bool, args river.JobArgs, queue string) {
		periodic = append(periodic, river.NewPeriodicJob(river.PeriodicInterval(interval),
			func() (river.JobArgs, *river.InsertOpts) {
				// Unique per period: when leadership moves (a node restarts),
				// the new leader's schedule does not add a second run.
				return args, &river.InsertOpts{Queue: queue, MaxAttempts: 1, UniqueOpts: river.UniqueOpts{ByPeriod: interval}}
			}, &river.PeriodicJobOpts{ID: args.Kind(), RunOnStart: runOnStart}))
	}
	if d.ChannelTestFrequency > 0 {
		every(d.ChannelTestFrequency, false, ChannelProbeAllArgs{}, QueueChannels)
	}
	if d.ChannelUpdateFrequency > 0 {
		every(d.ChannelUpdateFrequency, false, ChannelBalanceAllArgs{}, QueueChannels)
	}
	if d.Meter != nil {
		// Once at start, as the goroutine it replaces did, then every minute.
		every(time.Minute, true, ReservationSweepArgs{}, QueueMaintenance)
	}
	every(time.Hour, true, LogRetentionArgs{}, QueueMaintenance)
	every(time.Hour, true, AccountCleanupArgs{}, QueueMaintenance)

	rescue := cmp.Or(d.RescueStuckJobsAfter, defaultRescueAfter)
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		ID:     d.NodeID,
		Logger: d.Log.With("component", "river"),
		Queues: map[string]river.QueueConfig{
			QueueChannels:    {MaxWorkers: 16},
			QueueMaintenance: {MaxWorkers: 2},
		},
		Workers:              workers,
		PeriodicJobs:         periodic,
		JobTimeout:           cmp.Or(d.JobTimeout, time.Minute),
		RescueStuckJobsAfter: rescue,
		// Job rows are the history GET /api/jobs shows: keep a day of them.
		CompletedJobRetentionPeriod: 24 * time.Hour,
	})
	if err != nil {
		return nil, fmt.Errorf("river client: %w", err)
	}
	r.client = client
	return r, nil
}

// Start starts working jobs (and, on the leader, periodic ones).
func (r *River) Start(ctx context.Context) error { return r.client.Start(ctx) }

// Stop lets running jobs finish until ctx ends, then cancels them. A job cut
// off this way is retried by a node still running, as a killed node's is.
func (r *River) Stop(ctx context.Context) error {
	err := r.client.Stop(ctx)
	if err == nil {
		return nil
	}
	cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return errors.Join(err, r.client.StopAndCancel(cctx))
}

// Client is the River client, for tests and tools.
func (r *River) Client() *river.Client[pgx.Tx] { return r.client }

// EnqueueChannelProbes enqueues one channel_probe job per channel id, spaced
// by POLLING_INTERVAL, and returns how many were enqueued: a channel whose
// test is already queued or running is skipped rather than tested twice.
func (r *River) EnqueueChannelProbes(ctx context.Context, ids []int64) (int, error) {
	params := make([]river.InsertManyParams, len(ids))
	for i, id := range ids {
		params[i] = river.InsertManyParams{Args: ChannelProbeArgs{ChannelID: id}, InsertOpts: r.spaced(i)}
	}
	return r.insertMany(ctx, params)
}

// ChannelProbesPending is how many channel tests are still to run.
func (r *River) ChannelProbesPending(ctx context.Context) (int, error) {
	n, err := r.q.JobsUnfinished(ctx, ChannelProbeArgs{}.Kind())
	return int(n), err
}

// enqueueChannelBalances is EnqueueChannelProbes for balance updates.
func (r *River) enqueueChannelBalances(ctx context.Context, ids []int64) (int, error) {
	params := make([]river.InsertManyParams, len(ids))
	for i, id := range ids {
		params[i] = river.InsertManyParams{Args: ChannelBalanceArgs{ChannelID: id}, InsertOpts: r.spaced(i)}
	}
	return r.insertMany(ctx, params)
}

// spaced schedules the i-th job of a batch POLLING_INTERVAL after the one
// before it, as One API sleeps between channels. The spacing holds across
// nodes because it is in the schedule, not in a sleeping worker. River's
// scheduler promotes scheduled jobs every 5 seconds, so intervals shorter
// than that are kept on average, a few requests at a time.
func (r *River) spaced(i int) *river.InsertOpts {
	if r.d.PollingInterval <= 0 || i == 0 {
		return nil
	}
	return &river.InsertOpts{ScheduledAt: time.Now().Add(time.Duration(i) * r.d.PollingInterval)}
}

func (r *River) insertMany(ctx context.Context, params []river.InsertManyParams) (int, error) {
	if len(params) == 0 {
		return 0, nil
	}
	res, err := r.client.InsertMany(ctx, params)
	if err != nil {
		return 0, fmt.Errorf("enqueue %d jobs: %w", len(params), err)
	}
	n := 0
	for _, x := range res {
		if !x.UniqueSkippedAsDuplicate {
			n++
		}
	}
	return n, nil
}

// timeout is the job timeout for a kind whose default is def.
func (r *River) timeout(def time.Duration) time.Duration { return cmp.Or(r.d.JobTimeout, def) }

// oneAtATime makes a job unique among the jobs not yet finished: a second
// insert of the same args while one is queued or running is skipped.
var oneAtATime = river.UniqueOpts{
	ByArgs: true,
	ByState: []rivertype.JobState{
		rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRetryable,
		rivertype.JobStateRunning, rivertype.JobStateScheduled,
	},
}

// recordOutput stores a job's result in its row (metadata.output), shown by
// GET /api/jobs. It fails only outside a worker (unit tests calling Work) or
// for outputs over 32 MB, neither of which should fail the job.
func recordOutput(ctx context.Context, v any) { _ = river.RecordOutput(ctx, v) }
