package handlers

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"oneapi/keys"
	"oneapi/queries"
)

var tokenKeyInput = regexp.MustCompile(`value="(sk-[A-Za-z0-9]{48})"`)

func TestTokenPages(t *testing.T) {
	t.Parallel()
	a := newAccountApp(t, nil)
	c, me := signedIn(t, a, "tess", roleUser)
	other, _ := signedIn(t, a, "otto", roleUser)
	ctx := context.Background()
	q := queries.New(a.pool)

	form := url.Values{"name": {"laptop"}, "remain_quota": {"250000"}, "expired_time": {""},
		"models": {"gpt-4o, gpt-4o-mini"}, "subnet": {"10.0.0.0/8, 192.0.2.7"}}

	t.Run("validation", func(t *testing.T) {
		for field, tt := range map[string]struct{ name, value string }{
			"subnet":       {"subnet", "not-an-address"},
			"remain_quota": {"remain_quota", "lots"},
			"name":         {"name", strings.Repeat("n", tokenMaxName+1)},
			"expired_time": {"expired_time", time.Now().Add(-time.Hour).UTC().Format(tokenTimeLayout)},
		} {
			bad := url.Values{}
			for k, v := range form {
				bad[k] = v
			}
			bad.Set(tt.name, tt.value)
			rec := c.post("/tokens", bad)
			if rec.Code != http.StatusUnprocessableEntity || testids(rec.Body.String(), "error-"+field) != 1 || tokenKeyInput.MatchString(rec.Body.String()) {
				t.Errorf("%s = %d: %s", field, rec.Code, rec.Body)
			}
		}
		if rec := c.post("/tokens", url.Values{"name": {"x"}, "expired_time": {"tomorrow"}}); rec.Code != http.StatusUnprocessableEntity ||
			testids(rec.Body.String(), "error-expired_time") != 1 {
			t.Errorf("unparsable expiry = %d", rec.Code)
		}
		if n := countRows(t, a, "tokens"); n != 0 {
			t.Errorf("%d tokens after failed creates", n)
		}
	})

	// Create: the key is on this reply, once, and it works at once.
	expires := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Minute)
	form.Set("expired_time", expires.Format(tokenTimeLayout))
	rec := c.post("/tokens", form)
	body := rec.Body.String()
	m := tokenKeyInput.FindStringSubmatch(body)
	if rec.Code != http.StatusOK || testids(body, "token-created") != 1 || m == nil {
		t.Fatalf("create = %d: %s", rec.Code, body)
	}
	key := m[1]
	if rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q on the page with the key", rec.Header().Get("Cache-Control"))
	}
	st, err := a.state.Token(ctx, sha256.Sum256([]byte(strings.TrimPrefix(key, "sk-"))))
	if err != nil || st.UserID != me.ID || !st.Models["gpt-4o-mini"] || len(st.Subnets) != 2 || st.ExpiresAt == nil || !st.ExpiresAt.Equal(expires) {
		t.Fatalf("state token = %+v (%v)", st, err)
	}
	tok, err := q.TokenGetByKeyHash(ctx, keys.Hash(key))
	if err != nil || tok.RemainQuota != 250000 || tok.UnlimitedQuota || tok.Name != "laptop" {
		t.Fatalf("stored = %+v (%v)", tok, err)
	}
	id := strconv.FormatInt(tok.ID, 10)

	var pages []string
	list := c.get("/tokens")
	pages = append(pages, list.Body.String())
	if list.Code != http.StatusOK || testids(list.Body.String(), "token-row") != 1 || !strings.Contains(list.Body.String(), tok.KeyPrefix) {
		t.Errorf("list = %d: %s", list.Code, list.Body)
	}
	if b := other.get("/tokens").Body.String(); testids(b, "token-row") != 0 {
		t.Error("another user sees the token")
	}

	t.Run("search and paging", func(t *testing.T) {
		for i := range tokensPageSize + 2 {
			if _, err := q.TokenCreate(ctx, queries.TokenCreateParams{UserID: me.ID, Name: fmt.Sprintf("bulk%02d", i),
				KeyHash: keys.Hash(keys.NewAPIKey()), KeyPrefix: "sk-bulk…", Status: 1}); err != nil {
				t.Fatal(err)
			}
		}
		b := c.get("/tokens?q=LAPTOP", htmx("token-table")...).Body.String()
		if strings.Contains(b, "<html") || testids(b, "token-row") != 1 {
			t.Errorf("search = %d rows", testids(b, "token-row"))
		}
		b = c.get("/tokens", htmx("token-table")...).Body.String()
		if testids(b, "token-row") != tokensPageSize || testids(b, "page-next") != 1 {
			t.Errorf("page 1 = %d rows", testids(b, "token-row"))
		}
		if b := c.get("/tokens?p=2").Body.String(); testids(b, "token-row") != 3 {
			t.Errorf("page 2 = %d rows", testids(b, "token-row"))
		}
	})

	t.Run("edit", func(t *testing.T) {
		edit := c.get("/tokens/" + id + "/edit")
		b := edit.Body.String()
		pages = append(pages, b)
		if edit.Code != http.StatusOK || !strings.Contains(b, `value="`+expires.Format(tokenTimeLayout)+`"`) || !strings.Contains(b, `value="250000"`) {
			t.Fatalf("edit = %d: %s", edit.Code, b)
		}
		if rec := other.get("/tokens/" + id + "/edit"); rec.Code != http.StatusNotFound {
			t.Errorf("another user's edit = %d, want 404", rec.Code)
		}
		// Requests spend from the token while the form is open; saving with
		// the quota untouched keeps what is left, not what the form showed.
		if _, err := a.pool.Exec(ctx, "UPDATE tokens SET remain_quota = 200000 WHERE id = $1", tok.ID); err != nil {
			t.Fatal(err)
		}
		upd := url.Values{"name": {"desk"}, "remain_quota": {"250000"}, "remain_quota_shown": {"250000"},
			"expired_time": {""}, "models": {""}, "subnet": {""}}
		if rec := c.post("/tokens/"+id, upd); rec.Code != http.StatusSeeOther {
			t.Fatalf("update = %d %s", rec.Code, rec.Body)
		}
		got, _ := q.TokenGetByID(ctx, tok.ID)
		if got.Name != "desk" || got.RemainQuota != 200000 || got.ExpiresAt != nil || got.Models != "" || got.Subnet != "" {
			t.Errorf("after update = %+v", got)
		}
		if st, _ := a.state.Token(ctx, sha256.Sum256([]byte(strings.TrimPrefix(key, "sk-")))); st == nil || st.Models != nil || st.ExpiresAt != nil {
			t.Errorf("state after update = %+v", st)
		}
		upd.Set("remain_quota", "5")
		upd.Set("unlimited_quota", "true")
		if rec := c.post("/tokens/"+id, upd); rec.Code != http.StatusSeeOther {
			t.Fatalf("update = %d", rec.Code)
		}
		if got, _ := q.TokenGetByID(ctx, tok.ID); got.RemainQuota != 5 || !got.UnlimitedQuota {
			t.Errorf("quota change = %+v", got)
		}
		upd.Set("subnet", "300.1.1.1")
		if rec := c.post("/tokens/"+id, upd); rec.Code != http.StatusUnprocessableEntity || testids(rec.Body.String(), "error-subnet") != 1 {
			t.Errorf("bad subnet = %d", rec.Code)
		}
		if rec := other.post("/tokens/"+id, upd); rec.Code != http.StatusNotFound {
			t.Errorf("another user's update = %d", rec.Code)
		}
	})

	t.Run("disable, enable, delete", func(t *testing.T) {
		rec := c.post("/tokens/"+id+"/disable", nil, htmx("token-"+id)...)
		b := rec.Body.String()
		if rec.Code != http.StatusOK || !strings.Contains(b, `id="token-`+id+`"`) || !strings.Contains(b, ">disabled<") || testids(b, "token-enable") != 1 {
			t.Errorf("disable = %d: %s", rec.Code, b)
		}
		if st, _ := a.state.Token(ctx, sha256.Sum256([]byte(strings.TrimPrefix(key, "sk-")))); st == nil || st.Status != statusDisabled {
			t.Errorf("state after disable = %+v", st)
		}
		// A token past its expiry cannot be enabled: the flash says why.
		if _, err := a.pool.Exec(ctx, "UPDATE tokens SET expires_at = now() - interval '1 hour' WHERE id = $1", tok.ID); err != nil {
			t.Fatal(err)
		}
		rec = c.post("/tokens/"+id+"/enable", nil, htmx("token-"+id)...)
		if rec.Code != http.StatusUnprocessableEntity || rec.Header().Get("HX-Retarget") != "#flash" || !strings.Contains(rec.Body.String(), "in the past") {
			t.Errorf("enable expired = %d %s", rec.Code, rec.Body)
		}
		if rec := c.post("/tokens/"+id+"/enable", nil); rec.Code != http.StatusSeeOther {
			t.Errorf("plain enable expired = %d", rec.Code)
		}
		if b := c.get("/tokens").Body.String(); !strings.Contains(b, "in the past") {
			t.Error("no flash after a refused plain enable")
		}
		if _, err := a.pool.Exec(ctx, "UPDATE tokens SET expires_at = NULL WHERE id = $1", tok.ID); err != nil {
			t.Fatal(err)
		}
		rec = c.post("/tokens/"+id+"/enable", nil, htmx("token-"+id)...)
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), ">enabled<") {
			t.Errorf("enable = %d: %s", rec.Code, rec.Body)
		}
		if rec := other.post("/tokens/"+id+"/delete", nil, htmx("")...); rec.Code != http.StatusNotFound {
			t.Errorf("another user's delete = %d", rec.Code)
		}
		rec = c.post("/tokens/"+id+"/delete", nil, htmx("token-"+id)...)
		if rec.Code != http.StatusOK || rec.Body.Len() != 0 {
			t.Errorf("delete = %d %q", rec.Code, rec.Body)
		}
		if _, err := a.state.Token(ctx, sha256.Sum256([]byte(strings.TrimPrefix(key, "sk-")))); err == nil {
			t.Error("deleted token still authorises")
		}
	})

	for _, p := range pages {
		if strings.Contains(p, key) || strings.Contains(p, strings.TrimPrefix(key, "sk-")) {
			t.Fatalf("the key is on a later page: %s", p)
		}
	}
}
