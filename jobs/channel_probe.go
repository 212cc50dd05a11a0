package jobs

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"oneapi/queries"
	"oneapi/relay"
	"oneapi/relay/adaptor"
	"oneapi/state"
)

// ChannelProbeArgs asks for one channel test: a tiny real chat request with
// the channel's test model (relay.Probe).
type ChannelProbeArgs struct {
	ChannelID int64 `json:"channel_id"`
}

// Kind is the job kind stored in river_job.
func (ChannelProbeArgs) Kind() string { return "channel_probe" }

// InsertOpts: one pending test per channel; three attempts, because only a
// failure of our own (database, shutdown, a killed node) makes the job fail:
// an upstream that does not answer is a test result, recorded as such.
func (ChannelProbeArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueChannels, MaxAttempts: 3, UniqueOpts: oneAtATime}
}

// ChannelProbeAllArgs is the periodic CHANNEL_TEST_FREQUENCY job: it enqueues
// one ChannelProbeArgs per channel a test can change (enabled, or disabled
// automatically), so the tests spread over every node's workers.
type ChannelProbeAllArgs struct{}

// Kind is the job kind stored in river_job.
func (ChannelProbeAllArgs) Kind() string { return "channel_probe_all" }

// probeOutput is what a test job records (GET /api/jobs shows it).
type probeOutput struct {
	ChannelID  int64  `json:"channel_id"`
	Model      string `json:"model"`
	OK         bool   `json:"ok"`
	ResponseMS int64  `json:"response_ms"`
	Error      string `json:"error,omitempty"`
	// StatusChange is "disabled" or "enabled" when the test changed the
	// channel's status.
	StatusChange string `json:"status_change,omitempty"`
	// TooSlow says why an answer counted as a failure: slower than
	// ChannelDisableThreshold.
	TooSlow string `json:"too_slow,omitempty"`
}

type probeWorker struct {
	river.WorkerDefaults[ChannelProbeArgs]
	r *River
}

func (w *probeWorker) Timeout(*river.Job[ChannelProbeArgs]) time.Duration {
	return w.r.timeout(probeJobTimeout)
}

// Work tests the channel, records the response time (0 on failure, as One
// API does) and, as the AutomaticDisableChannelEnabled and
// AutomaticEnableChannelEnabled options say, disables a channel whose key is
// dead or whose answer took longer than ChannelDisableThreshold, or
// re-enables one that was disabled automatically and answers again in time.
// A channel an admin disabled is never re-enabled.
func (w *probeWorker) Work(ctx context.Context, job *river.Job[ChannelProbeArgs]) error {
	r, id := w.r, job.Args.ChannelID
	ch, err := r.channel(ctx, id)
	if err != nil {
		return err
	}
	model := relay.ProbeModel(ch, "")
	elapsed, perr := relay.Probe(ctx, r.d.HTTPClient, ch, model)
	if ctx.Err() != nil {
		// Shutdown or our own timeout, not the upstream's: try again later.
		return fmt.Errorf("channel %d test interrupted: %w", id, ctx.Err())
	}
	out := probeOutput{ChannelID: id, Model: model, OK: perr == nil, ResponseMS: elapsed.Milliseconds()}
	ms := int32(min(elapsed.Milliseconds(), math.MaxInt32))
	if perr != nil {
		ms = 0
		out.Error = perr.Error()
	}
	if err := r.q.ChannelSetTestResult(ctx, queries.ChannelSetTestResultParams{ID: id, ResponseTimeMs: ms}); err != nil {
		return fmt.Errorf("record test of channel %d: %w", id, err)
	}

	opts := r.st.Options()
	if perr == nil {
		out.TooSlow = opts.ProbeTooSlow(elapsed)
	}
	var ue *adaptor.UpstreamError
	switch {
	case perr != nil && errors.As(perr, &ue) && ue.Class == adaptor.ClassDisable &&
		ch.Status == state.StatusEnabled && opts.AutoDisableChannel:
		changed, err := r.disableChannel(ctx, ch, "test failed: "+ue.Message)
		if err != nil {
			return err
		}
		if changed {
			out.StatusChange = "disabled"
		}
	case out.TooSlow != "" && ch.Status == state.StatusEnabled && opts.AutoDisableChannel:
		changed, err := r.disableChannel(ctx, ch, "test too slow: "+out.TooSlow)
		if err != nil {
			return err
		}
		if changed {
			out.StatusChange = "disabled"
		}
	case perr == nil && out.TooSlow == "" && ch.Status == state.StatusAutoDisabled && opts.AutoEnableChannel:
		changed, err := r.enableChannel(ctx, ch)
		if err != nil {
			return err
		}
		if changed {
			out.StatusChange = "enabled"
		}
	}
	recordOutput(ctx, out)
	return nil
}

