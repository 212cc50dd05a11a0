package handlers

import (
	"context"
	"fmt"
	"net/http"
	"testing"
)

// TestQuotaEditRevokesLeases: an absolute quota edit first takes back what a
// node holds in a quota lease, so the value set is the value that stays; a
// balance sent back as it was read keeps the live one.
func TestQuotaEditRevokesLeases(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	ctx := context.Background()
	uid, alice := apiTestUser(t, a, "alice", roleUser)
	_, root := apiTestUser(t, a, "root", roleRoot)
	if _, err := a.pool.Exec(ctx, "UPDATE users SET quota = 100000 WHERE id = $1", uid); err != nil {
		t.Fatal(err)
	}
	var tok apiToken
	mustAPI(t, a, http.MethodPost, "/api/token/", `{"name":"busy","remain_quota":5000,"expired_time":-1}`, alice, &tok)
	scalar := func(sql string, args ...any) int64 {
		t.Helper()
		var n int64
		if err := a.pool.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	lease := func() int64 { // what a node does when the token gets busy
		t.Helper()
		id := scalar("SELECT lease_id FROM quota_lease($1, $2, 100, 4, 'node-x')", tok.ID, uid)
		if id == 0 {
			t.Fatal("lease refused")
		}
		return id
	}
	check := func(step string, wantToken, wantUser int64) {
		t.Helper()
		if got := scalar("SELECT remain_quota FROM tokens WHERE id = $1", tok.ID); got != wantToken {
			t.Errorf("%s: token remain %d, want %d", step, got, wantToken)
		}
		if got := scalar("SELECT quota FROM users WHERE id = $1", uid); got != wantUser {
			t.Errorf("%s: user quota %d, want %d", step, got, wantUser)
		}
		if n := scalar("SELECT count(*) FROM quota_leases"); n != 0 {
			t.Errorf("%s: %d leases left", step, n)
		}
	}
	put := func(remain int64) {
		t.Helper()
		mustAPI(t, a, http.MethodPut, "/api/token/", fmt.Sprintf(`{"id":%d,"name":"busy","remain_quota":%d,"expired_time":-1}`, tok.ID, remain), alice, nil)
	}

	lease()
	put(4900) // the balance a GET showed while 100 was leased: unchanged
	check("sent back as read", 5000, 100000)

	id := lease()
	if _, err := a.pool.Exec(ctx, `INSERT INTO reservations (node_id, user_id, token_id, channel_id, model_name, quota, is_stream, request_id, lease_id)
		VALUES ('node-x', $1, $2, 0, 'gpt-4o', 10, false, 'long-1', $3)`, uid, tok.ID, id); err != nil {
		t.Fatal(err)
	}
	put(7000)
	check("token set", 7000, 100000)
	if n := scalar("SELECT count(*) FROM reservations WHERE request_id = 'long-1' AND lease_id IS NULL"); n != 1 {
		t.Error("the leased request's reservation was not made a plain one")
	}

	lease()
	mustAPI(t, a, http.MethodPut, "/api/user/", fmt.Sprintf(`{"id":%d,"username":"alice","display_name":"alice","group":"default","quota":50000}`, uid), root, nil)
	check("user set", 7000, 50000)
}
