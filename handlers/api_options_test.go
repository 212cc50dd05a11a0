package handlers

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"oneapi/queries"
	"oneapi/state"
)

func optionMap(t *testing.T, a *testApp, auth string) map[string]string {
	t.Helper()
	var list []apiOption
	mustAPI(t, a, http.MethodGet, "/api/option/", "", auth, &list)
	m := make(map[string]string, len(list))
	for _, o := range list {
		m[o.Key] = o.Value
	}
	return m
}

func TestAPIOptions(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	_, root := apiTestUser(t, a, "root", roleRoot)

	opts := optionMap(t, a, root)
	for _, k := range state.OptionKeys() {
		if _, ok := opts[k]; !ok && !state.IsSecretOption(k) {
			t.Errorf("registered option %s missing from the list", k)
		}
	}
	if opts["RetryTimes"] != "2" || opts["QuotaPerUnit"] != "500000" || !strings.HasPrefix(opts["ModelRatio"], "{") {
		t.Errorf("defaults: RetryTimes %q QuotaPerUnit %q ModelRatio %.20q", opts["RetryTimes"], opts["QuotaPerUnit"], opts["ModelRatio"])
	}
	if _, ok := opts["GitHubOAuthEnabled"]; !ok {
		t.Error("sign-in settings missing from the list")
	}

	// Changes apply at once, whatever JSON type carries the value.
	updates := []struct{ body, key, want string }{
		{`{"key":"RetryTimes","value":"5"}`, "RetryTimes", "5"},
		{`{"key":"QuotaPerUnit","value":1000}`, "QuotaPerUnit", "1000"},
		{`{"key":"DisplayInCurrencyEnabled","value":false}`, "DisplayInCurrencyEnabled", "false"},
		{`{"key":"GroupRatio","value":"{\"default\":1,\"vip\":0.5}"}`, "GroupRatio", `{"default":1,"vip":0.5}`},
		{`{"key":"CompletionRatio","value":{"gpt-4o":4}}`, "CompletionRatio", `{"gpt-4o":4}`},
		{`{"key":"GitHubClientId","value":"Iv1.abc"}`, "GitHubClientId", "Iv1.abc"},
	}
	for _, u := range updates {
		mustAPI(t, a, http.MethodPut, "/api/option/", u.body, root, nil)
		if got := a.state.Options().Raw()[u.key]; got != u.want {
			t.Errorf("%s in state = %q, want %q", u.key, got, u.want)
		}
	}
	o := a.state.Options()
	if o.RetryTimes != 5 || o.QuotaPerUnit != 1000 || o.DisplayInCurrency || o.GroupRatio["vip"] != 0.5 || o.CompletionRatio["gpt-4o"] != 4 {
		t.Errorf("parsed options = %+v", o)
	}
	if got := optionMap(t, a, root)["RetryTimes"]; got != "5" {
		t.Errorf("listed RetryTimes = %q", got)
	}

	// Secrets are stored but never returned.
	const secret = "gh-client-secret-value"
	for _, k := range []string{"GitHubClientSecret", "TurnstileSecretKey", "SMTPToken"} {
		mustAPI(t, a, http.MethodPut, "/api/option/", `{"key":"`+k+`","value":"`+secret+`"}`, root, nil)
	}
	// ...and sealed at rest: a dump of the options table holds none of them.
	var dump string
	if err := a.pool.QueryRow(context.Background(), "SELECT string_agg(value, ' ') FROM options WHERE key IN ('GitHubClientSecret', 'TurnstileSecretKey', 'SMTPToken')").Scan(&dump); err != nil ||
		strings.Contains(dump, secret) || strings.Count(dump, sealedPrefix) != 3 {
		t.Fatalf("secrets stored as %q, %v", dump, err)
	}
	s, err := readSettings(context.Background(), queries.New(a.pool), a.cipher)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"GitHubClientSecret", "TurnstileSecretKey", "SMTPToken"} {
		if s.str(k) != secret {
			t.Errorf("%s reads back as %q", k, s.str(k))
		}
	}
	// A value stored in plain text before sealing still reads.
	a.pool.Exec(context.Background(), "UPDATE options SET value = 'legacy-plain' WHERE key = 'SMTPToken'")
	if s, err := readSettings(context.Background(), queries.New(a.pool), a.cipher); err != nil || s.str("SMTPToken") != "legacy-plain" {
		t.Errorf("legacy plain secret: %q, %v", s.str("SMTPToken"), err)
	}
	raw := mustAPI(t, a, http.MethodGet, "/api/option", "", root, nil)
	if strings.Contains(raw, secret) {
		t.Errorf("option list carries a secret: %s", raw)
	}
	for k := range optionMap(t, a, root) {
		if strings.HasSuffix(k, "Secret") || strings.HasSuffix(k, "Token") || k == "TurnstileSecretKey" {
			t.Errorf("secret option %s listed", k)
		}
	}
}

