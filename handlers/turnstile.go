package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// turnstileVerifyURL is Cloudflare's siteverify endpoint.
const turnstileVerifyURL = "https://challenges.cloudflare.com/turnstile/v0/siteverify"

var turnstileClient = &http.Client{Timeout: 10 * time.Second}

var errTurnstile = echo.NewHTTPError(http.StatusForbidden, "the human check (Turnstile) failed: try again")

// checkTurnstile verifies a Turnstile response server-side when the check is
// configured; it is a no-op otherwise. A verification outage fails closed.
func (h *Handler) checkTurnstile(ctx context.Context, s settings, response, ip string) error {
	if !s.turnstile() {
		return nil
	}
	if response == "" {
		return errTurnstile
	}
	endpoint := h.turnstileURL
	if endpoint == "" {
		endpoint = turnstileVerifyURL
	}
	form := url.Values{"secret": {s.str("TurnstileSecretKey")}, "response": {response}, "remoteip": {ip}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := turnstileClient.Do(req)
	if err != nil {
		return fmt.Errorf("turnstile verify: %w", err)
	}
	defer resp.Body.Close()
	var out struct {
		Success    bool     `json:"success"`
		ErrorCodes []string `json:"error-codes"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return fmt.Errorf("turnstile verify: decode: %w", err)
	}
	if !out.Success {
		h.log.Info("turnstile refused", "codes", out.ErrorCodes)
		return errTurnstile
	}
	return nil
}

// turnstileResponse takes the widget's answer from a form (the widget's field)
// or, for One API's JSON API, the turnstile query parameter.
func turnstileResponse(c echo.Context) string {
	if v := c.FormValue("cf-turnstile-response"); v != "" {
		return v
	}
	return c.QueryParam("turnstile")
}

// allowTurnstileCSP widens the page's policy just enough for the Turnstile
// widget: its script and its iframe from challenges.cloudflare.com.
func allowTurnstileCSP(c echo.Context) {
	c.Response().Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'self' https://challenges.cloudflare.com; "+
		"frame-src https://challenges.cloudflare.com; style-src 'self'; img-src 'self' data:; "+
		"object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
}
