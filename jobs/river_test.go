package jobs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"oneapi/keys"
	"oneapi/migrations"
	"oneapi/queries"
	"oneapi/queries/dbtest"
	"oneapi/relay/adaptor"
	"oneapi/state"
)

var testCipher, _ = keys.NewCipher(bytes.Repeat([]byte{1}, 32))

var discardLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// testUpstream is an OpenAI-compatible upstream serving every channel of a
// test under /c/<channel id>, counting the requests per channel. reply picks
// the answer per channel: 0 or 200 answers a chat completion.
type testUpstream struct {
	*httptest.Server
	mu    sync.Mutex
	hits  map[int64]int
	reply map[int64]int
}

func newTestUpstream(t *testing.T) *testUpstream {
	t.Helper()
	u := &testUpstream{hits: map[int64]int{}, reply: map[int64]int{}}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest, ok := strings.CutPrefix(r.URL.Path, "/c/")
		idStr, path, _ := strings.Cut(rest, "/")
		id, err := strconv.ParseInt(idStr, 10, 64)
		if !ok || err != nil || path != "v1/chat/completions" {
			http.Error(w, "unexpected path "+r.URL.Path, http.StatusNotFound)
			return
		}
		u.mu.Lock()
		u.hits[id]++
		status := u.reply[id]
		u.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch status {
		case 0, http.StatusOK:
			_, _ = io.WriteString(w, `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m",
				"choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"length"}],
				"usage":{"prompt_tokens":8,"completion_tokens":1,"total_tokens":9}}`)
		case http.StatusUnauthorized:
			w.WriteHeader(status)
			_, _ = io.WriteString(w, `{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}`)
		default:
			w.WriteHeader(status)
			_, _ = io.WriteString(w, `{"error":{"message":"upstream overloaded","type":"server_error"}}`)
		}
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *testUpstream) set(id int64, status int) {
	u.mu.Lock()
	u.reply[id] = status
	u.mu.Unlock()
}

func (u *testUpstream) count(id int64) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.hits[id]
}

// channelOpts are the fields a test channel differs in.
type channelOpts struct {
	Type    int32
	Status  int16
	BaseURL string // default: the test upstream's URL for this channel
	Models  string
}

// createChannel inserts a channel whose upstream is u (when given).
func createChannel(t *testing.T, pool *pgxpool.Pool, u *testUpstream, o channelOpts) queries.Channel {
	t.Helper()
	if o.Type == 0 {
		o.Type = adaptor.TypeOpenAI
	}
	if o.Status == 0 {
		o.Status = state.StatusEnabled
	}
	if o.Models == "" {
		o.Models = "gpt-4o-mini"
	}
	q := queries.New(pool)
	ch, err := q.ChannelCreate(context.Background(), queries.ChannelCreateParams{
		Type: o.Type, Name: "c", KeyCiphertext: testCipher.Seal("sk-upstream-test-key"), KeyHint: "test",
		BaseURL: o.BaseURL, Models: o.Models, Groups: "default", Status: o.Status,
	})
	if err != nil {
		t.Fatal(err)
	}
	if o.BaseURL == "" && u != nil {
		if _, err := pool.Exec(context.Background(), "UPDATE channels SET base_url = $2 WHERE id = $1",
			ch.ID, fmt.Sprintf("%s/c/%d", u.URL, ch.ID)); err != nil {
			t.Fatal(err)
		}
		ch.BaseURL = fmt.Sprintf("%s/c/%d", u.URL, ch.ID)
	}
	return ch
}

