package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"oneapi/keys"
	"oneapi/queries"
)

func TestAPITokenLifecycle(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	ctx := context.Background()
	uid, user := apiTestUser(t, a, "alice", roleUser)

	expiry := time.Now().Add(48 * time.Hour).Unix()
	var created apiToken
	mustAPI(t, a, http.MethodPost, "/api/token/", fmt.Sprintf(`{"name":" ci ","remain_quota":5000,"expired_time":%d,
		"models":"gpt-4o, gpt-4o-mini","subnet":"10.0.0.0/8, 192.168.1.7"}`, expiry), user, &created)
	key := created.Key
	if !strings.HasPrefix(key, "sk-") || len(key) != 51 {
		t.Fatalf("created key = %q, want sk- and 48 characters", key)
	}
	if created.Name != "ci" || created.UserID != uid || created.Status != 1 || created.RemainQuota != 5000 ||
		created.ExpiredTime != expiry || created.Models != "gpt-4o,gpt-4o-mini" || created.Subnet != "10.0.0.0/8,192.168.1.7" {
		t.Errorf("created = %+v", created)
	}

	// The key works as a hash lookup in the relay's state, at once.
	st, err := a.state.Token(ctx, [32]byte(keys.Hash(key)))
	if err != nil || st.ID != created.ID || st.UserID != uid || !st.Models["gpt-4o-mini"] || len(st.Subnets) != 2 || st.ExpiresAt == nil {
		t.Fatalf("state token = %+v, %v", st, err)
	}
	var stored []byte
	if err := a.pool.QueryRow(ctx, "SELECT convert_to(t::text, 'UTF8') FROM tokens t WHERE id = $1", created.ID).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(stored), strings.TrimPrefix(key, "sk-")) {
		t.Errorf("token row holds the key: %s", stored)
	}

	// After creation the key is never shown again: only its prefix.
	var replies []string
	var list []apiToken
	replies = append(replies, mustAPI(t, a, http.MethodGet, "/api/token/?p=0", "", user, &list))
	if len(list) != 1 || list[0].Key != keys.Prefix(key) {
		t.Errorf("list = %+v", list)
	}
	replies = append(replies, mustAPI(t, a, http.MethodGet, "/api/token/search?keyword=C", "", user, &list))
	if len(list) != 1 {
		t.Errorf("search = %+v", list)
	}
	var got apiToken
	replies = append(replies, mustAPI(t, a, http.MethodGet, fmt.Sprintf("/api/token/%d", created.ID), "", user, &got))
	if got.Name != "ci" || got.Key != keys.Prefix(key) {
		t.Errorf("get = %+v", got)
	}

	// status_only touches nothing but the status.
	replies = append(replies, mustAPI(t, a, http.MethodPut, "/api/token/?status_only=true",
		fmt.Sprintf(`{"id":%d,"status":2,"name":"ignored","remain_quota":1}`, created.ID), user, &got))
	if got.Status != 2 || got.Name != "ci" || got.RemainQuota != 5000 {
		t.Errorf("after status_only = %+v", got)
	}
	if st, _ := a.state.Token(ctx, [32]byte(keys.Hash(key))); st.Status != 2 {
		t.Errorf("state status = %d after disabling", st.Status)
	}

	// A full update changes the named fields and keeps the others.
	replies = append(replies, mustAPI(t, a, http.MethodPut, "/api/token/",
		fmt.Sprintf(`{"id":%d,"name":"ci-2","expired_time":-1,"unlimited_quota":true,"models":"","status":1}`, created.ID), user, &got))
	if got.Name != "ci-2" || got.ExpiredTime != -1 || !got.UnlimitedQuota || got.Models != "" || got.Status != 1 ||
		got.RemainQuota != 5000 || got.Subnet != "10.0.0.0/8,192.168.1.7" {
		t.Errorf("after update = %+v", got)
	}
	if st, _ := a.state.Token(ctx, [32]byte(keys.Hash(key))); st.Name != "ci-2" || st.Models != nil || st.ExpiresAt != nil || !st.Unlimited {
		t.Errorf("state after update = %+v", st)
	}
	for _, r := range replies {
		if strings.Contains(r, key) || strings.Contains(r, strings.TrimPrefix(key, "sk-")) {
			t.Errorf("a reply after creation carries the key: %s", r)
		}
	}

	mustAPI(t, a, http.MethodDelete, fmt.Sprintf("/api/token/%d", created.ID), "", user, nil)
	if _, err := a.state.Token(ctx, [32]byte(keys.Hash(key))); err == nil {
		t.Error("deleted token still authorises")
	}
	if code, _, _ := apiCall(t, a, http.MethodGet, fmt.Sprintf("/api/token/%d", created.ID), "", user); code != http.StatusNotFound {
		t.Errorf("get deleted = %d, want 404", code)
	}
}

