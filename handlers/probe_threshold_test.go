package handlers

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"oneapi/queries"
	"oneapi/state"
)

// TestAPIChannelProbeThreshold: a channel test that answers after
// ChannelDisableThreshold fails with a message, and disables the channel
// (with a system log row) when AutomaticDisableChannelEnabled is on. The
// threshold here is a microsecond, so any real answer is too slow.
func TestAPIChannelProbeThreshold(t *testing.T) {
	t.Parallel()
	const key = "sk-threshold-upstream-key-0123456789"
	tests := []struct {
		name        string
		threshold   string
		autoDisable string
		wantSuccess bool
		wantStatus  int16
		wantLog     bool
	}{
		{name: "no threshold", threshold: "0", autoDisable: "true", wantSuccess: true, wantStatus: 1},
		{name: "under the threshold", threshold: "60", autoDisable: "true", wantSuccess: true, wantStatus: 1},
		{name: "too slow disables", threshold: "0.000001", autoDisable: "true", wantStatus: 3, wantLog: true},
		{name: "too slow, auto-disable off", threshold: "0.000001", autoDisable: "false", wantStatus: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := newTestApp(t)
			_, admin := apiTestUser(t, a, "admin", roleAdmin)
			up := newFakeUpstream(t, key)
			ctx := context.Background()
			q := queries.New(a.pool)
			for k, v := range map[string]string{"ChannelDisableThreshold": tt.threshold, "AutomaticDisableChannelEnabled": tt.autoDisable} {
				if err := q.OptionUpsert(ctx, queries.OptionUpsertParams{Key: k, Value: v}); err != nil {
					t.Fatal(err)
				}
			}
			if err := a.state.Reload(ctx, state.KindOptions, 0); err != nil {
				t.Fatal(err)
			}
			var ch []apiChannel
			mustAPI(t, a, http.MethodPost, "/api/channel/", fmt.Sprintf(`{"type":1,"key":%q,"base_url":%q,"models":"gpt-4o"}`, key, up.URL), admin, &ch)
			id := ch[0].ID

			code, r, _ := apiCall(t, a, http.MethodGet, fmt.Sprintf("/api/channel/test/%d", id), "", admin)
			wantCode := http.StatusOK
			if !tt.wantSuccess {
				wantCode = http.StatusGatewayTimeout
			}
			if code != wantCode || r.Success != tt.wantSuccess {
				t.Fatalf("test = %d success=%v %q, want %d success=%v", code, r.Success, r.Message, wantCode, tt.wantSuccess)
			}
			if !tt.wantSuccess && !strings.Contains(r.Message, "ChannelDisableThreshold") {
				t.Errorf("message %q does not say why", r.Message)
			}
			if tt.wantLog != strings.Contains(r.Message, "disabled automatically") {
				t.Errorf("message %q, want disabled=%v", r.Message, tt.wantLog)
			}
			row, err := q.ChannelGetByID(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if row.Status != tt.wantStatus || row.ResponseTimeMs == 0 {
				t.Errorf("status %d response %d ms, want status %d and the time recorded", row.Status, row.ResponseTimeMs, tt.wantStatus)
			}
			if s := a.state.Routes().Channel(id).Status; s != tt.wantStatus {
				t.Errorf("routing state status = %d, want %d", s, tt.wantStatus)
			}
			var logs int
			if err := a.pool.QueryRow(ctx, "SELECT count(*) FROM logs WHERE type = 4 AND channel_id = $1 AND content LIKE '%too slow%'", id).Scan(&logs); err != nil {
				t.Fatal(err)
			}
			if (logs == 1) != tt.wantLog || logs > 1 {
				t.Errorf("%d system log rows, want %v", logs, tt.wantLog)
			}
		})
	}
}

// TestConsoleProbeTooSlow: the console's test button shows the verdict in
// the row.
func TestConsoleProbeTooSlow(t *testing.T) {
	t.Parallel()
	a := newAccountApp(t, nil)
	c, _ := signedIn(t, a, "boss", roleAdmin)
	const key = "sk-console-threshold-0123456789"
	up := newFakeUpstream(t, key)
	a.setOption(t, "ChannelDisableThreshold", "0.000001")
	if err := a.state.Reload(context.Background(), state.KindOptions, 0); err != nil {
		t.Fatal(err)
	}
	if rec := c.post("/channels", map[string][]string{"type": {"1"}, "name": {"slow"}, "key": {key}, "base_url": {up.URL}, "models": {"gpt-4o"}}); rec.Code != http.StatusSeeOther {
		t.Fatalf("create = %d", rec.Code)
	}
	var id int64
	if err := a.pool.QueryRow(context.Background(), "SELECT id FROM channels WHERE name = 'slow'").Scan(&id); err != nil {
		t.Fatal(err)
	}
	rec := c.post(fmt.Sprintf("/channels/%d/probe", id), nil, htmx(fmt.Sprintf("channel-%d", id))...)
	body := rec.Body.String()
	if rec.Code != http.StatusOK || testids(body, "channel-probe-error") != 1 || !strings.Contains(body, "ChannelDisableThreshold") ||
		!strings.Contains(body, "auto-disabled") {
		t.Errorf("probe row = %d:\n%s", rec.Code, body)
	}
}
