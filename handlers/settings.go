package handlers

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"oneapi/keys"
	"oneapi/queries"
	"oneapi/views"
)

// Sign-in settings live in the options table under One API's keys. They are
// read from the database each time a sign-in path needs them (one small
// query, on rare requests), so a change made on any node applies at once
// without a cache to invalidate.

type settingKind int

const (
	kindBool settingKind = iota
	kindText
	kindSecret // write-only: never sent back to a browser or an API client
	kindInt
	kindList     // comma or newline separated
	kindLongText // several lines: Markdown, HTML or a URL
)

// settingDef describes one option: its key, type, default and where the
// settings page shows it.
type settingDef struct {
	Key     string
	Kind    settingKind
	Default string
	Section string
	Label   string
	Help    string
}

// authSettingDefs is every option issue #4 owns, in page order.
var authSettingDefs = []settingDef{
	{"ServerAddress", kindText, "", "Server", "Public address", "Where users reach this console, e.g. https://gw.example.com: the base of OAuth callbacks, invite and mailed links (FRONTEND_BASE_URL overrides it). Unset, links follow the request's Host header, which a client can forge."},

	{"RegisterEnabled", kindBool, "true", "Registration", "Allow new accounts", "When off, only administrators create accounts."},
	{"PasswordRegisterEnabled", kindBool, "true", "Registration", "Allow registration with a password", "When off, new accounts come only through GitHub, OpenID Connect or Lark."},
	{"EmailVerificationEnabled", kindBool, "false", "Registration", "Require email verification", "A code is mailed to the address before the account is created."},
	{"EmailDomainRestrictionEnabled", kindBool, "false", "Registration", "Restrict email domains", ""},
	{"EmailDomainWhitelist", kindList, "gmail.com,163.com,126.com,qq.com,outlook.com,hotmail.com,icloud.com,yahoo.com,foxmail.com", "Registration", "Allowed email domains", "Comma separated."},
	{"QuotaForNewUser", kindInt, "0", "Registration", "Quota for a new user", ""},
	{"QuotaForInviter", kindInt, "0", "Registration", "Reward for the inviter", "Added when someone registers with their invite link."},
	{"QuotaForInvitee", kindInt, "0", "Registration", "Reward for the invitee", ""},

	{"PasswordLoginEnabled", kindBool, "true", "Sign-in", "Allow password sign-in", "Root can always sign in with a password, so nobody is locked out."},
	{"TurnstileCheckEnabled", kindBool, "false", "Sign-in", "Cloudflare Turnstile on sign-in and registration", ""},
	{"TurnstileSiteKey", kindText, "", "Sign-in", "Turnstile site key", ""},
	{"TurnstileSecretKey", kindSecret, "", "Sign-in", "Turnstile secret key", ""},

	{"GitHubOAuthEnabled", kindBool, "false", "GitHub", "Sign in with GitHub", ""},
	{"GitHubClientId", kindText, "", "GitHub", "Client ID", ""},
	{"GitHubClientSecret", kindSecret, "", "GitHub", "Client secret", ""},

	{"OidcEnabled", kindBool, "false", "OpenID Connect", "Sign in with OpenID Connect", ""},
	{"OidcWellKnown", kindText, "", "OpenID Connect", "Issuer URL", "The issuer, e.g. https://accounts.example.com (/.well-known/openid-configuration is added)."},
	{"OidcClientId", kindText, "", "OpenID Connect", "Client ID", ""},
	{"OidcClientSecret", kindSecret, "", "OpenID Connect", "Client secret", ""},

	{"LarkAuthEnabled", kindBool, "false", "Lark / Feishu", "Sign in with Lark", ""},
	{"LarkClientId", kindText, "", "Lark / Feishu", "App ID", ""},
	{"LarkClientSecret", kindSecret, "", "Lark / Feishu", "App secret", ""},

	{"SMTPServer", kindText, "", "Mail (SMTP)", "Server", ""},
	{"SMTPPort", kindInt, "587", "Mail (SMTP)", "Port", "465 uses TLS from the start; other ports use STARTTLS when offered."},
	{"SMTPAccount", kindText, "", "Mail (SMTP)", "Account", ""},
	{"SMTPToken", kindSecret, "", "Mail (SMTP)", "Password or token", ""},
	{"SMTPFrom", kindText, "", "Mail (SMTP)", "From address", "Defaults to the account."},

	// Branding and content (branding.go serves them).
	{"SystemName", kindText, "", "Branding", "System name", "Shown in the header, page titles and mails; empty: One API."},
	{"Logo", kindText, "", "Branding", "Logo URL", "An https:// image address shown in the header."},
	{"Footer", kindLongText, "", "Branding", "Footer", "Markdown shown at the foot of every page."},
	{"Notice", kindLongText, "", "Branding", "Notice", "Markdown announcement on every user's dashboard, until they dismiss it."},
	{"HomePageContent", kindLongText, "", "Branding", "Home page content", "Markdown or HTML for the public home page, or an https:// URL shown in a frame."},
	{"About", kindLongText, "", "Branding", "About", "Markdown or HTML for /about, or an https:// URL shown in a frame."},
	{"TopUpLink", kindText, "", "Branding", "Top-up link", "Where users buy redemption codes."},
	{"ChatLink", kindText, "", "Branding", "Chat link", "A chat front-end for your users."},
}