// channel returns channel id with its decrypted key. A channel created on
// another node a moment ago may not be in this node's state yet: one reload
// settles that. A channel that no longer exists cancels the job (nothing to
// retry); one whose key cannot be decrypted fails it, visibly.
func (r *River) channel(ctx context.Context, id int64) (*state.Channel, error) {
	if ch := r.st.Routes().Channel(id); ch != nil {
		return ch, nil
	}
	if err := r.st.Reload(ctx, state.KindChannels, id); err != nil {
		return nil, err
	}
	if ch := r.st.Routes().Channel(id); ch != nil {
		return ch, nil
	}
	if _, err := r.q.ChannelGetByID(ctx, id); errors.Is(err, pgx.ErrNoRows) {
		return nil, river.JobCancel(fmt.Errorf("channel %d no longer exists", id))
	} else if err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("channel %d is in the database but not in the routing state: is its key encrypted with another ENCRYPTION_KEY?", id)
}

// disableChannel disables ch automatically through the state (which writes
// the system log row and applies the change here; the table trigger tells the
// other nodes), and tells root. changed is false when the channel was no
// longer enabled (an admin or another node got there first).
func (r *River) disableChannel(ctx context.Context, ch *state.Channel, reason string) (bool, error) {
	if err := r.st.DisableChannel(ctx, ch.ID, reason); err != nil {
		return false, fmt.Errorf("disable channel %d: %w", ch.ID, err)
	}
	now := r.st.Routes().Channel(ch.ID)
	if now == nil || now.Status != state.StatusAutoDisabled {
		return false, nil
	}
	r.log.Warn("channel disabled by its test", "channel", ch.ID, "name", ch.Name, "reason", reason)
	r.notify(ctx, fmt.Sprintf("Channel %q (#%d) was disabled", ch.Name, ch.ID),
		fmt.Sprintf("Channel %q (#%d) was disabled automatically: %s", ch.Name, ch.ID, reason))
	return true, nil
}

// enableChannel re-enables a channel that was disabled automatically (3 to 1
// only), with a system log row in the same transaction.
func (r *River) enableChannel(ctx context.Context, ch *state.Channel) (bool, error) {
	var changed bool
	err := queries.InTx(ctx, r.pool, func(q *queries.Queries) error {
		n, err := q.ChannelEnableAuto(ctx, ch.ID)
		if err != nil || n == 0 {
			return err
		}
		changed = true
		return q.LogInsert(ctx, queries.LogInsertParams{
			Type: logTypeSystem, ChannelID: ch.ID,
			Content: fmt.Sprintf("channel %d enabled automatically: its test passed", ch.ID),
		})
	})
	if err != nil {
		return false, fmt.Errorf("enable channel %d: %w", ch.ID, err)
	}
	if !changed {
		return false, nil
	}
	if err := r.st.Reload(ctx, state.KindChannels, ch.ID); err != nil {
		// Committed: the listener and the periodic reload catch up.
		r.log.Error("reload channels after enabling", "channel", ch.ID, "err", err)
	}
	r.log.Info("channel re-enabled by its test", "channel", ch.ID, "name", ch.Name)
	r.notify(ctx, fmt.Sprintf("Channel %q (#%d) was enabled", ch.Name, ch.ID),
		fmt.Sprintf("Channel %q (#%d) passed its test and was enabled again.", ch.Name, ch.ID))
	return true, nil
}

// notify tells root, best effort: the status change is already committed and
// logged, and a mail failure must not make the job run (and test) again.
func (r *River) notify(ctx context.Context, subject, body string) {
	if r.d.NotifyFunc == nil {
		return
	}
	if err := r.d.NotifyFunc(ctx, subject, body); err != nil {
		r.log.Warn("notify root", "subject", subject, "err", err)
	}
}

// logTypeSystem is One API's log type for system events.
const logTypeSystem = 4

type probeAllWorker struct {
	river.WorkerDefaults[ChannelProbeAllArgs]
	r *River
}

func (w *probeAllWorker) Timeout(*river.Job[ChannelProbeAllArgs]) time.Duration {
	return w.r.timeout(fanOutJobTimeout)
}

func (w *probeAllWorker) Work(ctx context.Context, job *river.Job[ChannelProbeAllArgs]) error {
	ids, err := w.r.q.ChannelListIDs(ctx, []int16{state.StatusEnabled, state.StatusAutoDisabled})
	if err != nil {
		return err
	}
	n, err := w.r.EnqueueChannelProbes(ctx, ids)
	if err != nil {
		return err
	}
	recordOutput(ctx, map[string]int{"channels": len(ids), "enqueued": n})
	return nil
}