// testRiver is a River on pool whose workers are called directly.
func testRiver(t *testing.T, pool *pgxpool.Pool, d Deps) *River {
	t.Helper()
	st, err := state.New(context.Background(), pool, testCipher, discardLog)
	if err != nil {
		t.Fatal(err)
	}
	d.State, d.Log = st, discardLog
	if d.HTTPClient == nil {
		d.HTTPClient = &http.Client{}
	}
	r, err := NewRiver(pool, d)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func setOption(t *testing.T, r *River, key, value string) {
	t.Helper()
	ctx := context.Background()
	if err := queries.New(r.pool).OptionUpsert(ctx, queries.OptionUpsertParams{Key: key, Value: value}); err != nil {
		t.Fatal(err)
	}
	if err := r.st.Reload(ctx, state.KindOptions, 0); err != nil {
		t.Fatal(err)
	}
}

func systemLogs(t *testing.T, pool *pgxpool.Pool, channelID int64) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), "SELECT content FROM logs WHERE type = 4 AND channel_id = $1 ORDER BY id", channelID)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// TestRiverSchemaCurrent: the goose migrations hold every River migration of
// the River version in go.mod. After a River upgrade that brings a new one,
// this fails: add a goose file with its SQL (see 00011_river.sql).
func TestRiverSchemaCurrent(t *testing.T) {
	pool := dbtest.Pool(t)
	m, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Logger: discardLog})
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Validate(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK {
		t.Errorf("River migrations missing from migrations/: %v", res.Messages)
	}
}

// TestRiverMigrationsUnedited: migrations 00011 and 00012 hold River's own
// SQL, as rivermigrate (and so `river migrate-get`) gives it for this River
// version, between goose's markers.
func TestRiverMigrationsUnedited(t *testing.T) {
	m, err := rivermigrate.New(riverpgxv5.New(nil), &rivermigrate.Config{Logger: discardLog})
	if err != nil {
		t.Fatal(err)
	}
	var up, down strings.Builder
	for _, name := range []string{"00011_river.sql", "00012_river.sql"} {
		b, err := fs.ReadFile(migrations.FS, name)
		if err != nil {
			t.Fatal(err)
		}
		u, d, ok := strings.Cut(string(b), "-- +goose Down")
		if !ok {
			t.Fatalf("%s has no Down section", name)
		}
		up.WriteString(u)
		down.WriteString(d)
	}
	strip := func(s string) string {
		s = strings.ReplaceAll(s, "-- +goose StatementBegin\n", "")
		return strings.ReplaceAll(s, "-- +goose StatementEnd\n", "")
	}
	upText, downText := strip(up.String()), strip(down.String())
	for _, v := range m.AllVersions() {
		for _, c := range []struct {
			dir, sql, in string
		}{{"up", v.SQLUp, upText}, {"down", v.SQLDown, downText}} {
			want := fmt.Sprintf("-- River migration %03d [%s]\n%s\n", v.Version, c.dir,
				strings.TrimSpace(strings.ReplaceAll(c.sql, "/* TEMPLATE: schema */", "")))
			if !strings.Contains(c.in, want) {
				t.Errorf("River migration %03d [%s] is not in migrations/ as River has it", v.Version, c.dir)
			}
		}
	}
}