func settingDefOf(key string) (settingDef, bool) {
	for _, d := range authSettingDefs {
		if d.Key == key {
			return d, true
		}
	}
	return settingDef{}, false
}

// settings is a snapshot of the options table with typed getters that fall
// back to the defaults above.
type settings map[string]string

func (h *Handler) loadSettings(ctx context.Context) (settings, error) {
	return readSettings(ctx, h.q, h.cipher)
}

// Secret settings (SMTP password, OAuth client secrets, Turnstile secret) are
// sealed at rest with the cipher of channel keys, so a database dump holds no
// usable secret. Values stored in plain text before still read, and are
// sealed when next saved.
const sealedPrefix = "sealed:v1:"

func sealSetting(c *keys.Cipher, key, value string) string {
	if value == "" || c == nil || !optionIsSecret(key) {
		return value
	}
	return sealedPrefix + base64.StdEncoding.EncodeToString(c.Seal(value))
}

func readSettings(ctx context.Context, q *queries.Queries, c *keys.Cipher) (settings, error) {
	rows, err := q.OptionList(ctx)
	if err != nil {
		return nil, fmt.Errorf("load options: %w", err)
	}
	s := make(settings, len(rows))
	for _, r := range rows {
		v := r.Value
		if sealed, ok := strings.CutPrefix(v, sealedPrefix); ok && c != nil {
			raw, err := base64.StdEncoding.DecodeString(sealed)
			if err == nil {
				v, err = c.Open(raw)
			}
			if err != nil {
				return nil, fmt.Errorf("option %s: cannot decrypt (is ENCRYPTION_KEY the one it was saved with?): %w", r.Key, err)
			}
		}
		s[r.Key] = v
	}
	return s, nil
}

func (s settings) str(key string) string {
	if v, ok := s[key]; ok {
		return strings.TrimSpace(v)
	}
	d, _ := settingDefOf(key)
	return d.Default
}

func (s settings) bool(key string) bool { return s.str(key) == "true" }

func (s settings) int(key string) int64 {
	n, err := strconv.ParseInt(s.str(key), 10, 64)
	if err != nil {
		d, _ := settingDefOf(key)
		n, _ = strconv.ParseInt(d.Default, 10, 64)
	}
	return n
}

func (s settings) list(key string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(s.str(key), func(r rune) bool { return r == ',' || r == '\n' || r == ' ' }) {
		if f = strings.ToLower(strings.TrimSpace(f)); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func (s settings) turnstile() bool {
	return s.bool("TurnstileCheckEnabled") && s.str("TurnstileSiteKey") != "" && s.str("TurnstileSecretKey") != ""
}

// signInView is what the sign-in and registration pages need to know.
func (s settings) signInView() views.SignInOptions {
	o := views.SignInOptions{
		PasswordLogin: s.bool("PasswordLoginEnabled"),
		Register:      s.bool("RegisterEnabled") && s.bool("PasswordRegisterEnabled"),
		EmailVerify:   s.bool("EmailVerificationEnabled"),
		GitHub:        s.bool("GitHubOAuthEnabled") && s.str("GitHubClientId") != "",
		OIDC:          s.bool("OidcEnabled") && s.str("OidcClientId") != "" && s.str("OidcWellKnown") != "",
		Lark:          s.bool("LarkAuthEnabled") && s.str("LarkClientId") != "",
		ResetPassword: s.str("SMTPServer") != "",
	}
	if s.turnstile() {
		o.TurnstileSiteKey = s.str("TurnstileSiteKey")
	}
	return o
}

// validateSetting checks one submitted value; the returned string is the
// stored form.
func validateSetting(d settingDef, v string) (string, error) {
	v = strings.TrimSpace(v)
	switch d.Kind {
	case kindBool:
		switch v {
		case "true", "on", "1":
			return "true", nil
		case "false", "off", "0", "":
			return "false", nil
		}
		return "", fmt.Errorf("%s: want true or false", d.Key)
	case kindInt:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return "", fmt.Errorf("%s: want a whole number ≥ 0", d.Key)
		}
		if d.Key == "SMTPPort" && (n < 1 || n > 65535) {
			return "", fmt.Errorf("%s: want a port 1-65535", d.Key)
		}
		return strconv.FormatInt(n, 10), nil
	case kindList:
		return strings.Join(settings{d.Key: v}.list(d.Key), ","), nil
	}
	if d.Key == "OidcWellKnown" && v != "" && !strings.HasPrefix(v, "https://") && !strings.HasPrefix(v, "http://") {
		return "", fmt.Errorf("%s: want an http(s) URL", d.Key)
	}
	if (d.Key == "Logo" || d.Key == "TopUpLink" || d.Key == "ChatLink") && v != "" && !isHTTPURL(v) {
		return "", fmt.Errorf("%s: want an http(s) URL", d.Key)
	}
	if d.Key == "ServerAddress" && v != "" {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return "", fmt.Errorf("%s: want an http(s) address such as https://gw.example.com", d.Key)
		}
		v = strings.TrimRight(v, "/")
	}
	return v, nil
}

