package jobs

import (
	"context"
	"strings"
	"testing"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"oneapi/queries"
	"oneapi/queries/dbtest"
	"oneapi/state"
)

// TestProbeWorkerThreshold: an answer slower than ChannelDisableThreshold
// counts as a failure: it disables an enabled channel (with a system log row
// and a notice) and does not re-enable an auto-disabled one. The threshold
// is a microsecond, so any answer over HTTP is too slow; "60" is never hit.
func TestProbeWorkerThreshold(t *testing.T) {
	tests := []struct {
		name        string
		status      int16
		threshold   string
		autoDisable string
		wantStatus  int16
		wantChange  string
		wantLog     string
	}{
		{name: "too slow disables", status: 1, threshold: "0.000001", wantStatus: 3, wantChange: "disabled", wantLog: "test too slow: response time"},
		{name: "too slow kept when auto-disable is off", status: 1, threshold: "0.000001", autoDisable: "false", wantStatus: 1},
		{name: "fast enough", status: 1, threshold: "60", wantStatus: 1},
		{name: "too slow is not re-enabled", status: 3, threshold: "0.000001", wantStatus: 3},
		{name: "fast enough is re-enabled", status: 3, threshold: "60", wantStatus: 1, wantChange: "enabled", wantLog: "enabled automatically"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pool := dbtest.Pool(t)
			u := newTestUpstream(t)
			var notices []string
			r := testRiver(t, pool, Deps{NotifyFunc: func(_ context.Context, subject, _ string) error {
				notices = append(notices, subject)
				return nil
			}})
			setOption(t, r, "ChannelDisableThreshold", tt.threshold)
			if tt.autoDisable != "" {
				setOption(t, r, "AutomaticDisableChannelEnabled", tt.autoDisable)
			}
			ch := createChannel(t, pool, u, channelOpts{Status: tt.status})
			if err := r.st.Reload(context.Background(), state.KindChannels, 0); err != nil {
				t.Fatal(err)
			}
			w := &probeWorker{r: r}
			if err := w.Work(context.Background(), &river.Job[ChannelProbeArgs]{JobRow: &rivertype.JobRow{}, Args: ChannelProbeArgs{ChannelID: ch.ID}}); err != nil {
				t.Fatalf("Work: %v", err)
			}
			got, err := queries.New(pool).ChannelGetByID(context.Background(), ch.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != tt.wantStatus {
				t.Errorf("status = %d, want %d", got.Status, tt.wantStatus)
			}
			if s := r.st.Routes().Channel(ch.ID).Status; s != tt.wantStatus {
				t.Errorf("state status = %d, want %d", s, tt.wantStatus)
			}
			logs := systemLogs(t, pool, ch.ID)
			switch {
			case tt.wantLog == "" && len(logs) > 0:
				t.Errorf("unexpected system log %q", logs)
			case tt.wantLog != "" && (len(logs) != 1 || !strings.Contains(logs[0], tt.wantLog)):
				t.Errorf("system log = %q, want one row with %q", logs, tt.wantLog)
			}
			if len(notices) != len(logs) {
				t.Errorf("notices = %q, want %d", notices, len(logs))
			}
		})
	}
}