func TestProbeWorker(t *testing.T) {
	tests := []struct {
		name         string
		status       int16 // channel status before
		upstream     int   // upstream answer
		autoDisable  string
		autoEnable   string
		wantStatus   int16
		wantOK       bool
		wantChange   string
		wantLogWords string // in the system log row, "" = no row
	}{
		{name: "healthy", status: 1, upstream: 200, wantStatus: 1, wantOK: true},
		{name: "dead key disables", status: 1, upstream: 401, wantStatus: 3, wantChange: "disabled", wantLogWords: "disabled automatically"},
		{name: "dead key kept when auto-disable is off", status: 1, upstream: 401, autoDisable: "false", wantStatus: 1},
		{name: "overloaded upstream is not dead", status: 1, upstream: 503, wantStatus: 1},
		{name: "recovered channel re-enabled", status: 3, upstream: 200, wantStatus: 1, wantOK: true, wantChange: "enabled", wantLogWords: "enabled automatically"},
		{name: "recovered channel kept when auto-enable is off", status: 3, upstream: 200, autoEnable: "false", wantStatus: 3, wantOK: true},
		{name: "manually disabled channel never re-enabled", status: 2, upstream: 200, wantStatus: 2, wantOK: true},
		{name: "still dead stays disabled", status: 3, upstream: 401, wantStatus: 3},
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
			if tt.autoDisable != "" {
				setOption(t, r, "AutomaticDisableChannelEnabled", tt.autoDisable)
			}
			if tt.autoEnable != "" {
				setOption(t, r, "AutomaticEnableChannelEnabled", tt.autoEnable)
			}
			ch := createChannel(t, pool, u, channelOpts{Status: tt.status})
			u.set(ch.ID, tt.upstream)
			if err := r.st.Reload(context.Background(), state.KindChannels, 0); err != nil {
				t.Fatal(err)
			}

			w := &probeWorker{r: r}
			job := &river.Job[ChannelProbeArgs]{JobRow: &rivertype.JobRow{}, Args: ChannelProbeArgs{ChannelID: ch.ID}}
			if err := w.Work(context.Background(), job); err != nil {
				t.Fatalf("Work: %v", err)
			}
			if u.count(ch.ID) != 1 {
				t.Errorf("upstream hit %d times, want 1", u.count(ch.ID))
			}
			got, err := queries.New(pool).ChannelGetByID(context.Background(), ch.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != tt.wantStatus {
				t.Errorf("status = %d, want %d", got.Status, tt.wantStatus)
			}
			if got.TestTime == nil {
				t.Error("test_time not recorded")
			}
			// A local answer may take under a millisecond, so only a failure's
			// 0 (One API's convention) is certain.
			if !tt.wantOK && got.ResponseTimeMs != 0 {
				t.Errorf("failed test recorded response time %d, want 0", got.ResponseTimeMs)
			}
			// The node's own state follows at once.
			if s := r.st.Routes().Channel(ch.ID).Status; s != tt.wantStatus {
				t.Errorf("state status = %d, want %d", s, tt.wantStatus)
			}
			logs := systemLogs(t, pool, ch.ID)
			switch {
			case tt.wantLogWords == "" && len(logs) > 0:
				t.Errorf("unexpected system log %q", logs)
			case tt.wantLogWords != "" && (len(logs) != 1 || !strings.Contains(logs[0], tt.wantLogWords)):
				t.Errorf("system log = %q, want one row with %q", logs, tt.wantLogWords)
			}
			if wantNotices := len(logs); len(notices) != wantNotices {
				t.Errorf("notices = %q, want %d", notices, wantNotices)
			}
		})
	}
}

// TestProbeWorkerGoneChannel: a job for a deleted channel is cancelled, not
// retried.
func TestProbeWorkerGoneChannel(t *testing.T) {
	pool := dbtest.Pool(t)
	r := testRiver(t, pool, Deps{})
	w := &probeWorker{r: r}
	err := w.Work(context.Background(), &river.Job[ChannelProbeArgs]{JobRow: &rivertype.JobRow{}, Args: ChannelProbeArgs{ChannelID: 4242}})
	var cancel *rivertype.JobCancelError
	if !errors.As(err, &cancel) {
		t.Fatalf("err = %v, want a JobCancel", err)
	}
}

