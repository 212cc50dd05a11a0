package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"oneapi/keys"
	"oneapi/queries"
)

// moneyLog is a log row as the money-movement tests compare it.
type moneyLog struct {
	Type     int16
	UserID   int64
	Username string
	Quota    int64
	Content  string
}

// moneyLogs are the top-up and management rows (types 1 and 3), oldest first.
func moneyLogs(t *testing.T, a *testApp) []moneyLog {
	t.Helper()
	rows, err := a.pool.Query(context.Background(),
		"SELECT type, user_id, username, quota, content FROM logs WHERE type IN (1, 3) ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []moneyLog
	for rows.Next() {
		var l moneyLog
		if err := rows.Scan(&l.Type, &l.UserID, &l.Username, &l.Quota, &l.Content); err != nil {
			t.Fatal(err)
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRedeemWritesTopUpLog: redeeming a code through the API and through the
// account page each writes one type-1 row naming the code's prefix; a
// refused code writes none.
func TestRedeemWritesTopUpLog(t *testing.T) {
	t.Parallel()
	a := newAccountApp(t, nil)
	owner := a.createUser(t, userOpts{Role: roleAdmin})
	c, u := signedIn(t, a, "redeemer", roleUser)
	apiCode := a.createRedemption(t, owner, 250_000)
	pageCode := a.createRedemption(t, owner, 40_000)

	if rec, _ := c.api(http.MethodPost, "/api/user/topup", map[string]string{"key": apiCode}); rec.Code != http.StatusOK {
		t.Fatalf("api topup = %d: %s", rec.Code, rec.Body)
	}
	if rec := c.post("/account/topup", url.Values{"key": {pageCode}}, "HX-Request", "true"); rec.Code != http.StatusOK {
		t.Fatalf("page topup = %d: %s", rec.Code, rec.Body)
	}
	// Refused: used already, and unknown.
	if rec, _ := c.api(http.MethodPost, "/api/user/topup", map[string]string{"key": apiCode}); rec.Code != http.StatusUnprocessableEntity {
		t.Errorf("second redeem = %d", rec.Code)
	}
	if rec := c.post("/account/topup", url.Values{"key": {"no-such-code"}}, "HX-Request", "true"); rec.Code != http.StatusUnprocessableEntity {
		t.Errorf("unknown code = %d", rec.Code)
	}

	want := []moneyLog{
		{Type: 1, UserID: u.ID, Username: u.Username, Quota: 250_000, Content: "redeemed code " + keys.Prefix(apiCode) + ": +250000"},
		{Type: 1, UserID: u.ID, Username: u.Username, Quota: 40_000, Content: "redeemed code " + keys.Prefix(pageCode) + ": +40000"},
	}
	if diff := cmp.Diff(want, moneyLogs(t, a)); diff != "" {
		t.Errorf("log rows (-want +got):\n%s", diff)
	}
	if got := a.user(t, u.ID).Quota; got != 1_000_000+290_000 {
		t.Errorf("quota = %d", got)
	}
	// The user sees the rows among their own logs, in One API's shape.
	_, res := c.api(http.MethodGet, "/api/log/self?type=1", nil)
	var logs []apiLog
	if err := json.Unmarshal(res.Data, &logs); err != nil || len(logs) != 2 || logs[0].Quota != 40_000 {
		t.Errorf("own top-up logs = %s (%v)", res.Data, err)
	}
}

// TestAdminQuotaWritesManageLog: /api/topup, an edit of the quota (form and
// JSON) and a new user with quota each write one type-3 row naming the
// admin; a refused grant and an edit that leaves the quota alone write none.
func TestAdminQuotaWritesManageLog(t *testing.T) {
	t.Parallel()
	a := newAccountApp(t, nil)
	admin, me := signedIn(t, a, "boss", roleAdmin)
	tok := a.giveAccessToken(t, me)
	target := a.createUser(t, userOpts{Username: "worker", Quota: 1000})
	auth := []string{"Authorization", "Bearer " + tok}
	by := fmt.Sprintf("admin boss (#%d)", me.ID)

	// Grant, then take more than there is (refused, nothing logged).
	if rec, res := admin.api(http.MethodPost, "/api/topup", map[string]any{"user_id": target.ID, "quota": 500}, auth...); rec.Code != http.StatusOK || string(res.Data) != "1500" {
		t.Fatalf("topup = %d %s", rec.Code, res.Data)
	}
	if rec, _ := admin.api(http.MethodPost, "/api/topup", map[string]any{"user_id": target.ID, "quota": -5000}, auth...); rec.Code != http.StatusNotFound {
		t.Errorf("overdraw = %d", rec.Code)
	}
	// An admin grants quota only below their own role: not to themselves, another admin or root.
	peer := a.createUser(t, userOpts{Username: "peer", Role: roleAdmin, Quota: 7})
	for _, id := range []int64{me.ID, peer.ID} {
		if rec, _ := admin.api(http.MethodPost, "/api/topup", map[string]any{"user_id": id, "quota": 1_000_000}, auth...); rec.Code != http.StatusForbidden {
			t.Errorf("admin topping up user %d = %d, want 403", id, rec.Code)
		}
	}

	// The edit form: the quota changed.
	form := func(quota, quotaWas int64, name string) url.Values {
		return url.Values{"username": {"worker"}, "display_name": {name}, "group": {"default"}, "role": {"1"}, "status": {"1"},
			"quota": {strconv.FormatInt(quota, 10)}, "quota_was": {strconv.FormatInt(quotaWas, 10)}}
	}
	edit := "/users/" + strconv.FormatInt(target.ID, 10)
	page := admin.get(edit + "/edit")
	if !strings.Contains(page.Body.String(), `name="quota_was" value="1500"`) {
		t.Fatalf("edit form has no quota_was of 1500:\n%s", page.Body)
	}
	if rec := admin.post(edit, form(2000, 1500, "W")); rec.Code != http.StatusSeeOther {
		t.Fatalf("edit = %d: %s", rec.Code, rec.Body)
	}

	// The form sent back unchanged after the user spent some: the balance
	// stays what it is now, and nothing is logged.
	if _, err := a.pool.Exec(context.Background(), "UPDATE users SET quota = quota - 300 WHERE id = $1", target.ID); err != nil {
		t.Fatal(err)
	}
	if rec := admin.post(edit, form(2000, 2000, "Worker")); rec.Code != http.StatusSeeOther {
		t.Fatalf("rename = %d: %s", rec.Code, rec.Body)
	}
	if u := a.user(t, target.ID); u.Quota != 1700 || u.DisplayName != "Worker" {
		t.Errorf("after rename: quota %d (want 1700, the spent 300 kept), name %q", u.Quota, u.DisplayName)
	}

	// The JSON API's edit.
	body := map[string]any{"id": target.ID, "username": "worker", "display_name": "Worker", "group": "default", "quota": 100}
	if rec, res := admin.api(http.MethodPut, "/api/user/", body, auth...); rec.Code != http.StatusOK {
		t.Fatalf("api edit = %d %s", rec.Code, res.Message)
	}

	// A new user with quota.
	if rec, res := admin.api(http.MethodPost, "/api/user/", map[string]any{"username": "fresh", "password": "long-enough-pw", "quota": 70}, auth...); rec.Code != http.StatusOK {
		t.Fatalf("create = %d %s", rec.Code, res.Message)
	}
	fresh, err := queries.New(a.pool).UserGetByUsername(context.Background(), "fresh")
	if err != nil {
		t.Fatal(err)
	}

	want := []moneyLog{
		{Type: 3, UserID: target.ID, Username: "worker", Quota: 500, Content: by + " changed the quota by +500 to 1500"},
		{Type: 3, UserID: target.ID, Username: "worker", Quota: 500, Content: by + " changed the quota from 1500 to 2000"},
		{Type: 3, UserID: target.ID, Username: "worker", Quota: -1600, Content: by + " changed the quota from 1700 to 100"},
		{Type: 3, UserID: fresh.ID, Username: "fresh", Quota: 70, Content: by + " created the user with quota 70"},
	}
	if diff := cmp.Diff(want, moneyLogs(t, a)); diff != "" {
		t.Errorf("log rows (-want +got):\n%s", diff)
	}
}

// TestInviteRewardsWriteTopUpLogs: both rewards of a registration with an
// invite code are type-1 rows, committed with the quota.
func TestInviteRewardsWriteTopUpLogs(t *testing.T) {
	t.Parallel()
	a := newAccountApp(t, nil)
	a.setOption(t, "QuotaForInviter", "30")
	a.setOption(t, "QuotaForInvitee", "20")
	inviter := a.createUser(t, userOpts{Username: "host", Quota: 5})
	tok := a.giveAccessToken(t, inviter)
	c := a.client(t)
	_, res := c.api(http.MethodGet, "/api/user/aff", nil, "Authorization", tok)
	var code string
	if err := json.Unmarshal(res.Data, &code); err != nil || code == "" {
		t.Fatalf("aff = %s", res.Data)
	}
	rec := c.post("/register", url.Values{"username": {"guest"}, "password": {"long-enough-pw"}, "password2": {"long-enough-pw"}, "aff": {code}})
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("register = %d", rec.Code)
	}
	guest, err := queries.New(a.pool).UserGetByUsername(context.Background(), "guest")
	if err != nil {
		t.Fatal(err)
	}
	want := []moneyLog{
		{Type: 1, UserID: guest.ID, Username: "guest", Quota: 20, Content: "invited by host: +20"},
		{Type: 1, UserID: inviter.ID, Username: "host", Quota: 30, Content: "invited guest: +30"},
	}
	if diff := cmp.Diff(want, moneyLogs(t, a)); diff != "" {
		t.Errorf("log rows (-want +got):\n%s", diff)
	}

	// Without an invite code nothing is rewarded, so nothing is logged.
	if rec := a.client(t).post("/register", url.Values{"username": {"loner"}, "password": {"long-enough-pw"}, "password2": {"long-enough-pw"}}); rec.Code != http.StatusSeeOther {
		t.Fatalf("register = %d", rec.Code)
	}
	if n := len(moneyLogs(t, a)); n != 2 {
		t.Errorf("%d money rows after a plain registration, want 2", n)
	}
}

// TestRedeemLogInSameTransaction: when the log row cannot be written, the
// code stays unused and no quota is added (the row and the money commit
// together or not at all).
func TestRedeemLogInSameTransaction(t *testing.T) {
	t.Parallel()
	a := newAccountApp(t, nil)
	owner := a.createUser(t, userOpts{Role: roleAdmin})
	c, u := signedIn(t, a, "unlucky", roleUser)
	code := a.createRedemption(t, owner, 1234)
	// Make every insert into logs fail, inside this test's own database.
	ctx := context.Background()
	for _, stmt := range []string{
		`CREATE FUNCTION refuse_logs() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'logs refused'; END $$`,
		`CREATE TRIGGER refuse_logs BEFORE INSERT ON logs FOR EACH ROW EXECUTE FUNCTION refuse_logs()`,
	} {
		if _, err := a.pool.Exec(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	if rec, _ := c.api(http.MethodPost, "/api/user/topup", map[string]string{"key": code}); rec.Code != http.StatusInternalServerError {
		t.Errorf("topup with logs refused = %d, want 500", rec.Code)
	}
	if got := a.user(t, u.ID).Quota; got != 1_000_000 {
		t.Errorf("quota = %d, want 1000000 (unchanged)", got)
	}
	var status int16
	if err := a.pool.QueryRow(ctx, "SELECT status FROM redemptions WHERE code_hash = $1", keys.Hash(code)).Scan(&status); err != nil || status != 1 {
		t.Errorf("code status = %d (%v), want 1 (still usable)", status, err)
	}
}