// settingsPage shows the sign-in settings (root only, as One API's options).
func (h *Handler) settingsPage(c echo.Context) error {
	s, err := h.loadSettings(c.Request().Context())
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.SettingsPage(h.settingsView(c, s, nil)))
}

func (h *Handler) settingsView(c echo.Context, s settings, errs map[string]string) views.SettingsView {
	v := views.SettingsView{Layout: h.layout(c, "Settings"), Errors: errs, CallbackBase: h.publicURL(c, s)}
	for _, d := range authSettingDefs {
		f := views.SettingField{Key: d.Key, Section: d.Section, Label: d.Label, Help: d.Help}
		switch d.Kind {
		case kindBool:
			f.Type, f.Checked = "checkbox", s.bool(d.Key)
		case kindSecret:
			f.Type, f.IsSet = "password", s.str(d.Key) != ""
		case kindInt:
			f.Type, f.Value = "number", s.str(d.Key)
		case kindLongText:
			f.Type, f.Value = "textarea", s.str(d.Key)
		default:
			f.Type, f.Value = "text", s.str(d.Key)
		}
		v.Fields = append(v.Fields, f)
	}
	return v
}

// settingsUpdate saves the submitted form. Checkboxes absent from the form
// are false; other absent fields and empty secrets keep the stored value
// (the page never shows secrets).
func (h *Handler) settingsUpdate(c echo.Context) error {
	ctx := c.Request().Context()
	form, err := c.FormParams()
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "unreadable form")
	}
	values := map[string]string{}
	errs := map[string]string{}
	for _, d := range authSettingDefs {
		raw, present := form[d.Key]
		if !present && d.Kind != kindBool {
			continue // not on the submitted form: keep (an unchecked checkbox is absent, hence false)
		}
		if d.Kind == kindSecret && form.Get(d.Key) == "" {
			continue
		}
		v, err := validateSetting(d, strings.Join(raw, ""))
		if err != nil {
			errs[d.Key] = err.Error()
			continue
		}
		values[d.Key] = v
	}
	if len(errs) > 0 {
		s, err := h.loadSettings(ctx)
		if err != nil {
			return err
		}
		for k, v := range form {
			if d, ok := settingDefOf(k); ok && d.Kind != kindSecret && len(v) > 0 {
				s[k] = v[0]
			}
		}
		return render(c, http.StatusUnprocessableEntity, views.SettingsPage(h.settingsView(c, s, errs)))
	}
	if err := h.saveSettings(ctx, values); err != nil {
		return err
	}
	h.setFlash(c, "Settings saved.")
	return redirect(c, "/settings")
}

// saveSettings writes options in one transaction.
func (h *Handler) saveSettings(ctx context.Context, values map[string]string) error {
	return queries.InTx(ctx, h.pool, func(q *queries.Queries) error {
		for k, v := range values {
			if err := q.OptionUpsert(ctx, queries.OptionUpsertParams{Key: k, Value: sealSetting(h.cipher, k, v)}); err != nil {
				return fmt.Errorf("save option %s: %w", k, err)
			}
		}
		return nil
	})
}

// publicURL is the console's address as the outside world sees it:
// FRONTEND_BASE_URL, else the ServerAddress option, else (neither set) the
// request's scheme and host, which a client can forge: set one of the two
// before turning on OAuth sign-in or sharing invite links.
func (h *Handler) publicURL(c echo.Context, s settings) string {
	if base := h.mailBaseURL(s); base != "" {
		return base
	}
	return c.Scheme() + "://" + c.Request().Host
}

// StoredSetting checks a sign-in setting (ServerAddress, RegisterEnabled,
// GitHubClientId, SMTPToken, ...) as the settings page does and returns the
// form to store, secrets sealed with c. ok is false when key is not a
// sign-in setting. `oneapi import` carries One API's values through here.
func StoredSetting(c *keys.Cipher, key, value string) (stored string, ok bool, err error) {
	d, ok := settingDefOf(key)
	if !ok {
		return "", false, nil
	}
	v, err := validateSetting(d, value)
	if err != nil {
		return "", true, err
	}
	return sealSetting(c, key, v), true, nil
}