func TestBalanceWorker(t *testing.T) {
	now := time.Now()
	month := now.Format("2006-01") + "-01"
	tests := []struct {
		name       string
		typ        int32
		path       string // the request the provider must get
		body       string
		want       float64
		wantErr    string
		wantStatus int16
	}{
		{name: "openai subscription", typ: adaptor.TypeOpenAI, path: "/v1/dashboard/billing/subscription",
			body: `{"has_payment_method":true,"hard_limit_usd":120}`, want: 120 - 12.5, wantStatus: 1},
		{name: "custom with /v1 base", typ: adaptor.TypeCustom, path: "/v1/dashboard/billing/subscription",
			body: `{"has_payment_method":true,"hard_limit_usd":20}`, want: 20 - 12.5, wantStatus: 1},
		{name: "credit grants", typ: adaptor.TypeAIGC2D, path: "/dashboard/billing/credit_grants",
			body: `{"object":"credit_summary","total_granted":10,"total_used":2.5,"total_available":7.5}`, want: 7.5, wantStatus: 1},
		{name: "api2gpt", typ: adaptor.TypeAPI2GPT, path: "/dashboard/billing/credit_grants",
			body: `{"total_remaining":3.25}`, want: 3.25, wantStatus: 1},
		{name: "openrouter", typ: adaptor.TypeOpenRouter, path: "/v1/credits",
			body: `{"data":{"total_credits":25,"total_usage":5.5}}`, want: 19.5, wantStatus: 1},
		{name: "deepseek", typ: adaptor.TypeDeepSeek, path: "/user/balance",
			body: `{"is_available":true,"balance_infos":[{"currency":"USD","total_balance":"1.00"},{"currency":"CNY","total_balance":"110.00"}]}`, want: 110, wantStatus: 1},
		{name: "siliconflow", typ: adaptor.TypeSiliconFlow, path: "/v1/user/info",
			body: `{"code":20000,"message":"OK","status":true,"data":{"totalBalance":"14.2"}}`, want: 14.2, wantStatus: 1},
		{name: "siliconflow error", typ: adaptor.TypeSiliconFlow, path: "/v1/user/info",
			body: `{"code":30001,"message":"bad key","status":false}`, wantErr: "bad key", wantStatus: 1},
		{name: "used up disables", typ: adaptor.TypeDeepSeek, path: "/user/balance",
			body: `{"balance_infos":[{"currency":"CNY","total_balance":"0.00"}]}`, want: 0, wantStatus: 3},
		{name: "not json", typ: adaptor.TypeOpenRouter, path: "/v1/credits", body: `<html>`, wantErr: "not the expected JSON", wantStatus: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pool := dbtest.Pool(t)
			var gotAuth []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				gotAuth = append(gotAuth, r.Header.Get("Authorization"))
				switch {
				case r.URL.Path == tt.path:
					_, _ = io.WriteString(w, tt.body)
				case r.URL.Path == "/v1/dashboard/billing/usage" && r.URL.Query().Get("start_date") == month:
					_, _ = io.WriteString(w, `{"object":"list","total_usage":1250}`) // 12.50 USD
				default:
					http.NotFound(w, r)
				}
			}))
			defer srv.Close()
			base := srv.URL
			if tt.typ == adaptor.TypeCustom {
				base += "/v1/"
			}
			r := testRiver(t, pool, Deps{})
			ch := createChannel(t, pool, nil, channelOpts{Type: tt.typ, BaseURL: base})
			if err := r.st.Reload(context.Background(), state.KindChannels, 0); err != nil {
				t.Fatal(err)
			}
			w := &balanceWorker{r: r}
			err := w.Work(context.Background(), &river.Job[ChannelBalanceArgs]{JobRow: &rivertype.JobRow{}, Args: ChannelBalanceArgs{ChannelID: ch.ID}})
			got, gerr := queries.New(pool).ChannelGetByID(context.Background(), ch.ID)
			if gerr != nil {
				t.Fatal(gerr)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "sk-upstream-test-key") {
					t.Errorf("error leaks the key: %v", err)
				}
				if got.BalanceUpdatedAt != nil {
					t.Error("balance_updated_at set by a failed update")
				}
			} else {
				if err != nil {
					t.Fatalf("Work: %v", err)
				}
				if got.Balance != tt.want || got.BalanceUpdatedAt == nil {
					t.Errorf("balance = %v at %v, want %v", got.Balance, got.BalanceUpdatedAt, tt.want)
				}
			}
			if got.Status != tt.wantStatus {
				t.Errorf("status = %d, want %d", got.Status, tt.wantStatus)
			}
			for _, a := range gotAuth {
				if a != "Bearer sk-upstream-test-key" {
					t.Errorf("Authorization = %q", a)
				}
			}
		})
	}
}

type fakeSweeper struct {
	olderThan time.Duration
	n         int
}

