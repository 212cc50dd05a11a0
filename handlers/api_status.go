package handlers

import (
	"time"

	"github.com/labstack/echo/v4"
)

// startTime is when this process started, in unix seconds, for /api/status.
var startTime = time.Now().Unix()

// apiStatusData is the data of One API's GET /api/status, which its console
// and scripts read before signing in: what the instance is and which
// sign-in methods it offers. Everything here is public.
type apiStatusData struct {
	Version           string  `json:"version"`
	StartTime         int64   `json:"start_time"`
	SystemName        string  `json:"system_name"`
	Logo              string  `json:"logo"`
	FooterHTML        string  `json:"footer_html"`
	ServerAddress     string  `json:"server_address"`
	TopUpLink         string  `json:"top_up_link"`
	ChatLink          string  `json:"chat_link"`
	QuotaPerUnit      float64 `json:"quota_per_unit"`
	DisplayInCurrency bool    `json:"display_in_currency"`
	EmailVerification bool    `json:"email_verification"`
	GitHubOAuth       bool    `json:"github_oauth"`
	GitHubClientID    string  `json:"github_client_id"`
	OIDC              bool    `json:"oidc"`
	OIDCClientID      string  `json:"oidc_client_id"`
	OIDCWellKnown     string  `json:"oidc_well_known"`
	LarkClientID      string  `json:"lark_client_id"`
	WeChatLogin       bool    `json:"wechat_login"`
	WeChatQRCode      string  `json:"wechat_qrcode"`
	TurnstileCheck    bool    `json:"turnstile_check"`
	TurnstileSiteKey  string  `json:"turnstile_site_key"`
}

// apiStatus is GET /api/status, public. It reads only memory: One API's
// console calls it on every page load. A sign-in method counts as offered
// only when it is enabled and configured, which is what a client deciding
// whether to show the button needs to know.
func (h *Handler) apiStatus(c echo.Context) error {
	o := h.state.Options()
	s := settings(o.Raw()) // read only: Raw is shared
	si := s.signInView()
	d := apiStatusData{
		Version:           h.version,
		StartTime:         startTime,
		SystemName:        s.str("SystemName"),
		Logo:              s.str("Logo"),
		FooterHTML:        markdownHTML(s.str("Footer")),
		ServerAddress:     h.publicURL(c, s),
		TopUpLink:         s.str("TopUpLink"),
		ChatLink:          s.str("ChatLink"),
		QuotaPerUnit:      o.QuotaPerUnit,
		DisplayInCurrency: o.DisplayInCurrency,
		EmailVerification: si.EmailVerify,
		GitHubOAuth:       si.GitHub,
		OIDC:              si.OIDC,
		TurnstileCheck:    si.TurnstileSiteKey != "",
		TurnstileSiteKey:  si.TurnstileSiteKey,
	}
	if d.SystemName == "" {
		d.SystemName = "One API"
	}
	if si.GitHub {
		d.GitHubClientID = s.str("GitHubClientId")
	}
	if si.OIDC {
		d.OIDCClientID, d.OIDCWellKnown = s.str("OidcClientId"), s.str("OidcWellKnown")
	}
	if si.Lark {
		d.LarkClientID = s.str("LarkClientId")
	}
	return apiOK(c, d)
}
