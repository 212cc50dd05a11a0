package handlers

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"oneapi/queries"
)

// Shared fixtures of the channel, token, redemption and log page tests.

// testids counts the elements marked data-testid=id in body.
func testids(body, id string) int {
	return strings.Count(body, `data-testid="`+id+`"`)
}

// signedIn creates a user with role and returns a client signed in as them.
func signedIn(t *testing.T, a *testApp, name string, role int16) (*client, queries.User) {
	t.Helper()
	u := a.createUser(t, userOpts{Username: name, Role: role, Quota: 1_000_000})
	c := a.client(t)
	c.login(u.Username, "correct-horse")
	return c, u
}

// htmx are the headers htmx sends for a request aimed at target.
func htmx(target string) []string {
	h := []string{"HX-Request", "true"}
	if target != "" {
		h = append(h, "HX-Target", target)
	}
	return h
}

// probeQueue records the channel tests the console enqueues.
type probeQueue struct {
	mu      sync.Mutex
	ids     []int64
	pending int // tests "still to run": raised by Enqueue, lowered by the test
}

func (f *probeQueue) EnqueueChannelProbes(_ context.Context, ids []int64) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ids = append(f.ids, ids...)
	f.pending += len(ids)
	return len(ids), nil
}

func (f *probeQueue) ChannelProbesPending(context.Context) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pending, nil
}

func (f *probeQueue) finish() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pending = 0
}

func TestResourcePageGuards(t *testing.T) {
	t.Parallel()
	a := newAccountApp(t, nil)
	user, _ := signedIn(t, a, "plain", roleUser)
	admin, _ := signedIn(t, a, "boss", roleAdmin)
	anon := a.client(t)

	pages := []struct {
		path      string
		adminOnly bool
	}{
		{"/channels", true}, {"/channels/new", true}, {"/redemptions", true}, {"/redemptions/new", true},
		{"/tokens", false}, {"/tokens/new", false}, {"/logs", false},
	}
	for _, p := range pages {
		t.Run("GET "+p.path, func(t *testing.T) {
			if rec := anon.get(p.path); rec.Code != http.StatusSeeOther || !strings.HasPrefix(rec.Header().Get("Location"), "/login") {
				t.Errorf("anonymous = %d %q, want a redirect to /login", rec.Code, rec.Header().Get("Location"))
			}
			rec := user.get(p.path)
			if p.adminOnly {
				if rec.Code != http.StatusForbidden || testids(rec.Body.String(), "error-403") != 1 {
					t.Errorf("user = %d, want the 403 page", rec.Code)
				}
			} else if rec.Code != http.StatusOK {
				t.Errorf("user = %d", rec.Code)
			}
			if rec := admin.get(p.path); rec.Code != http.StatusOK {
				t.Errorf("admin = %d", rec.Code)
			}
		})
	}

	posts := []struct {
		path      string
		adminOnly bool
	}{
		{"/channels", true}, {"/channels/1", true}, {"/channels/1/probe", true}, {"/channels/1/enable", true},
		{"/channels/1/disable", true}, {"/channels/1/delete", true}, {"/channels/probe-all", true},
		{"/redemptions", true}, {"/redemptions/1/disable", true}, {"/redemptions/1/enable", true}, {"/redemptions/1/delete", true},
		{"/tokens", false}, {"/tokens/1", false}, {"/tokens/1/enable", false}, {"/tokens/1/disable", false}, {"/tokens/1/delete", false},
	}
	for _, p := range posts {
		t.Run("POST "+p.path, func(t *testing.T) {
			// No token at all, a wrong one: refused before anything runs.
			rec := admin.do(http.MethodPost, p.path, strings.NewReader("name=x"), "Content-Type", "application/x-www-form-urlencoded")
			if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "CSRF") {
				t.Errorf("without CSRF token = %d", rec.Code)
			}
			if rec := admin.post(p.path, url.Values{"_csrf": {"forged"}}); rec.Code != http.StatusForbidden {
				t.Errorf("with a forged CSRF token = %d", rec.Code)
			}
			if rec := user.post(p.path, url.Values{"name": {"x"}}); p.adminOnly && rec.Code != http.StatusForbidden {
				t.Errorf("user with CSRF token = %d, want 403", rec.Code)
			}
		})
	}

	t.Run("htmx refusal is a flash", func(t *testing.T) {
		rec := user.post("/channels/1/enable", nil, htmx("")...)
		if rec.Code != http.StatusForbidden || rec.Header().Get("HX-Retarget") != "#flash" || testids(rec.Body.String(), "flash") != 1 {
			t.Errorf("= %d retarget %q: %s", rec.Code, rec.Header().Get("HX-Retarget"), rec.Body)
		}
	})

	t.Run("JSON API", func(t *testing.T) {
		tok := a.giveAccessToken(t, a.createUser(t, userOpts{Username: "scripted"}))
		for _, path := range []string{"/api/redemption/", "/api/log/", "/api/log/stat"} {
			if rec := a.do(http.MethodGet, path, "", "Authorization", "Bearer "+tok); rec.Code != http.StatusForbidden {
				t.Errorf("user %s = %d, want 403", path, rec.Code)
			}
			if rec := a.do(http.MethodGet, path, ""); rec.Code != http.StatusUnauthorized {
				t.Errorf("anonymous %s = %d, want 401", path, rec.Code)
			}
		}
		for _, path := range []string{"/api/log/self", "/api/log/self/stat"} {
			if rec := a.do(http.MethodGet, path, "", "Authorization", "Bearer "+tok); rec.Code != http.StatusOK {
				t.Errorf("user %s = %d", path, rec.Code)
			}
		}
		// A session without the CSRF header may not post a form body.
		if rec := admin.do(http.MethodPost, "/api/redemption/", strings.NewReader(`{"name":"x","quota":1,"count":1}`), "Content-Type", "text/plain"); rec.Code != http.StatusForbidden {
			t.Errorf("redemption create as text/plain = %d, want 403", rec.Code)
		}
	})
}