func TestAPIOptionValidation(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	_, root := apiTestUser(t, a, "root", roleRoot)
	tests := []struct {
		name, body string
		want       int
		msg        string
	}{
		{"malformed JSON", `{"key":`, http.StatusBadRequest, "invalid JSON"},
		{"no key", `{"value":"1"}`, http.StatusUnprocessableEntity, "key is required"},
		{"no value", `{"key":"RetryTimes"}`, http.StatusUnprocessableEntity, "value is required"},
		{"unknown key", `{"key":"NoSuchOption","value":"1"}`, http.StatusUnprocessableEntity, "unknown option"},
		{"retry times out of range", `{"key":"RetryTimes","value":"100"}`, http.StatusUnprocessableEntity, "RetryTimes"},
		{"retry times not a number", `{"key":"RetryTimes","value":"many"}`, http.StatusUnprocessableEntity, "RetryTimes"},
		{"ratio not JSON", `{"key":"ModelRatio","value":"gpt-4o=1"}`, http.StatusUnprocessableEntity, "ModelRatio"},
		{"negative ratio", `{"key":"GroupRatio","value":"{\"vip\":-1}"}`, http.StatusUnprocessableEntity, "GroupRatio"},
		{"bool option", `{"key":"AutomaticDisableChannelEnabled","value":"yes"}`, http.StatusUnprocessableEntity, "true"},
		{"quota per unit zero", `{"key":"QuotaPerUnit","value":0}`, http.StatusUnprocessableEntity, "QuotaPerUnit"},
		{"sign-in setting", `{"key":"SMTPPort","value":"99999"}`, http.StatusUnprocessableEntity, "SMTPPort"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, r, _ := apiCall(t, a, http.MethodPut, "/api/option/", tt.body, root)
			if code != tt.want || !strings.Contains(r.Message, tt.msg) {
				t.Errorf("= %d %q, want %d containing %q", code, r.Message, tt.want, tt.msg)
			}
		})
	}
	if n := countRows(t, a, "options"); n != 0 {
		t.Errorf("%d options stored by invalid requests", n)
	}
	if a.state.Options().RetryTimes != 2 {
		t.Errorf("RetryTimes = %d after refused updates", a.state.Options().RetryTimes)
	}
}

func TestAPIStatus(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	_, root := apiTestUser(t, a, "root", roleRoot)

	var d map[string]any
	mustAPI(t, a, http.MethodGet, "/api/status", "", "", &d)
	for _, k := range []string{"version", "start_time", "system_name", "quota_per_unit", "display_in_currency",
		"github_oauth", "oidc", "turnstile_check", "turnstile_site_key", "email_verification", "server_address"} {
		if _, ok := d[k]; !ok {
			t.Errorf("status lacks %s", k)
		}
	}
	if d["version"] != "test" || d["quota_per_unit"] != float64(500000) || d["github_oauth"] != false || d["system_name"] != "One API" {
		t.Errorf("status = %v", d)
	}

	// Options show up without a restart; a sign-in method counts once configured.
	for _, body := range []string{
		`{"key":"QuotaPerUnit","value":"1000"}`,
		`{"key":"GitHubOAuthEnabled","value":"true"}`,
		`{"key":"GitHubClientId","value":"Iv1.public"}`,
		`{"key":"GitHubClientSecret","value":"never-shown"}`,
	} {
		mustAPI(t, a, http.MethodPut, "/api/option/", body, root, nil)
	}
	raw := mustAPI(t, a, http.MethodGet, "/api/status", "", "", &d)
	if d["quota_per_unit"] != float64(1000) || d["github_oauth"] != true || d["github_client_id"] != "Iv1.public" {
		t.Errorf("status after changes = %v", d)
	}
	if strings.Contains(raw, "never-shown") {
		t.Errorf("status carries a secret: %s", raw)
	}
}