func TestAPITokenOwnership(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	_, alice := apiTestUser(t, a, "alice", roleUser)
	_, bob := apiTestUser(t, a, "bob", roleAdmin) // even an admin manages only their own tokens
	var tok apiToken
	mustAPI(t, a, http.MethodPost, "/api/token/", `{"name":"mine"}`, alice, &tok)

	tests := []struct{ name, method, path, body string }{
		{"get", http.MethodGet, fmt.Sprintf("/api/token/%d", tok.ID), ""},
		{"update", http.MethodPut, "/api/token/", fmt.Sprintf(`{"id":%d,"name":"stolen"}`, tok.ID)},
		{"status only", http.MethodPut, "/api/token/?status_only=true", fmt.Sprintf(`{"id":%d,"status":2}`, tok.ID)},
		{"delete", http.MethodDelete, fmt.Sprintf("/api/token/%d", tok.ID), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code, r, _ := apiCall(t, a, tt.method, tt.path, tt.body, bob); code != http.StatusNotFound {
				t.Errorf("= %d %q, want 404", code, r.Message)
			}
		})
	}
	var list []apiToken
	mustAPI(t, a, http.MethodGet, "/api/token/", "", bob, &list)
	mustAPI(t, a, http.MethodGet, "/api/token/search?keyword=mine", "", bob, &list)
	if len(list) != 0 {
		t.Errorf("bob sees alice's tokens: %+v", list)
	}
	var got apiToken
	mustAPI(t, a, http.MethodGet, fmt.Sprintf("/api/token/%d", tok.ID), "", alice, &got)
	if got.Name != "mine" || got.Status != tokenStatusExhausted { // no quota and not unlimited
		t.Errorf("alice's token after bob's attempts = %+v", got)
	}
}

func TestAPITokenValidation(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	_, user := apiTestUser(t, a, "alice", roleUser)
	past := time.Now().Add(-time.Hour).Unix()
	tests := []struct {
		name, body string
		want       int
		msg        string
	}{
		{"malformed JSON", `{"name":`, http.StatusBadRequest, "invalid JSON"},
		{"wrong type", `{"remain_quota":"lots"}`, http.StatusBadRequest, "remain_quota"},
		{"long name", `{"name":"` + strings.Repeat("n", 31) + `"}`, http.StatusUnprocessableEntity, "30 characters"},
		{"negative quota", `{"remain_quota":-1}`, http.StatusUnprocessableEntity, "remain_quota"},
		{"expired_time below -1", `{"expired_time":-5}`, http.StatusUnprocessableEntity, "expired_time"},
		{"expired_time in milliseconds", fmt.Sprintf(`{"expired_time":%d}`, time.Now().UnixMilli()), http.StatusUnprocessableEntity, "expired_time"},
		{"expired_time in the past", fmt.Sprintf(`{"expired_time":%d}`, past), http.StatusUnprocessableEntity, "in the past"},
		{"bad subnet", `{"subnet":"10.0.0.0/8,not-an-ip"}`, http.StatusUnprocessableEntity, "not-an-ip"},
		{"bad CIDR", `{"subnet":"10.0.0.0/33"}`, http.StatusUnprocessableEntity, "subnet"},
		{"bad status", `{"status":9}`, http.StatusUnprocessableEntity, "status"},
	}
	for _, tt := range tests {
		t.Run("create "+tt.name, func(t *testing.T) {
			code, r, _ := apiCall(t, a, http.MethodPost, "/api/token/", tt.body, user)
			if code != tt.want || !strings.Contains(r.Message, tt.msg) {
				t.Errorf("= %d %q, want %d containing %q", code, r.Message, tt.want, tt.msg)
			}
		})
	}
	if n := countRows(t, a, "tokens"); n != 0 {
		t.Fatalf("%d tokens stored by invalid requests", n)
	}
	// A name of 30 characters, not bytes, is fine.
	var tok apiToken
	mustAPI(t, a, http.MethodPost, "/api/token/", `{"name":"`+strings.Repeat("令", 30)+`","remain_quota":10}`, user, &tok)

	// A token whose expiry has passed cannot be enabled until it changes.
	if _, err := a.pool.Exec(context.Background(), "UPDATE tokens SET status = 2, expires_at = now() - interval '1 hour' WHERE id = $1", tok.ID); err != nil {
		t.Fatal(err)
	}
	updates := []struct{ name, path, body, msg string }{
		{"enable expired", "/api/token/?status_only=true", fmt.Sprintf(`{"id":%d,"status":1}`, tok.ID), "in the past"},
		{"enable with past expiry", "/api/token/", fmt.Sprintf(`{"id":%d,"status":1,"expired_time":%d}`, tok.ID, past), "in the past"},
		{"status_only without status", "/api/token/?status_only=true", fmt.Sprintf(`{"id":%d}`, tok.ID), "status"},
		{"no id", "/api/token/", `{"name":"x"}`, "id is required"},
		{"bad subnet", "/api/token/", fmt.Sprintf(`{"id":%d,"subnet":"nope"}`, tok.ID), "subnet"},
		{"negative quota", "/api/token/", fmt.Sprintf(`{"id":%d,"remain_quota":-3}`, tok.ID), "remain_quota"},
	}
	for _, tt := range updates {
		t.Run("update "+tt.name, func(t *testing.T) {
			code, r, _ := apiCall(t, a, http.MethodPut, tt.path, tt.body, user)
			if code != http.StatusUnprocessableEntity || !strings.Contains(r.Message, tt.msg) {
				t.Errorf("= %d %q, want 422 containing %q", code, r.Message, tt.msg)
			}
		})
	}
	var got apiToken
	mustAPI(t, a, http.MethodGet, fmt.Sprintf("/api/token/%d", tok.ID), "", user, &got)
	if got.Status != statusDisabled || got.RemainQuota != 10 {
		t.Errorf("failed updates changed the token: %+v", got)
	}
	// Moving the expiry into the future and enabling in one request works.
	mustAPI(t, a, http.MethodPut, "/api/token/", fmt.Sprintf(`{"id":%d,"status":1,"expired_time":-1}`, tok.ID), user, &got)
	if got.Status != statusEnabled || got.ExpiredTime != -1 {
		t.Errorf("after fixing expiry = %+v", got)
	}
}

