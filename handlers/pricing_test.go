package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"oneapi/state"
)

// storedOptions is the options table as a map.
func storedOptions(t *testing.T, a *testApp) map[string]string {
	t.Helper()
	rows, err := a.pool.Query(context.Background(), "SELECT key, value FROM options")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			t.Fatal(err)
		}
		out[k] = v
	}
	return out
}

// pricingForm is the page's form as a browser sends it back untouched:
// tables indented as drawn, checked boxes "true", unchecked ones absent.
func pricingForm(t *testing.T, a *testApp) url.Values {
	t.Helper()
	raw := a.state.Options().Raw()
	f := url.Values{}
	for _, d := range pricingFields {
		v := raw[d.Key]
		switch d.Type {
		case "checkbox":
			if v == "true" {
				f.Set(d.Key, "true")
			}
			continue
		case "textarea":
			var b bytes.Buffer
			if err := json.Indent(&b, []byte(v), "", "  "); err != nil {
				t.Fatal(err)
			}
			v = b.String()
		}
		f.Set(d.Key, v)
	}
	return f
}

func TestPricingFieldsNotSecret(t *testing.T) {
	defaults, err := state.ParseOptions(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range pricingFields {
		if optionIsSecret(d.Key) {
			t.Errorf("%s is secret and must not be on a page", d.Key)
		}
		if !slices.Contains(state.OptionKeys(), d.Key) || state.ValidateOption(d.Key, defaults.Raw()[d.Key]) != nil {
			t.Errorf("%s is not a registered option with a valid default", d.Key)
		}
	}
}

func TestPricingSettingsPage(t *testing.T) {
	t.Parallel()
	a := newAccountApp(t, nil)
	root, _ := signedIn(t, a, "owner", roleRoot)
	admin, _ := signedIn(t, a, "helper", roleAdmin)
	a.setOption(t, "SMTPToken", "smtp-secret-value-123")
	a.setOption(t, "GitHubClientSecret", "gh-secret-value-456")

	// Root only.
	if rec := admin.get("/settings/pricing"); rec.Code != http.StatusForbidden {
		t.Errorf("admin GET = %d, want 403", rec.Code)
	}
	if rec := admin.post("/settings/pricing", url.Values{"RetryTimes": {"5"}}); rec.Code != http.StatusForbidden {
		t.Errorf("admin POST = %d, want 403", rec.Code)
	}
	if rec := a.client(t).get("/settings/pricing"); rec.Code != http.StatusSeeOther || !strings.HasPrefix(rec.Header().Get("Location"), "/login") {
		t.Errorf("anonymous GET = %d %q, want a redirect to sign in", rec.Code, rec.Header().Get("Location"))
	}

	rec := root.get("/settings/pricing")
	body := rec.Body.String()
	if rec.Code != http.StatusOK {
		t.Fatalf("GET = %d", rec.Code)
	}
	for _, key := range []string{"ModelRatio", "CompletionRatio", "GroupRatio", "RetryTimes", "QuotaPerUnit", "LogRetentionDays", "ChannelDisableThreshold"} {
		if !strings.Contains(body, `name="`+key+`"`) {
			t.Errorf("page has no %s field", key)
		}
	}
	if !strings.Contains(html.UnescapeString(body), `"gpt-4o": 1.25`) {
		t.Error("model ratios not drawn (indented) from the effective options")
	}
	for _, secret := range []string{"smtp-secret-value-123", "gh-secret-value-456"} {
		if strings.Contains(body, secret) {
			t.Errorf("page shows a secret: %s", secret)
		}
	}

	// Saving the page untouched stores nothing: the defaults stay defaults.
	if rec := root.post("/settings/pricing", pricingForm(t, a)); rec.Code != http.StatusSeeOther {
		t.Fatalf("untouched save = %d: %s", rec.Code, rec.Body)
	}
	for _, d := range pricingFields {
		if v, ok := storedOptions(t, a)[d.Key]; ok {
			t.Errorf("untouched save stored %s = %q", d.Key, v)
		}
	}

	// A real edit: stored, applied to this node's state at once; an
	// unchecked box is false.
	f := pricingForm(t, a)
	f.Set("ModelRatio", `{"gpt-4o": 2, "my-model": 0.5}`)
	f.Set("GroupRatio", "{\n  \"default\": 1,\n  \"vip\": 0.8\n}")
	f.Set("RetryTimes", "4")
	f.Set("QuotaPerUnit", "1000000")
	f.Set("ChannelDisableThreshold", "2.5")
	f.Set("LogRetentionDays", "30")
	f.Del("DisplayInCurrencyEnabled")
	f.Set("RefuseUnpricedModels", "true")
	if rec := root.post("/settings/pricing", f); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/settings/pricing" {
		t.Fatalf("save = %d %q: %s", rec.Code, rec.Header().Get("Location"), rec.Body)
	}
	stored := storedOptions(t, a)
	wantStored := map[string]string{
		"ModelRatio": `{"gpt-4o":2,"my-model":0.5}`, "GroupRatio": `{"default":1,"vip":0.8}`, "RetryTimes": "4",
		"QuotaPerUnit": "1000000", "ChannelDisableThreshold": "2.5", "LogRetentionDays": "30",
		"DisplayInCurrencyEnabled": "false", "RefuseUnpricedModels": "true",
	}
	for k, want := range wantStored {
		if stored[k] != want {
			t.Errorf("stored %s = %q, want %q", k, stored[k], want)
		}
	}
	if _, ok := stored["CompletionRatio"]; ok {
		t.Error("unchanged CompletionRatio stored")
	}
	o := a.state.Options()
	if o.ModelRatio["my-model"] != 0.5 || o.GroupRatio["vip"] != 0.8 || o.RetryTimes != 4 || o.QuotaPerUnit != 1e6 ||
		o.DisplayInCurrency || !o.RefuseUnpricedModels || o.LogRetentionDays != 30 || o.ChannelDisableThreshold.Seconds() != 2.5 {
		t.Errorf("state not reloaded: %+v", o)
	}
	if page := root.get("/settings/pricing").Body.String(); !strings.Contains(page, "Prices and limits saved.") {
		t.Error("no flash after saving")
	}
}

