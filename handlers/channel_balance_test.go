package handlers

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"oneapi/jobs"
	"oneapi/queries"
	"oneapi/relay/adaptor"
)

// newBalanceApp is the application with the real balance updater (the jobs
// package's River, not started: the endpoints run the fetch themselves or
// only insert jobs).
func newBalanceApp(t *testing.T) *testApp {
	t.Helper()
	return newAccountApp(t, func(d *Deps) {
		r, err := jobs.NewRiver(d.Pool, jobs.Deps{State: d.State, Log: d.Log, HTTPClient: &http.Client{}})
		if err != nil {
			t.Fatal(err)
		}
		d.Balances = r
	})
}

// openRouterStandIn answers OpenRouter's credits endpoint for goodKey and a
// 401 that echoes any other key back, as real providers do.
func openRouterStandIn(t *testing.T, goodKey string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path != "/v1/credits" {
			http.NotFound(w, r)
			return
		}
		if got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "); got != goodKey {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintf(w, `{"error":{"message":"No auth credentials found for %s","code":401}}`, got)
			return
		}
		_, _ = io.WriteString(w, `{"data":{"total_credits":25,"total_usage":5.5}}`)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestAPIChannelUpdateBalance(t *testing.T) {
	t.Parallel()
	a := newBalanceApp(t)
	_, admin := apiTestUser(t, a, "admin", roleAdmin)
	_, user := apiTestUser(t, a, "user", roleUser)
	const goodKey, badKey = "sk-or-good-0123456789abcdef", "sk-or-revoked-0123456789abcdef"
	srv := openRouterStandIn(t, goodKey)
	create := func(typ int, key string) int64 {
		t.Helper()
		var ch []apiChannel
		mustAPI(t, a, http.MethodPost, "/api/channel/", fmt.Sprintf(`{"type":%d,"key":%q,"base_url":%q,"models":"m"}`, typ, key, srv.URL), admin, &ch)
		return ch[0].ID
	}
	good := create(adaptor.TypeOpenRouter, goodKey)
	bad := create(adaptor.TypeOpenRouter, badKey)
	noAPI := create(adaptor.TypeGroq, goodKey)

	tests := []struct {
		name     string
		path     string
		auth     string
		wantCode int
		wantMsg  string
	}{
		{"updated", fmt.Sprintf("/api/channel/update_balance/%d", good), admin, http.StatusOK, ""},
		{"provider refuses", fmt.Sprintf("/api/channel/update_balance/%d", bad), admin, http.StatusBadGateway, "status 401"},
		{"type without balance API", fmt.Sprintf("/api/channel/update_balance/%d", noAPI), admin, http.StatusUnprocessableEntity, "no balance endpoint"},
		{"no such channel", "/api/channel/update_balance/4242", admin, http.StatusNotFound, ""},
		{"not an admin", fmt.Sprintf("/api/channel/update_balance/%d", good), user, http.StatusForbidden, ""},
		{"anonymous", fmt.Sprintf("/api/channel/update_balance/%d", good), "", http.StatusUnauthorized, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, r, raw := apiCall(t, a, http.MethodGet, tt.path, "", tt.auth)
			if code != tt.wantCode || !strings.Contains(r.Message, tt.wantMsg) {
				t.Fatalf("= %d %q, want %d with %q", code, r.Message, tt.wantCode, tt.wantMsg)
			}
			if strings.Contains(raw, badKey) || strings.Contains(raw, goodKey) {
				t.Errorf("reply leaks a key: %s", raw)
			}
		})
	}

	// One API's shape: the balance at the top level; and it is recorded.
	_, _, raw := apiCall(t, a, http.MethodGet, fmt.Sprintf("/api/channel/update_balance/%d", good), "", admin)
	if !strings.Contains(raw, `"balance":19.5`) {
		t.Errorf("reply = %s, want balance 19.5 at the top level", raw)
	}
	row, err := queries.New(a.pool).ChannelGetByID(context.Background(), good)
	if err != nil {
		t.Fatal(err)
	}
	if row.Balance != 19.5 || row.BalanceUpdatedAt == nil {
		t.Errorf("stored balance %v at %v", row.Balance, row.BalanceUpdatedAt)
	}
	if row, _ := queries.New(a.pool).ChannelGetByID(context.Background(), bad); row.BalanceUpdatedAt != nil {
		t.Error("a failed update recorded a balance")
	}

	// All: one job per enabled channel whose type has a balance API.
	var all struct{ Channels, Enqueued int }
	mustAPI(t, a, http.MethodGet, "/api/channel/update_balance", "", admin, &all)
	if all.Channels != 2 || all.Enqueued != 2 {
		t.Errorf("update all = %+v, want 2 channels, 2 enqueued", all)
	}
	jobsRows, err := queries.New(a.pool).JobListRecent(context.Background(), queries.JobListRecentParams{Kind: "channel_balance", MaxRows: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(jobsRows) != 2 {
		t.Errorf("%d channel_balance jobs, want 2", len(jobsRows))
	}
	if code, _, _ := apiCall(t, a, http.MethodGet, "/api/channel/update_balance/", "", user); code != http.StatusForbidden {
		t.Errorf("update all as a user = %d", code)
	}

	// A node without jobs says so.
	b := newTestApp(t)
	_, admin = apiTestUser(t, b, "admin", roleAdmin)
	if code, _, _ := apiCall(t, b, http.MethodGet, "/api/channel/update_balance", "", admin); code != http.StatusServiceUnavailable {
		t.Errorf("update all without jobs = %d, want 503", code)
	}
}

// TestConsoleUpdateBalanceButton: the row of a channel whose type has a
// balance endpoint has the button; pressing it (htmx) swaps the row with the
// new balance in it.
func TestConsoleUpdateBalanceButton(t *testing.T) {
	t.Parallel()
	a := newBalanceApp(t)
	c, _ := signedIn(t, a, "boss", roleAdmin)
	const key = "sk-or-console-0123456789abcdef"
	srv := openRouterStandIn(t, key)
	mk := func(typ int, name string) int64 {
		t.Helper()
		rec := c.post("/channels", url.Values{"type": {fmt.Sprint(typ)}, "name": {name}, "key": {key}, "base_url": {srv.URL}, "models": {"m"}, "group": {"default"}})
		if rec.Code != http.StatusSeeOther {
			t.Fatalf("create %s = %d: %s", name, rec.Code, rec.Body)
		}
		var id int64
		if err := a.pool.QueryRow(context.Background(), "SELECT id FROM channels WHERE name = $1", name).Scan(&id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	withAPI := mk(adaptor.TypeOpenRouter, "router")
	mk(adaptor.TypeGroq, "groq")

	page := c.get("/channels").Body.String()
	if n := testids(page, "channel-balance"); n != 1 {
		t.Errorf("%d balance buttons, want 1 (the OpenRouter channel only)", n)
	}
	rec := c.post(fmt.Sprintf("/channels/%d/balance", withAPI), nil, htmx(fmt.Sprintf("channel-%d", withAPI))...)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), fmt.Sprintf(`id="channel-%d"`, withAPI)) ||
		!strings.Contains(rec.Body.String(), "19.50") {
		t.Errorf("balance button = %d: %s", rec.Code, rec.Body)
	}
	// Without htmx: the outcome is the flash of the channel page.
	if rec := c.post(fmt.Sprintf("/channels/%d/balance", withAPI), nil); rec.Code != http.StatusSeeOther {
		t.Errorf("plain post = %d", rec.Code)
	}
	if !strings.Contains(c.get("/channels").Body.String(), "balance: 19.50") {
		t.Error("no flash with the balance")
	}

	// A node without jobs draws no button.
	b := newAccountApp(t, nil)
	cb, _ := signedIn(t, b, "boss", roleAdmin)
	if rec := cb.post("/channels", url.Values{"type": {fmt.Sprint(adaptor.TypeOpenRouter)}, "name": {"r"}, "key": {key}, "models": {"m"}}); rec.Code != http.StatusSeeOther {
		t.Fatalf("create = %d", rec.Code)
	}
	if n := testids(cb.get("/channels").Body.String(), "channel-balance"); n != 0 {
		t.Errorf("%d balance buttons on a node without jobs", n)
	}
}
