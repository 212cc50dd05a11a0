package handlers

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"oneapi/queries"
)

// logFixture writes logs for two users: 60 consumption rows for alice
// (gpt-4o on channel 1, every 10th on claude via channel 2, token "web"
// or "cli"), 3 for bob, one top-up and one system row. The oldest 10 of
// alice's are dated 2024-01-0x.
type logFixture struct {
	alice, bob queries.User
}

func newLogFixture(t *testing.T, a *testApp) logFixture {
	t.Helper()
	ctx := context.Background()
	q := queries.New(a.pool)
	f := logFixture{alice: a.createUser(t, userOpts{Username: "alice"}), bob: a.createUser(t, userOpts{Username: "bob"})}
	for i := range 60 {
		p := queries.LogInsertParams{Type: 2, UserID: f.alice.ID, Username: "alice", TokenID: 1, TokenName: "web", ChannelID: 1,
			ModelName: "gpt-4o", PromptTokens: 100, CompletionTokens: 10, Quota: 1000, ElapsedMs: 321, IsStream: i%2 == 0,
			RequestID: fmt.Sprintf("req-alice-%02d", i), Content: ""}
		if i%10 == 0 {
			p.ModelName, p.ChannelID, p.TokenName = "claude-3-haiku", 2, "cli"
		}
		if err := q.LogInsert(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		if err := q.LogInsert(ctx, queries.LogInsertParams{Type: 2, UserID: f.bob.ID, Username: "bob", TokenName: "bobs", ChannelID: 1,
			ModelName: "gpt-4o-mini", Quota: 50, RequestID: fmt.Sprintf("req-bob-%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.LogInsert(ctx, queries.LogInsertParams{Type: 1, UserID: f.bob.ID, Username: "bob", Quota: 500000, Content: "Redeemed <b>code</b>"}); err != nil {
		t.Fatal(err)
	}
	if err := q.LogInsert(ctx, queries.LogInsertParams{Type: 4, Content: "channel 2 disabled"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.pool.Exec(ctx, `UPDATE logs SET created_at = timestamptz '2024-01-01 12:00:00+00' + (id % 10) * interval '1 day'
		WHERE request_id IN (SELECT request_id FROM logs WHERE username = 'alice' ORDER BY id LIMIT 10)`); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestLogPages(t *testing.T) {
	t.Parallel()
	a := newAccountApp(t, nil)
	f := newLogFixture(t, a)
	admin, _ := signedIn(t, a, "admin", roleAdmin)
	alice := a.client(t)
	alice.login(f.alice.Username, "correct-horse")

	rows := func(c *client, query string) (int, string) {
		t.Helper()
		rec := c.get("/logs"+query, htmx("log-table")...)
		b := rec.Body.String()
		if rec.Code != http.StatusOK || strings.Contains(b, "<html") || testids(b, "log-table") != 1 {
			t.Fatalf("%s = %d: %s", query, rec.Code, b)
		}
		return testids(b, "log-row"), b
	}

	page := admin.get("/logs")
	b := page.Body.String()
	if page.Code != http.StatusOK || testids(b, "log-filters") != 1 || testids(b, "log-row") != logsPageSize ||
		testids(b, "log-filter-username") != 1 || testids(b, "page-next") != 1 || testids(b, "page-first") != 0 {
		t.Fatalf("admin page = %d rows %d", page.Code, testids(b, "log-row"))
	}
	// Newest first: the system row, then bob's top-up, whose note is text.
	if i, j := strings.Index(b, "channel 2 disabled"), strings.Index(b, "Redeemed &lt;b&gt;code&lt;/b&gt;"); i < 0 || j < i {
		t.Errorf("order or escaping wrong")
	}

	tests := []struct {
		name  string
		c     *client
		query string
		want  int
	}{
		{"admin all, page 1", admin, "", logsPageSize},
		{"admin consumption", admin, "?type=2", logsPageSize},
		{"admin top-ups", admin, "?type=1", 1},
		{"admin by user", admin, "?username=bob", 4},
		{"admin by user and type", admin, "?username=bob&type=2", 3},
		{"admin by channel", admin, "?channel=2", 6},
		{"admin by model", admin, "?model=claude-3-haiku", 6},
		{"admin by token", admin, "?token=cli", 6},
		{"admin by date", admin, "?start=2024-01-01&end=2024-01-05", 5},
		{"admin in a date range", admin, "?start=2024-01-06&end=2024-01-31&username=alice", 5},
		{"alice sees only hers", alice, "?type=0", logsPageSize},
		{"alice's top-ups", alice, "?type=1", 0},
		{"alice cannot filter by user", alice, "?username=bob", logsPageSize},
		{"alice by model", alice, "?model=gpt-4o-mini", 0},
		{"alice by date", alice, "?end=2024-01-03", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n, b := rows(tt.c, tt.query); n != tt.want {
				t.Errorf("%d rows, want %d", n, tt.want)
			} else if tt.c == alice && (strings.Contains(b, "req-bob") || testids(b, "log-user") != 0) {
				t.Error("alice sees another user's logs or the user column")
			}
		})
	}

	t.Run("keyset paging", func(t *testing.T) {
		_, first := rows(admin, "?username=alice")
		next := regexpFind(`href="(/logs\?before=[^"]+)"`, first)
		if next == "" {
			t.Fatalf("no link to older logs: %s", first)
		}
		next = strings.ReplaceAll(next, "&amp;", "&")
		n, second := rows(admin, strings.TrimPrefix(next, "/logs"))
		if n != 10 || testids(second, "page-next") != 0 || testids(second, "page-first") != 1 ||
			!strings.Contains(second, "req-alice-00") || strings.Contains(second, "req-alice-59") {
			t.Errorf("second page = %d rows", n)
		}
		if !strings.Contains(second, `href="/logs?username=alice"`) {
			t.Errorf("newest link loses the filter: %s", second)
		}
	})

	t.Run("bad filters are reported", func(t *testing.T) {
		rec := admin.get("/logs?channel=abc&start=yesterday&type=9")
		b := rec.Body.String()
		if rec.Code != http.StatusOK || testids(b, "error-channel") != 1 || testids(b, "error-start") != 1 || testids(b, "error-type") != 1 {
			t.Errorf("= %d: %s", rec.Code, b)
		}
	})

	t.Run("quota in dollars or raw", func(t *testing.T) {
		_, b := rows(alice, "?model=gpt-4o")
		if !strings.Contains(b, "$0.002 (1 000)") || !strings.Contains(b, "100 / 10") || !strings.Contains(b, "321 ms") {
			t.Errorf("row = %s", b)
		}
		a.setOption(t, "DisplayInCurrencyEnabled", "false")
		a.setOption(t, "QuotaPerUnit", "1000")
		if err := a.state.Reload(context.Background(), "options", 0); err != nil {
			t.Fatal(err)
		}
		if _, b := rows(alice, "?model=gpt-4o"); strings.Contains(b, "$") || !strings.Contains(b, ">1 000<") {
			t.Errorf("without currency: %s", b)
		}
		a.setOption(t, "DisplayInCurrencyEnabled", "true")
		if err := a.state.Reload(context.Background(), "options", 0); err != nil {
			t.Fatal(err)
		}
		if _, b := rows(alice, "?model=gpt-4o"); !strings.Contains(b, "$1.00 (1 000)") {
			t.Errorf("QuotaPerUnit 1000: %s", b)
		}
	})
}

func TestAPILogs(t *testing.T) {
	t.Parallel()
	a := newAccountApp(t, nil)
	f := newLogFixture(t, a)
	_, admin := apiTestUser(t, a, "admin", roleAdmin)
	alice := "Bearer " + a.giveAccessToken(t, f.alice)

	list := func(path, auth string) []apiLog {
		t.Helper()
		var out []apiLog
		mustAPI(t, a, http.MethodGet, path, "", auth, &out)
		return out
	}
	all := list("/api/log/?p=0", admin)
	if len(all) != apiPageSize || all[0].Type != 4 || all[1].Type != 1 || all[1].Username != "bob" {
		t.Fatalf("page 0 = %+v", all)
	}
	if got := list("/api/log/?p=6", admin); len(got) != 5 {
		t.Errorf("page 6 = %d rows, want 5", len(got))
	}
	for _, tt := range []struct {
		query string
		want  int
	}{
		{"?type=1", 1}, {"?username=bob", 4}, {"?channel=2&p=0", 6}, {"?model_name=claude-3-haiku", 6}, {"?token_name=bobs", 3},
		// 2024-01-01 00:00 to 2024-01-05 00:00, both inclusive: the rows of Jan 1 to 4, at noon.
		{"?start_timestamp=1704067200&end_timestamp=1704412800&username=alice", 4},
	} {
		if got := list("/api/log/"+tt.query, admin); len(got) != min(tt.want, apiPageSize) {
			t.Errorf("%s = %d rows, want %d", tt.query, len(got), tt.want)
		}
	}
	// One API's field names; the channel shows to admins.
	var c apiLog
	for _, l := range list("/api/log/?model_name=claude-3-haiku", admin) {
		c = l
	}
	if c.ChannelID != 2 || c.ElapsedTime != 321 || c.PromptTokens != 100 || c.CompletionTokens != 10 || c.Quota != 1000 ||
		c.TokenName != "cli" || c.CreatedAt == 0 || c.RequestID == "" || c.UserID != f.alice.ID {
		t.Errorf("row = %+v", c)
	}

	mine := list("/api/log/self?p=0", alice)
	if len(mine) != apiPageSize || mine[0].Username != "alice" || mine[0].ChannelID != 0 {
		t.Errorf("self = %+v", mine)
	}
	if got := list("/api/log/self?username=bob&channel=1&model_name=claude-3-haiku", alice); len(got) != 6 {
		t.Errorf("self ignores username and channel: %d rows", len(got))
	}

	stat := func(path, auth string) int64 {
		t.Helper()
		var out map[string]int64
		mustAPI(t, a, http.MethodGet, path, "", auth, &out)
		return out["quota"]
	}
	for path, want := range map[string]int64{
		"/api/log/stat":                                    60*1000 + 3*50, // consumption only: the top-up is not usage
		"/api/log/stat?username=bob":                       150,
		"/api/log/stat?channel=2":                          6000,
		"/api/log/stat?model_name=gpt-4o&token_name=web":   54000,
		"/api/log/stat?end_timestamp=1704412800":           4000,
		"/api/log/stat?start_timestamp=4102444800":         0, // 2100
		"/api/log/stat?username=nobody&model_name=missing": 0,
	} {
		if got := stat(path, admin); got != want {
			t.Errorf("%s = %d, want %d", path, got, want)
		}
	}
	if got := stat("/api/log/self/stat", alice); got != 60000 {
		t.Errorf("self stat = %d", got)
	}
	if got := stat("/api/log/self/stat?model_name=claude-3-haiku&username=bob", alice); got != 6000 {
		t.Errorf("self stat by model = %d", got)
	}

	for _, path := range []string{"/api/log/?type=x", "/api/log/?type=9", "/api/log/?start_timestamp=yesterday",
		"/api/log/?channel=one", "/api/log/stat?end_timestamp=-5", "/api/log/self?type=abc"} {
		auth := admin
		if strings.Contains(path, "self") {
			auth = alice
		}
		if code, r, _ := apiCall(t, a, http.MethodGet, path, "", auth); code != http.StatusUnprocessableEntity || r.Message == "" {
			t.Errorf("%s = %d %q, want 422", path, code, r.Message)
		}
	}
}
