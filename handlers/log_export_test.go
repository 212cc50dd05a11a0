package handlers

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"oneapi/queries"
)

// TestLogExport: GET /api/log/export streams every row of the filter as CSV,
// past one batch; admins get every user's rows, users their own; the logs
// page links to it with its filter and shows the filter's total.
func TestLogExport(t *testing.T) {
	a := newTestApp(t)
	f := newLogFixture(t, a)
	ctx := context.Background()
	q := queries.New(a.pool)
	for i := range logExportBatch + 200 { // more than one batch
		if err := q.LogInsert(ctx, queries.LogInsertParams{Type: 2, UserID: f.bob.ID, Username: "bob", TokenName: "=HYPERLINK(1)",
			ChannelID: 3, ModelName: "bulk", Quota: 1, RequestID: fmt.Sprintf("bulk-%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	admin, _ := signedIn(t, a, "export-admin", roleAdmin)
	read := func(c *client, path string) [][]string {
		t.Helper()
		rec := c.get(path)
		if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/csv") {
			t.Fatalf("%s: %d %s\n%.300s", path, rec.Code, rec.Header().Get("Content-Type"), rec.Body)
		}
		recs, err := csv.NewReader(rec.Body).ReadAll()
		if err != nil {
			t.Fatalf("%s: not CSV: %v", path, err)
		}
		return recs
	}
	all := read(admin, "/api/log/export")
	if want := 1 + 60 + 3 + 2 + logExportBatch + 200; len(all) != want {
		t.Errorf("admin export: %d lines, want %d", len(all), want)
	}
	if all[0][0] != "id" || all[0][len(all[0])-1] != "channel" {
		t.Errorf("header: %v", all[0])
	}
	bulk := read(admin, "/api/log/export?model_name=bulk&channel=3")
	if len(bulk) != 1+logExportBatch+200 {
		t.Errorf("filtered export: %d lines", len(bulk))
	}
	if bulk[1][4] != "'=HYPERLINK(1)" {
		t.Errorf("a formula-looking token name was not defused: %q", bulk[1][4])
	}

	alice := a.client(t)
	alice.login("alice", "correct-horse")
	own := read(alice, "/api/log/export?model_name=gpt-4o")
	if len(own) != 1+54 {
		t.Errorf("alice's gpt-4o export: %d lines, want 55", len(own))
	}
	for _, r := range own[1:] {
		if r[3] != "alice" {
			t.Fatalf("a user's export holds another user's row: %v", r)
		}
	}
	if strings.Contains(strings.Join(own[0], ","), "channel") {
		t.Error("a user's export names channels")
	}
	if rec := alice.get("/api/log/export?type=x"); rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), `"success":false`) {
		t.Errorf("bad filter: %d %s", rec.Code, rec.Body)
	}

	page := admin.get("/logs?model=bulk").Body.String()
	if !strings.Contains(page, `href="/api/log/export?model_name=bulk"`) || !strings.Contains(page, `data-testid="log-total"`) {
		t.Errorf("the logs page has no export link for its filter:\n%.2000s", page)
	}
}