func TestDashboard(t *testing.T) {
	t.Parallel()
	a := newAccountApp(t, nil)
	c, u := signedIn(t, a, "dana", roleUser)
	other := a.createUser(t, userOpts{Username: "other"})
	q := queries.New(a.pool)
	ctx := context.Background()
	for _, l := range []queries.LogInsertParams{
		{Type: 2, UserID: u.ID, Username: u.Username, ModelName: "gpt-4o", PromptTokens: 10, CompletionTokens: 5, Quota: 1500},
		{Type: 2, UserID: u.ID, Username: u.Username, ModelName: "gpt-4o", PromptTokens: 20, CompletionTokens: 5, Quota: 2500},
		{Type: 2, UserID: u.ID, Username: u.Username, ModelName: "claude-3-haiku", PromptTokens: 7, CompletionTokens: 1, Quota: 100},
		{Type: 2, UserID: u.ID, Username: u.Username, ModelName: "old-model", Quota: 999},
		{Type: 1, UserID: u.ID, Username: u.Username, Quota: 500000, Content: "top-up"},
		{Type: 2, UserID: other.ID, Username: other.Username, ModelName: "someone-elses-model", Quota: 7},
	} {
		if err := q.LogInsert(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.pool.Exec(ctx, "UPDATE logs SET created_at = now() - interval '8 days' WHERE model_name = 'old-model'"); err != nil {
		t.Fatal(err)
	}

	rec := c.get("/")
	body := rec.Body.String()
	if rec.Code != http.StatusOK || testids(body, "dashboard") != 1 || testids(body, "home") != 1 {
		t.Fatalf("/ = %d: %s", rec.Code, body)
	}
	if n := testids(body, "dash-usage-row"); n != 2 {
		t.Errorf("usage rows = %d, want 2 (gpt-4o, claude-3-haiku)", n)
	}
	for _, want := range []string{"gpt-4o", "claude-3-haiku", "$0.008 (4 000)", "$2.00 (1 000 000)"} {
		if !strings.Contains(body, want) {
			t.Errorf("dashboard lacks %q", want)
		}
	}
	for _, bad := range []string{"old-model", "someone-elses-model"} {
		if strings.Contains(body, bad) {
			t.Errorf("dashboard shows %q", bad)
		}
	}

	a.setOption(t, "DisplayInCurrencyEnabled", "false")
	if err := a.state.Reload(ctx, "options", 0); err != nil {
		t.Fatal(err)
	}
	if body := c.get("/").Body.String(); strings.Contains(body, "$") || !strings.Contains(body, "1 000 000") {
		t.Errorf("with DisplayInCurrencyEnabled=false the dashboard still shows dollars")
	}

	if rec := a.client(t).get("/"); rec.Code != http.StatusOK || testids(rec.Body.String(), "dashboard") != 0 {
		t.Errorf("anonymous / = %d, want the landing page", rec.Code)
	}
}
