package oneapiimport

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"oneapi/handlers"
	"oneapi/pricing"
	"oneapi/queries"
	"oneapi/state"
)

// brandingOptions are carried as they are: /api/status and the console read
// them from the options table under One API's keys.
var brandingOptions = []string{"SystemName", "Logo", "Footer", "TopUpLink", "ChatLink"}

// pageOptions are One API's page texts. They are kept so nothing is lost,
// though this version shows none of them yet.
var pageOptions = []string{"Notice", "About", "HomePageContent"}

// droppedOptions are One API settings with no counterpart here, and why.
var droppedOptions = map[string]string{
	"PreConsumedQuota":            "each request here reserves its own estimate (prompt tokens plus max_tokens, or PreConsumedCompletionTokens when unset) instead of a fixed quota",
	"QuotaRemindThreshold":        "this version sends no low-quota reminder mails",
	"ApproximateTokenEnabled":     "prompt tokens are always counted exactly (tiktoken, in the binary)",
	"LogConsumeEnabled":           "every relayed request is always logged: its settlement writes the log row",
	"DisplayTokenStatEnabled":     "a display switch of One API's web console",
	"Theme":                       "this gateway has one console",
	"WeChatAuthEnabled":           "WeChat sign-in is not supported yet (users' WeChat ids are kept)",
	"WeChatServerAddress":         "WeChat sign-in is not supported yet",
	"WeChatServerToken":           "WeChat sign-in is not supported yet",
	"WeChatAccountQRCodeImageURL": "WeChat sign-in is not supported yet",
	"MessagePusherAddress":        "notifications go by mail (SMTP) only",
	"MessagePusherToken":          "notifications go by mail (SMTP) only",
	"OidcAuthorizationEndpoint":   "read from the issuer's discovery document (OidcWellKnown)",
	"OidcTokenEndpoint":           "read from the issuer's discovery document (OidcWellKnown)",
	"OidcUserinfoEndpoint":        "read from the issuer's discovery document (OidcWellKnown)",
	"ItemsPerPage":                "the console pages its tables itself",
	"FileUploadPermission":        "not used by One API v0.6 either",
	"FileDownloadPermission":      "not used by One API v0.6 either",
	"ImageUploadPermission":       "not used by One API v0.6 either",
	"ImageDownloadPermission":     "not used by One API v0.6 either",
}

func (im *importer) readOptions(ctx context.Context) error {
	t, err := im.src.open(ctx, "options", "")
	if err != nil {
		return err
	}
	defer t.close()
	rc := im.rep.count("options")
	raw := map[string]string{}
	for t.next() {
		rc.Read++
		if err := t.scan(); err != nil {
			return err
		}
		raw[t.str("key", "")] = t.str("value", "")
	}
	if err := t.err(); err != nil {
		return err
	}
	// One API shows Lark sign-in whenever an app id is set; here it has a
	// switch of its own.
	if strings.TrimSpace(raw["LarkClientId"]) != "" {
		if _, set := raw["LarkAuthEnabled"]; !set {
			raw["LarkAuthEnabled"] = "true"
			rc.Read++ // counted as read so the table adds up
			im.rep.changed("options", "LarkAuthEnabled", "set to true: One API offers Lark sign-in whenever LarkClientId is set")
		}
	}
	registered := state.OptionKeys()
	for _, key := range sortedKeys(raw) {
		value := raw[key]
		if im.targetOptions[key] {
			rc.Already++
			continue
		}
		if why, dropped := droppedOptions[key]; dropped {
			im.rep.skip("options", key, "%s", why)
			continue
		}
		if strings.TrimSpace(value) == "" {
			im.rep.skip("options", key, "empty in One API: this version's default applies")
			continue
		}
		var stored string
		switch {
		case slices.Contains(registered, key):
			if v, ok := im.ratioTable(key, value); ok {
				value = v
			}
			if err := state.ValidateOption(key, value); err != nil {
				im.rep.skip("options", key, "%v: this version's default applies", err)
				continue
			}
			stored = value
		case slices.Contains(brandingOptions, key):
			stored = value
		case slices.Contains(pageOptions, key):
			stored = value
			im.rep.changed("options", key, "kept, though this version does not show it yet")
		default:
			v, ok, err := handlers.StoredSetting(im.opts.Cipher, key, value)
			if !ok {
				rc.Skipped++
				im.rep.UnknownOptions = append(im.rep.UnknownOptions, key)
				continue
			}
			if err != nil {
				im.rep.skip("options", key, "%v: this version's default applies", err)
				continue
			}
			stored = v
		}
		im.options = append(im.options, queries.OptionImportParams{Key: key, Value: stored})
		rc.Imported++
	}
	return nil
}

// ratioTable cleans One API's ModelRatio, CompletionRatio and GroupRatio:
// entries that are not a number ≥ 0 are dropped and listed (One API's own
// default table holds "openrouter/auto": -500000), never the whole table.
// Model tables are laid over this version's defaults: every price One API
// had stays, and models it had no price for keep today's.
func (im *importer) ratioTable(key, value string) (string, bool) {
	var defaults map[string]float64
	switch key {
	case "ModelRatio":
		defaults = pricing.DefaultModelRatio
	case "CompletionRatio":
		defaults = pricing.DefaultCompletionRatio
	case "GroupRatio":
	default:
		return "", false
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(value), &m); err != nil {
		return "", false // ValidateOption says why
	}
	out := make(map[string]float64, len(m)+len(defaults))
	for k, v := range defaults {
		out[k] = v
	}
	var bad []string
	for k, v := range m {
		f, ok := v.(float64)
		if !ok || f < 0 || math.IsNaN(f) || math.IsInf(f, 0) {
			bad = append(bad, fmt.Sprintf("%q: %v", k, v))
			continue
		}
		out[k] = f
	}
	sort.Strings(bad)
	for _, b := range bad {
		im.rep.notCarried("options", key, "entry %s is not a ratio ≥ 0: dropped, the rest of the table is kept", b)
	}
	if added := len(out) - (len(m) - len(bad)); defaults != nil && added > 0 {
		im.rep.changed("options", key, "One API's %d entries kept; %d models it had no ratio for keep this version's default", len(m)-len(bad), added)
	}
	b, _ := json.Marshal(out)
	return string(b), true
}
