package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// Secret config values (Bedrock's sk, Vertex's service account, headers, a
// proxy with a password) are sealed in the database, never sent back, and
// kept when a client saves back the placeholder it was shown.
func TestChannelConfigSecretsSealedAndRedacted(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	_, admin := apiTestUser(t, a, "admin", roleAdmin)
	const sk, hdr, proxy = "wJalrXUtnFEMI-secret-key-0001", "X-Team-Auth: secret-header-0002", "http://bob:secret-pass-0003@proxy.example:3128"
	secrets := []string{sk, "secret-header-0002", "secret-pass-0003"}
	cfg, _ := json.Marshal(map[string]string{"region": "us-east-1", "ak": "AKIAEXAMPLE", "sk": sk, "headers": hdr, "proxy": proxy})
	body, _ := json.Marshal(map[string]any{"type": 33, "name": "bedrock", "key": "AKIAEXAMPLE|" + sk + "|us-east-1", "models": "claude-3-haiku", "config": string(cfg)})
	var created []apiChannel
	raw := mustAPI(t, a, http.MethodPost, "/api/channel/", string(body), admin, &created)
	if len(created) != 1 {
		t.Fatalf("created %d channels", len(created))
	}
	id := created[0].ID
	path := "/api/channel/" + strconv.FormatInt(id, 10)
	var got apiChannel
	one := mustAPI(t, a, http.MethodGet, path, "", admin, &got)
	list := mustAPI(t, a, http.MethodGet, "/api/channel/", "", admin, nil)
	var row string
	if err := a.pool.QueryRow(context.Background(), "SELECT config FROM channels WHERE id = $1", id).Scan(&row); err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		for what, text := range map[string]string{"create reply": raw, "GET reply": one, "list": list, "stored config": row} {
			if strings.Contains(text, s) {
				t.Errorf("%s holds the secret %q: %s", what, s, text)
			}
		}
	}
	var shown map[string]string
	if err := json.Unmarshal([]byte(got.Config), &shown); err != nil {
		t.Fatalf("config %q: %v", got.Config, err)
	}
	if shown["sk"] != "********" || shown["region"] != "us-east-1" || shown["ak"] != "AKIAEXAMPLE" {
		t.Errorf("shown config = %v", shown)
	}
	check := func(wantSK string) {
		t.Helper()
		c := a.state.Routes().Channel(id)
		if c == nil || c.Config["sk"] != wantSK || c.Config["headers"] != hdr || c.Options.Proxy == nil || !strings.Contains(c.Options.Proxy.String(), "secret-pass-0003") {
			t.Fatalf("relay's channel config = %+v", c)
		}
	}
	check(sk)

	// Saving back what was shown keeps the secrets; a new value replaces one.
	upd, _ := json.Marshal(map[string]any{"id": id, "name": "bedrock-renamed", "config": got.Config})
	mustAPI(t, a, http.MethodPut, "/api/channel/", string(upd), admin, nil)
	check(sk)
	shown["sk"] = "new-secret-key-0004"
	b, _ := json.Marshal(shown)
	upd, _ = json.Marshal(map[string]any{"id": id, "config": string(b)})
	mustAPI(t, a, http.MethodPut, "/api/channel/", string(upd), admin, nil)
	check("new-secret-key-0004")

	// The console's edit form shows the placeholder too, and saving the form
	// as shown keeps the secrets.
	c, _ := signedIn(t, a, "editor", roleAdmin)
	edit := "/channels/" + strconv.FormatInt(id, 10)
	page := c.get(edit + "/edit")
	if page.Code != http.StatusOK || !strings.Contains(page.Body.String(), "********") {
		t.Fatalf("edit page = %d: %s", page.Code, page.Body.String())
	}
	for _, s := range append(secrets, "new-secret-key-0004") {
		if strings.Contains(page.Body.String(), s) {
			t.Errorf("edit page holds %q", s)
		}
	}
	var cur apiChannel
	mustAPI(t, a, http.MethodGet, path, "", admin, &cur)
	form := url.Values{"type": {"33"}, "name": {"bedrock-form"}, "models": {cur.Models}, "group": {cur.Group},
		"priority": {"0"}, "weight": {"1"}, "config": {cur.Config}}
	if rec := c.post(edit, form); rec.Code >= 400 {
		t.Fatalf("save = %d: %s", rec.Code, rec.Body.String())
	}
	if n := a.state.Routes().Channel(id).Name; n != "bedrock-form" {
		t.Fatalf("form not saved: name %q", n)
	}
	check("new-secret-key-0004")
}
