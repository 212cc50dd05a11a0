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

// Where a stored key goes — base URL, type, proxy — only changes with the key
// entered again (and every secret config value), unless root changes it.
func TestChannelRedirectNeedsTheKeyAgain(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	_, admin := apiTestUser(t, a, "admin", roleAdmin)
	_, root := apiTestUser(t, a, "root2", roleRoot)
	body, _ := json.Marshal(map[string]any{"type": 1, "name": "o", "key": "sk-stored-key-aaaaaaaaaaaa", "models": "gpt-4o", "base_url": "https://api.openai.com"})
	var created []apiChannel
	mustAPI(t, a, http.MethodPost, "/api/channel/", string(body), admin, &created)
	id := created[0].ID
	put := func(auth string, fields map[string]any) (int, string) {
		fields["id"] = id
		b, _ := json.Marshal(fields)
		code, r, _ := apiCall(t, a, http.MethodPut, "/api/channel/", string(b), auth)
		return code, r.Message
	}
	for name, f := range map[string]map[string]any{
		"base URL": {"base_url": "https://attacker.example"},
		"type":     {"type": 8},
		"proxy":    {"config": `{"proxy":"http://attacker.example:8080"}`},
	} {
		if code, msg := put(admin, f); code != http.StatusUnprocessableEntity || !strings.Contains(msg, "enter the key again") {
			t.Errorf("admin changes the %s keeping the key: %d %q", name, code, msg)
		}
	}
	if c := a.state.Routes().Channel(id); c.BaseURL != "https://api.openai.com" || c.Options.Proxy != nil || c.Type != 1 {
		t.Fatalf("a refused change was applied: %+v", c)
	}
	if code, msg := put(admin, map[string]any{"name": "renamed", "models": "gpt-4o,gpt-4o-mini"}); code != http.StatusOK {
		t.Errorf("an admin's harmless change = %d %q", code, msg)
	}
	if code, msg := put(admin, map[string]any{"base_url": "https://eu.example", "key": "sk-new-key-bbbbbbbbbbbbbbbb"}); code != http.StatusOK {
		t.Errorf("admin with the key again = %d %q", code, msg)
	}
	if code, msg := put(root, map[string]any{"base_url": "https://us.example"}); code != http.StatusOK {
		t.Errorf("root = %d %q", code, msg)
	}
	if c := a.state.Routes().Channel(id); c.BaseURL != "https://us.example" || c.Key != "sk-new-key-bbbbbbbbbbbbbbbb" {
		t.Errorf("channel = %s %s", c.BaseURL, c.Key)
	}

	// A secret kept in config (Bedrock's sk) must be entered again too.
	cfg := `{"region":"us-east-1","sk":"bedrock-secret-0001"}`
	body, _ = json.Marshal(map[string]any{"type": 33, "name": "b", "key": "AKIAEXAMPLE|bedrock-secret-0001|us-east-1", "models": "m", "config": cfg})
	mustAPI(t, a, http.MethodPost, "/api/channel/", string(body), admin, &created)
	id = created[0].ID
	var shown apiChannel
	mustAPI(t, a, http.MethodGet, "/api/channel/"+strconv.FormatInt(id, 10), "", admin, &shown)
	code, msg := put(admin, map[string]any{"base_url": "https://attacker.example", "key": "AKIAEXAMPLE|x|us-east-1", "config": shown.Config})
	if code != http.StatusUnprocessableEntity || !strings.Contains(msg, "sk") {
		t.Errorf("admin redirects a kept config secret: %d %q", code, msg)
	}
}