func TestPricingSettingsInvalid(t *testing.T) {
	t.Parallel()
	a := newAccountApp(t, nil)
	root, _ := signedIn(t, a, "owner", roleRoot)
	before := a.state.Options()

	tests := []struct {
		name, key, value, wantMsg string
	}{
		{"not JSON", "ModelRatio", `{"gpt-4o": 1.5,}`, "want a JSON object of name to number"},
		{"negative ratio", "CompletionRatio", `{"gpt-4o": -1}`, `ratio of "gpt-4o" must be a number ≥ 0`},
		{"null table", "GroupRatio", `null`, "want a JSON object of name to number"},
		{"retries out of range", "RetryTimes", "11", "want a whole number from 0 to 10"},
		{"quota per unit zero", "QuotaPerUnit", "0", "want a number &gt; 0"},
		{"threshold negative", "ChannelDisableThreshold", "-1", "want a number of seconds"},
		{"retention not a number", "LogRetentionDays", "a week", "want a whole number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := pricingForm(t, a)
			f.Set("RetryTimes", "3") // a valid change beside the bad one: not saved either
			f.Set(tt.key, tt.value)
			rec := root.post("/settings/pricing", f)
			body := rec.Body.String()
			if rec.Code != http.StatusUnprocessableEntity {
				t.Fatalf("POST = %d, want 422", rec.Code)
			}
			if testids(body, "error-"+tt.key) != 1 || !strings.Contains(html.UnescapeString(body), html.UnescapeString(tt.wantMsg)) {
				t.Errorf("no message %q beside %s:\n%s", tt.wantMsg, tt.key, body)
			}
			// The submitted value is drawn back for fixing (a table
			// re-indented: compare without white space).
			squash := func(s string) string { return strings.Join(strings.Fields(s), "") }
			if !strings.Contains(squash(html.UnescapeString(body)), squash(tt.value)) {
				t.Errorf("submitted %s value not drawn back", tt.key)
			}
			if n := len(storedOptions(t, a)); n != 0 {
				t.Errorf("%d options stored after a refused save: %v", n, storedOptions(t, a))
			}
			if a.state.Options() != before {
				t.Error("state reloaded after a refused save")
			}
		})
	}
}
