package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestAPILogSearch(t *testing.T) {
	t.Parallel()
	a := newAccountApp(t, nil)
	f := newLogFixture(t, a)
	admin := "Bearer " + a.giveAccessToken(t, a.createUser(t, userOpts{Username: "admin", Role: roleAdmin}))
	alice := "Bearer " + a.giveAccessToken(t, f.alice)

	search := func(path, auth string) []apiLog {
		t.Helper()
		var logs []apiLog
		mustAPI(t, a, http.MethodGet, path, "", auth, &logs)
		return logs
	}
	tests := []struct {
		name, path, auth string
		want             int
	}{
		{"by model", "/api/log/search?keyword=claude-3-haiku", admin, 6},
		{"by token", "/api/log/search?keyword=cli", admin, 6},
		{"by user", "/api/log/search?keyword=bob", admin, 4},
		{"by type, as One API", "/api/log/search?keyword=1", admin, 1},
		{"by content", "/api/log/search?keyword=" + url.QueryEscape("DISABLED"), admin, 1},
		{"wildcards are literal", "/api/log/search?keyword=" + url.QueryEscape("%"), admin, 0},
		{"underscore is literal", "/api/log/search?keyword=" + url.QueryEscape("_"), admin, 0},
		{"empty: the newest rows", "/api/log/search?keyword=", admin, 65},
		{"own, by model", "/api/log/self/search?keyword=claude-3-haiku", alice, 6},
		{"own, by type", "/api/log/self/search?keyword=2", alice, 60},
		{"own rows only", "/api/log/self/search?keyword=bob", alice, 0},
		{"own, another's model", "/api/log/self/search?keyword=gpt-4o-mini", alice, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := search(tt.path, tt.auth)
			if len(logs) != tt.want {
				t.Fatalf("%d rows, want %d", len(logs), tt.want)
			}
			for i := 1; i < len(logs); i++ {
				if logs[i].ID >= logs[i-1].ID {
					t.Fatal("not newest first")
				}
			}
		})
	}

	// At most 100 rows, as One API's MaxRecentItems.
	if _, err := a.pool.Exec(context.Background(),
		`INSERT INTO logs (type, user_id, username, model_name) SELECT 2, $1, 'alice', 'gpt-4o' FROM generate_series(1, 120)`, f.alice.ID); err != nil {
		t.Fatal(err)
	}
	if n := len(search("/api/log/search?keyword=gpt-4o", admin)); n != logSearchLimit {
		t.Errorf("%d rows, want the limit %d", n, logSearchLimit)
	}
	// A user's own rows never name the channel; an admin's do.
	if logs := search("/api/log/self/search?keyword=claude-3-haiku", alice); logs[0].ChannelID != 0 {
		t.Errorf("own search shows channel %d", logs[0].ChannelID)
	}
	if logs := search("/api/log/search?keyword=claude-3-haiku", admin); logs[0].ChannelID != 2 {
		t.Errorf("admin search shows channel %d, want 2", logs[0].ChannelID)
	}
	if code, _, _ := apiCall(t, a, http.MethodGet, "/api/log/search?keyword=x", "", alice); code != http.StatusForbidden {
		t.Errorf("user on the admin search = %d", code)
	}
}

func TestAPILogDelete(t *testing.T) {
	t.Parallel()
	a := newAccountApp(t, nil)
	f := newLogFixture(t, a)
	boss := a.createUser(t, userOpts{Username: "boss", Role: roleAdmin})
	admin := "Bearer " + a.giveAccessToken(t, boss)
	alice := "Bearer " + a.giveAccessToken(t, f.alice)
	count := func() int { return countRows(t, a, "logs") }
	before := count() // 65; alice's 10 oldest are from January 2024

	cutoff := time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC).Unix()
	for _, tt := range []struct {
		path, auth string
		want       int
	}{
		{"/api/log/", alice, http.StatusForbidden},
		{"/api/log/", admin, http.StatusUnprocessableEntity},
		{"/api/log/?target_timestamp=yesterday", admin, http.StatusUnprocessableEntity},
		{"/api/log/?target_timestamp=-5", admin, http.StatusUnprocessableEntity},
	} {
		if code, _, _ := apiCall(t, a, http.MethodDelete, tt.path, "", tt.auth); code != tt.want {
			t.Errorf("DELETE %s = %d, want %d", tt.path, code, tt.want)
		}
	}
	if count() != before {
		t.Fatal("a refused delete deleted rows")
	}

	var deleted int64
	mustAPI(t, a, http.MethodDelete, fmt.Sprintf("/api/log/?target_timestamp=%d", cutoff), "", admin, &deleted)
	if deleted != 10 {
		t.Errorf("deleted %d, want 10", deleted)
	}
	// The deletion is itself a management row, which survives it.
	if got := count(); got != before-10+1 {
		t.Errorf("%d rows left, want %d", got, before-10+1)
	}
	var content string
	if err := a.pool.QueryRow(context.Background(), "SELECT content FROM logs WHERE type = 3 AND user_id = $1", boss.ID).Scan(&content); err != nil ||
		!strings.Contains(content, "deleted 10 log rows created before 2024-02-01T00:00:00Z") {
		t.Errorf("management row = %q (%v)", content, err)
	}

	// The same without the slash; nothing older is left, so 0.
	_, r, _ := apiCall(t, a, http.MethodDelete, fmt.Sprintf("/api/log?target_timestamp=%d", cutoff), "", admin)
	if string(r.Data) != "0" {
		t.Errorf("second delete data = %s, want 0", r.Data)
	}
	// Every type goes, as in One API: a cutoff in the future empties the table
	// (but for the row recording it).
	mustAPI(t, a, http.MethodDelete, fmt.Sprintf("/api/log/?target_timestamp=%d", time.Now().Add(time.Hour).Unix()), "", admin, &deleted)
	var left []apiLog
	mustAPI(t, a, http.MethodGet, "/api/log/?p=0", "", admin, &left)
	if len(left) != 1 || left[0].Type != 3 {
		b, _ := json.Marshal(left)
		t.Errorf("left after a future cutoff: %s", b)
	}
}