func TestAPIAccessToken(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	_, old := apiTestUser(t, a, "alice", roleUser)

	var tok string
	rec := a.do(http.MethodGet, "/api/user/token", "", "Authorization", old)
	if rec.Code != http.StatusOK || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("= %d, Cache-Control %q", rec.Code, rec.Header().Get("Cache-Control"))
	}
	var r apiTestReply
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil || json.Unmarshal(r.Data, &tok) != nil {
		t.Fatalf("reply %s", rec.Body)
	}
	if len(tok) != accessTokenLength || strings.HasPrefix(tok, "sk-") {
		t.Errorf("token = %q", tok)
	}
	if code, _, _ := apiCall(t, a, http.MethodGet, "/api/token/", "", "Bearer "+tok); code != http.StatusOK {
		t.Errorf("new token = %d", code)
	}
	if code, _, _ := apiCall(t, a, http.MethodGet, "/api/token/", "", tok); code != http.StatusOK {
		t.Errorf("new token without Bearer = %d", code)
	}
	if code, _, _ := apiCall(t, a, http.MethodGet, "/api/token/", "", old); code != http.StatusUnauthorized {
		t.Errorf("replaced token = %d, want 401", code)
	}
	var prefix string
	if err := a.pool.QueryRow(context.Background(), "SELECT access_token_prefix FROM users WHERE username = 'alice'").Scan(&prefix); err != nil || prefix != keys.Prefix(tok) {
		t.Errorf("stored prefix %q for %q (%v)", prefix, tok, err)
	}
}

// TestAPISession covers the other way in: a session from /api/user/login.
func TestAPISession(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	hash, err := bcrypt.GenerateFromPassword([]byte("correct horse"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := queries.New(a.pool).UserCreate(context.Background(), queries.UserCreateParams{
		Username: "sam", PasswordHash: string(hash), Role: roleAdmin, Status: statusEnabled, GroupName: "default",
	}); err != nil {
		t.Fatal(err)
	}
	rec := a.do(http.MethodPost, "/api/user/login", `{"username":"sam","password":"correct horse"}`, "Content-Type", "application/json")
	if rec.Code != http.StatusOK {
		t.Fatalf("login = %d %s", rec.Code, rec.Body)
	}
	var cookie string
	for _, c := range rec.Result().Cookies() {
		if c.Name == sessionCookie {
			cookie = c.Name + "=" + c.Value
		}
	}
	if cookie == "" {
		t.Fatal("no session cookie")
	}
	tests := []struct {
		name, method, path, body string
		header                   []string
		want                     int
	}{
		{"list channels", http.MethodGet, "/api/channel/", "", nil, http.StatusOK},
		{"create token with JSON", http.MethodPost, "/api/token/", `{"name":"s"}`, []string{"Content-Type", "application/json"}, http.StatusOK},
		{"form post without CSRF token", http.MethodPost, "/api/token/", `{"name":"s"}`, []string{"Content-Type", "text/plain"}, http.StatusForbidden},
		{"access token from the console", http.MethodGet, "/api/user/token", "", []string{"Sec-Fetch-Site", "same-origin"}, http.StatusOK},
		{"access token from another site", http.MethodGet, "/api/user/token", "", []string{"Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := a.do(tt.method, tt.path, tt.body, append([]string{"Cookie", cookie}, tt.header...)...)
			if rec.Code != tt.want {
				t.Errorf("= %d %s, want %d", rec.Code, rec.Body, tt.want)
			}
		})
	}
}