func (f *fakeSweeper) SweepStale(_ context.Context, olderThan time.Duration) (int, error) {
	f.olderThan = olderThan
	return f.n, nil
}

func TestSweepWorker(t *testing.T) {
	pool := dbtest.Pool(t)
	sw := &fakeSweeper{n: 3}
	r := testRiver(t, pool, Deps{Meter: sw, NodeDeadAfter: 7 * time.Minute})
	w := &sweepWorker{r: r}
	if err := w.Work(context.Background(), &river.Job[ReservationSweepArgs]{JobRow: &rivertype.JobRow{}}); err != nil {
		t.Fatal(err)
	}
	if sw.olderThan != 7*time.Minute {
		t.Errorf("swept reservations older than %v, want 7m", sw.olderThan)
	}
}

func TestLogRetention(t *testing.T) {
	pool := dbtest.Pool(t)
	ctx := context.Background()
	r := testRiver(t, pool, Deps{})
	insert := func(typ int, age time.Duration, n int) {
		t.Helper()
		if _, err := pool.Exec(ctx, `INSERT INTO logs (type, created_at, content) SELECT $1, now() - $2::interval, 'x' FROM generate_series(1, $3)`,
			typ, fmt.Sprintf("%d seconds", int(age.Seconds())), n); err != nil {
			t.Fatal(err)
		}
	}
	insert(2, 40*24*time.Hour, logDeleteBatch+7) // old consumption: goes, over two batches
	insert(2, 10*24*time.Hour, 5)                // recent consumption: stays
	insert(4, 40*24*time.Hour, 3)                // old system events: stay
	count := func() (consume, other int) {
		t.Helper()
		if err := pool.QueryRow(ctx, "SELECT count(*) FILTER (WHERE type = 2), count(*) FILTER (WHERE type <> 2) FROM logs").Scan(&consume, &other); err != nil {
			t.Fatal(err)
		}
		return
	}
	w := &logRetentionWorker{r: r}
	work := func() {
		t.Helper()
		if err := w.Work(ctx, &river.Job[LogRetentionArgs]{JobRow: &rivertype.JobRow{}}); err != nil {
			t.Fatal(err)
		}
	}
	work() // the default, 0, keeps everything
	if c, o := count(); c != logDeleteBatch+12 || o != 3 {
		t.Fatalf("with retention 0: %d consumption, %d other rows", c, o)
	}
	setOption(t, r, LogRetentionOption, "30")
	work()
	if c, o := count(); c != 5 || o != 3 {
		t.Errorf("with retention 30 days: %d consumption, %d other rows; want 5, 3", c, o)
	}
	if err := state.ValidateOption(LogRetentionOption, "-1"); err == nil {
		t.Error("negative retention accepted")
	}
}

// TestProbeAllEnqueues: the periodic job fans out one test per channel a
// test can change, and a second run while those are pending adds none.
func TestProbeAllEnqueues(t *testing.T) {
	pool := dbtest.Pool(t)
	ctx := context.Background()
	r := testRiver(t, pool, Deps{PollingInterval: 2 * time.Second})
	for _, s := range []int16{1, 1, 3, 2} {
		createChannel(t, pool, nil, channelOpts{Status: s, BaseURL: "http://127.0.0.1:9"})
	}
	w := &probeAllWorker{r: r}
	for i := 0; i < 2; i++ {
		if err := w.Work(ctx, &river.Job[ChannelProbeAllArgs]{JobRow: &rivertype.JobRow{}}); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := queries.New(pool).JobListRecent(ctx, queries.JobListRecentParams{Kind: "channel_probe", MaxRows: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 {
		t.Fatalf("%d probe jobs, want 3 (enabled and auto-disabled channels, once each)", len(rows))
	}
	// POLLING_INTERVAL spaces them: the first at once, then 2 s apart.
	first, last := rows[len(rows)-1].ScheduledAt, rows[0].ScheduledAt
	if d := last.Sub(first); d < 3*time.Second || d > 5*time.Second {
		t.Errorf("first to last test %v apart, want about 4s", d)
	}
}
