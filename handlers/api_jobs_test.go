package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"

	"oneapi/keys"
	"oneapi/queries"
	"oneapi/queries/dbtest"
	"oneapi/state"
)

// newTestAppWith is newTestApp with the dependencies edit changes.
func newTestAppWith(t *testing.T, edit func(*Deps)) *testApp {
	t.Helper()
	pool := dbtest.Pool(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cipher, err := keys.NewCipher(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	st, err := state.New(context.Background(), pool, cipher, log)
	if err != nil {
		t.Fatal(err)
	}
	d := Deps{Pool: pool, Log: log, Version: "test", State: st, Cipher: cipher}
	edit(&d)
	e, err := New(d)
	if err != nil {
		t.Fatal(err)
	}
	return &testApp{e: e, pool: pool, state: st, cipher: cipher}
}

func TestSlaveRedirectsConsole(t *testing.T) {
	a := newTestAppWith(t, func(d *Deps) { d.ConsoleRedirectURL = "https://console.example.com/" })
	tests := []struct {
		method, path string
		wantCode     int
		wantLocation string
	}{
		{http.MethodGet, "/", http.StatusTemporaryRedirect, "https://console.example.com/"},
		{http.MethodGet, "/login?next=%2Fusers", http.StatusTemporaryRedirect, "https://console.example.com/login?next=%2Fusers"},
		{http.MethodPost, "/login", http.StatusTemporaryRedirect, "https://console.example.com/login"},
		{http.MethodGet, "/static/htmx.min.js", http.StatusTemporaryRedirect, "https://console.example.com/static/htmx.min.js"},
		{http.MethodGet, "/api/status", http.StatusOK, ""},
		{http.MethodGet, "/healthz", http.StatusOK, ""},
		{http.MethodGet, "/readyz", http.StatusOK, ""},
	}
	for _, tt := range tests {
		rec := a.do(tt.method, tt.path, "")
		if rec.Code != tt.wantCode || rec.Header().Get("Location") != tt.wantLocation {
			t.Errorf("%s %s = %d %q, want %d %q", tt.method, tt.path, rec.Code, rec.Header().Get("Location"), tt.wantCode, tt.wantLocation)
		}
	}
}

func TestAPIChannelProbeAll(t *testing.T) {
	jq := &probeQueue{}
	a := newTestAppWith(t, func(d *Deps) { d.Jobs = jq })
	_, admin := apiTestUser(t, a, "admin", roleAdmin)
	_, user := apiTestUser(t, a, "user", roleUser)
	q := queries.New(a.pool)
	var ids []int64
	for _, status := range []int16{1, 2, 3} {
		ch, err := q.ChannelCreate(context.Background(), queries.ChannelCreateParams{
			Type: 1, Name: "c", KeyCiphertext: []byte("x"), Models: "m", Groups: "default", Status: status})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ch.ID)
	}
	tests := []struct {
		path     string
		auth     string
		wantCode int
		wantIDs  []int64
	}{
		{"/api/channel/test", admin, http.StatusOK, ids},
		{"/api/channel/test/", admin, http.StatusOK, ids},
		{"/api/channel/test?scope=all", admin, http.StatusOK, ids},
		{"/api/channel/test?scope=disabled", admin, http.StatusOK, ids[1:]},
		{"/api/channel/test?scope=enabled", admin, http.StatusOK, ids[:1]},
		{"/api/channel/test?scope=broken", admin, http.StatusUnprocessableEntity, nil},
		{"/api/channel/test", user, http.StatusForbidden, nil},
		{"/api/channel/test", "", http.StatusUnauthorized, nil},
	}
	for _, tt := range tests {
		jq.ids = nil
		code, r, _ := apiCall(t, a, http.MethodGet, tt.path, "", tt.auth)
		if code != tt.wantCode {
			t.Errorf("%s = %d (%s), want %d", tt.path, code, r.Message, tt.wantCode)
			continue
		}
		if code != http.StatusOK {
			continue
		}
		var got struct{ Channels, Enqueued int }
		_ = json.Unmarshal(r.Data, &got)
		if !slices.Equal(jq.ids, tt.wantIDs) || got.Channels != len(tt.wantIDs) || got.Enqueued != len(tt.wantIDs) {
			t.Errorf("%s enqueued %v (reply %+v), want %v", tt.path, jq.ids, got, tt.wantIDs)
		}
	}

	// A node without jobs says so rather than pretending.
	b := newTestAppWith(t, func(*Deps) {})
	_, admin = apiTestUser(t, b, "admin", roleAdmin)
	if code, _, _ := apiCall(t, b, http.MethodGet, "/api/channel/test", "", admin); code != http.StatusServiceUnavailable {
		t.Errorf("test all without jobs = %d, want 503", code)
	}
}

func TestAPIJobList(t *testing.T) {
	a := newTestAppWith(t, func(*Deps) {})
	_, admin := apiTestUser(t, a, "admin", roleAdmin)
	_, user := apiTestUser(t, a, "user", roleUser)
	ctx := context.Background()
	for _, stmt := range []string{
		`INSERT INTO river_job (kind, args, max_attempts, state, attempt, attempted_by, finalized_at, metadata)
		 VALUES ('channel_probe', '{"channel_id":1}', 3, 'completed', 1, '{node-a}', now(), '{"output":{"ok":true,"response_ms":12}}')`,
		`INSERT INTO river_job (kind, args, max_attempts, state, attempt, attempted_by, errors)
		 VALUES ('channel_probe', '{"channel_id":2}', 3, 'retryable', 1, '{node-b}',
		         ARRAY['{"at":"2026-01-02T03:04:05Z","attempt":1,"error":"database is down","trace":"goroutine 1"}'::jsonb])`,
		`INSERT INTO river_job (kind, args, max_attempts, state) VALUES ('log_retention', '{}', 1, 'available')`,
	} {
		if _, err := a.pool.Exec(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	type job struct {
		Kind        string
		State       string
		Attempt     int
		Args        json.RawMessage
		Output      json.RawMessage
		AttemptedBy []string `json:"attempted_by"`
		Errors      []struct {
			Attempt int
			Error   string
		}
		FinalizedAt *string `json:"finalized_at"`
	}
	list := func(path string) []job {
		t.Helper()
		code, r, body := apiCall(t, a, http.MethodGet, path, "", admin)
		if code != http.StatusOK {
			t.Fatalf("%s = %d %s", path, code, r.Message)
		}
		if strings.Contains(body, "goroutine") {
			t.Errorf("stack trace in the reply: %s", body)
		}
		var out []job
		if err := json.Unmarshal(r.Data, &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	all := list("/api/jobs")
	if len(all) != 3 || all[0].Kind != "log_retention" {
		t.Fatalf("jobs = %+v, want 3, newest first", all)
	}
	probes := list("/api/jobs?kind=channel_probe")
	if len(probes) != 2 {
		t.Fatalf("channel_probe jobs = %d", len(probes))
	}
	failed, done := probes[0], probes[1]
	if failed.State != "retryable" || len(failed.Errors) != 1 || failed.Errors[0].Error != "database is down" || failed.FinalizedAt != nil {
		t.Errorf("failed job = %+v", failed)
	}
	if done.State != "completed" || string(done.Output) != `{"ok":true,"response_ms":12}` || done.FinalizedAt == nil ||
		len(done.AttemptedBy) != 1 || string(done.Args) != `{"channel_id":1}` {
		t.Errorf("completed job = %+v (output %s)", done, done.Output)
	}
	if got := list("/api/jobs?state=completed&limit=1"); len(got) != 1 || got[0].State != "completed" {
		t.Errorf("filtered = %+v", got)
	}
	for path, want := range map[string]int{"/api/jobs?state=done": 422, "/api/jobs?limit=0": 422, "/api/jobs?limit=501": 422} {
		if code, _, _ := apiCall(t, a, http.MethodGet, path, "", admin); code != want {
			t.Errorf("%s = %d, want %d", path, code, want)
		}
	}
	if code, _, _ := apiCall(t, a, http.MethodGet, "/api/jobs", "", user); code != http.StatusForbidden {
		t.Errorf("jobs as a user = %d, want 403", code)
	}
}

func TestRootNotifier(t *testing.T) {
	a := newTestAppWith(t, func(*Deps) {})
	ctx := context.Background()
	q := queries.New(a.pool)
	if _, err := q.UserCreate(ctx, queries.UserCreateParams{Username: "root", Email: "root@example.com", Role: roleRoot, Status: statusEnabled, GroupName: "default"}); err != nil {
		t.Fatal(err)
	}
	if _, err := q.UserCreate(ctx, queries.UserCreateParams{Username: "admin", Email: "admin@example.com", Role: roleAdmin, Status: statusEnabled, GroupName: "default"}); err != nil {
		t.Fatal(err)
	}
	notify := RootNotifier(a.pool, a.cipher)
	// No SMTP server configured: nothing to do, and no error.
	if err := notify(ctx, "Channel disabled", "body"); err != nil {
		t.Fatalf("without SMTP: %v", err)
	}
	smtp := startSMTP(t)
	smtp.configure(t, a)
	if err := notify(ctx, "Channel \"x\" (#3) was disabled", "Channel \"x\" (#3) was disabled automatically: bad key"); err != nil {
		t.Fatal(err)
	}
	m := smtp.next(t)
	if len(m.To) != 1 || m.To[0] != "root@example.com" || !strings.Contains(m.Data, "disabled automatically: bad key") {
		t.Errorf("mail to %v: %q", m.To, m.Data)
	}
}
