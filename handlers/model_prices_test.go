package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"oneapi/state"
)

// The price list shows what the viewer's group reaches, in dollars per 1M
// tokens derived from the ratios, group ratio applied; admins see any group.
func TestModelPricesPage(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	_, admin := apiTestUser(t, a, "admin", roleAdmin)
	a.setOption(t, "GroupRatio", `{"default":1,"vip":2}`)
	if err := a.state.Reload(context.Background(), state.KindOptions, 0); err != nil {
		t.Fatal(err)
	}
	for _, ch := range []map[string]any{
		{"type": 1, "name": "d", "key": "sk-aaaaaaaaaaaaaaaaaaaa", "models": "gpt-4o-mini,house-model", "group": "default"},
		{"type": 1, "name": "v", "key": "sk-bbbbbbbbbbbbbbbbbbbb", "models": "gpt-4o-mini,vip-only-model", "group": "vip"},
	} {
		body, _ := json.Marshal(ch)
		mustAPI(t, a, http.MethodPost, "/api/channel/", string(body), admin, nil)
	}

	c, _ := signedIn(t, a, "alice", roleUser)
	page := c.get("/pricing")
	b := page.Body.String()
	if page.Code != http.StatusOK || testids(b, "price-row") != 2 {
		t.Fatalf("/pricing = %d, %d rows: %s", page.Code, testids(b, "price-row"), b)
	}
	// gpt-4o-mini: $0.15 in, $0.60 out, $0.075 cached per 1M.
	for _, want := range []string{"gpt-4o-mini", "$0.15", "$0.60", "$0.0750", "house-model", "no price set"} {
		if !strings.Contains(b, want) {
			t.Errorf("/pricing lacks %q", want)
		}
	}
	if strings.Contains(b, "vip-only-model") || testids(b, "price-group") != 0 {
		t.Error("a user sees another group's models or the group picker")
	}
	if rec := c.get("/pricing?group=vip"); strings.Contains(rec.Body.String(), "vip-only-model") {
		t.Error("a user chose another group")
	}

	ac, _ := signedIn(t, a, "boss", roleAdmin)
	b = ac.get("/pricing?group=vip").Body.String()
	if testids(b, "price-row") != 2 || !strings.Contains(b, "vip-only-model") || !strings.Contains(b, "$0.30") || !strings.Contains(b, "$1.20") {
		t.Errorf("admin's vip prices: %s", b)
	}
	if rec := ac.get("/pricing?group=nope"); rec.Code != http.StatusNotFound {
		t.Errorf("unknown group = %d", rec.Code)
	}
	if rec := a.do(http.MethodGet, "/pricing", ""); rec.Code == http.StatusOK {
		t.Error("signed-out visitor got the price list")
	}
}
