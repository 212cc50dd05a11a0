package handlers

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/labstack/echo/v4"
	"github.com/markbates/goth"
	"github.com/markbates/goth/providers/github"
	"github.com/markbates/goth/providers/lark"
	"github.com/markbates/goth/providers/openidConnect"

	"oneapi/keys"
	"oneapi/queries"
)

// Sign-in with GitHub, any OpenID Connect provider, and Lark/Feishu. goth's
// providers are driven directly (no gothic): the OAuth state and goth's
// session live in our scs session, so the flow works on any node. Providers
// are built from the options on each use, so turning one on or changing its
// credentials needs no restart.

const (
	sessOAuthState    = "oauth_state"
	sessOAuthProvider = "oauth_provider"
	sessOAuthData     = "oauth_data"
)

// oauthProviders are the names used in URLs: /oauth/github, /api/oauth/oidc ...
var oauthProviders = map[string]string{"github": "GitHub", "oidc": "OpenID Connect", "lark": "Lark"}

// oidcCache keeps discovered OIDC providers, keyed by their configuration, so
// a sign-in does not fetch the discovery document twice.
var oidcCache sync.Map // string -> *openidConnect.Provider

// oauthProvider builds the provider named name from the current settings, or
// answers 404 when it is turned off.
func (h *Handler) oauthProvider(c echo.Context, s settings, name string) (goth.Provider, error) {
	callback := h.publicURL(c, s) + "/oauth/" + name + "/callback"
	off := echo.NewHTTPError(http.StatusNotFound, "this sign-in method is not enabled")
	o := s.signInView()
	switch name {
	case "github":
		if !o.GitHub {
			return nil, off
		}
		p := github.New(s.str("GitHubClientId"), s.str("GitHubClientSecret"), callback, "read:user", "user:email")
		p.HTTPClient = h.oauthClient
		return p, nil
	case "lark":
		if !o.Lark {
			return nil, off
		}
		p := lark.New(s.str("LarkClientId"), s.str("LarkClientSecret"), callback)
		p.HTTPClient = h.oauthClient
		return p, nil
	case "oidc":
		if !o.OIDC {
			return nil, off
		}
		wk := strings.TrimRight(s.str("OidcWellKnown"), "/")
		if !strings.Contains(wk, "/.well-known/") {
			wk += "/.well-known/openid-configuration"
		}
		key := strings.Join([]string{wk, s.str("OidcClientId"), s.str("OidcClientSecret"), callback}, "\x00")
		if p, ok := oidcCache.Load(key); ok {
			return p.(*openidConnect.Provider), nil
		}
		p, err := openidConnect.New(s.str("OidcClientId"), s.str("OidcClientSecret"), callback, wk, "openid", "profile", "email")
		if err != nil {
			h.log.Warn("oidc discovery", "url", wk, "err", err)
			return nil, echo.NewHTTPError(http.StatusBadGateway, "the OpenID Connect provider could not be reached")
		}
		oidcCache.Store(key, p)
		return p, nil
	}
	return nil, echo.NewHTTPError(http.StatusNotFound, "unknown sign-in provider")
}

// oauthStart sends the browser to the provider. A signed-in user who starts
// the flow links the provider account to their own.
func (h *Handler) oauthStart(c echo.Context) error {
	ctx := c.Request().Context()
	name := c.Param("provider")
	s, err := h.loadSettings(ctx)
	if err != nil {
		return err
	}
	p, err := h.oauthProvider(c, s, name)
	if err != nil {
		return err
	}
	state := keys.Random(32)
	sess, err := p.BeginAuth(state)
	if err != nil {
		return fmt.Errorf("begin %s auth: %w", name, err)
	}
	authURL, err := sess.GetAuthURL()
	if err != nil {
		return err
	}
	h.sm.Put(ctx, sessOAuthState, state)
	h.sm.Put(ctx, sessOAuthProvider, name)
	h.sm.Put(ctx, sessOAuthData, sess.Marshal())
	return c.Redirect(http.StatusFound, authURL)
}

// oauthCallback is where the provider sends the browser back.
func (h *Handler) oauthCallback(c echo.Context) error {
	name := c.Param("provider")
	u, linked, err := h.oauthFinish(c, name, c.QueryParams())
	if err != nil {
		return err
	}
	if linked {
		h.setFlash(c, oauthProviders[name]+" is now linked to your account.")
		return c.Redirect(http.StatusSeeOther, "/account")
	}
	if err := h.startSession(c, u.ID, u.PasswordHash); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/")
}

// apiOAuthState is One API's GET /api/oauth/state: a state for a client that
// builds the provider's authorize URL itself and later calls
// /api/oauth/:provider?code=&state=.
func (h *Handler) apiOAuthState(c echo.Context) error {
	state := keys.Random(32)
	h.sm.Put(c.Request().Context(), sessOAuthState, state)
	h.sm.Put(c.Request().Context(), sessOAuthProvider, "")
	h.sm.Remove(c.Request().Context(), sessOAuthData)
	return replyData(c, state)
}

// apiOAuthCallback is One API's GET /api/oauth/github|oidc|lark?code=&state=:
// it signs in (creating the account on first use) or, for a signed-in user,
// links the provider account. data is the user.
func (h *Handler) apiOAuthCallback(c echo.Context) error {
	name := c.Param("provider")
	if _, known := oauthProviders[name]; !known {
		return echo.NewHTTPError(http.StatusNotFound, "unknown sign-in provider")
	}
	u, linked, err := h.oauthFinish(c, name, c.QueryParams())
	if err != nil {
		return err
	}
	if linked {
		return c.JSON(http.StatusOK, apiReply{Success: true, Message: "linked", Data: toAPIUser(u)})
	}
	if err := h.startSession(c, u.ID, u.PasswordHash); err != nil {
		return err
	}
	return replyData(c, toAPIUser(u))
}

var errOAuthState = echo.NewHTTPError(http.StatusForbidden, "the sign-in link has expired or was opened in another browser: start again")

// oauthFinish checks the state, exchanges the code, fetches the provider's
// user and returns our user: the one linked to that identity, a new one on
// first sign-in, or the signed-in user after linking (linked true).
func (h *Handler) oauthFinish(c echo.Context, name string, params url.Values) (*queries.User, bool, error) {
	ctx := c.Request().Context()
	want := h.sm.PopString(ctx, sessOAuthState)
	wantProvider := h.sm.PopString(ctx, sessOAuthProvider)
	data := h.sm.PopString(ctx, sessOAuthData)
	got := params.Get("state")
	if want == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 || (wantProvider != "" && wantProvider != name) {
		return nil, false, errOAuthState
	}
	if e := params.Get("error"); e != "" {
		return nil, false, echo.NewHTTPError(http.StatusForbidden, "the provider refused the sign-in: "+e)
	}
	s, err := h.loadSettings(ctx)
	if err != nil {
		return nil, false, err
	}
	p, err := h.oauthProvider(c, s, name)
	if err != nil {
		return nil, false, err
	}
	var sess goth.Session
	if data != "" {
		sess, err = p.UnmarshalSession(data)
	} else {
		sess, err = p.BeginAuth(got)
	}
	if err != nil {
		return nil, false, fmt.Errorf("%s session: %w", name, err)
	}
	if _, err := sess.Authorize(p, params); err != nil {
		h.log.Info("oauth code exchange failed", "provider", name, "err", err)
		return nil, false, echo.NewHTTPError(http.StatusForbidden, "the provider did not accept the sign-in: start again")
	}
	gu, err := p.FetchUser(sess)
	if errors.Is(err, github.ErrNoVerifiedGitHubPrimaryEmail) && gu.UserID != "" {
		err = nil // an account without a verified address signs in without one
	}
	if err != nil || gu.UserID == "" {
		h.log.Warn("oauth fetch user failed", "provider", name, "err", err)
		return nil, false, echo.NewHTTPError(http.StatusBadGateway, "could not read your profile from the provider")
	}
	id := pgtype.Text{String: gu.UserID, Valid: true}

	owner, err := h.userByProviderID(ctx, name, id)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, false, err
	}
	found := err == nil

	if me := h.currentUser(c); me != nil {
		if found && owner.ID != me.ID {
			return nil, false, echo.NewHTTPError(http.StatusConflict, "this "+oauthProviders[name]+" account is already linked to another user")
		}
		if err := h.linkProvider(ctx, name, me.ID, id); err != nil {
			if queries.IsUniqueViolation(err) {
				return nil, false, echo.NewHTTPError(http.StatusConflict, "this "+oauthProviders[name]+" account is already linked to another user")
			}
			return nil, false, err
		}
		nu, err := h.q.UserGetByID(ctx, me.ID)
		return &nu, true, err
	}

	if found {
		if owner.Status != statusEnabled {
			return nil, false, echo.NewHTTPError(http.StatusForbidden, "This account is disabled.")
		}
		return &owner, false, nil
	}
	if !s.bool("RegisterEnabled") {
		return nil, false, echo.NewHTTPError(http.StatusForbidden, "No account is linked to this "+oauthProviders[name]+" account, and registration is closed.")
	}
	u, err := h.createOAuthUser(ctx, s, name, id, gu)
	if err != nil {
		return nil, false, err
	}
	return u, false, nil
}

func (h *Handler) userByProviderID(ctx context.Context, name string, id pgtype.Text) (queries.User, error) {
	switch name {
	case "github":
		return h.q.UserGetByGitHubID(ctx, id)
	case "oidc":
		return h.q.UserGetByOIDCID(ctx, id)
	default:
		return h.q.UserGetByLarkID(ctx, id)
	}
}

func (h *Handler) linkProvider(ctx context.Context, name string, userID int64, id pgtype.Text) error {
	switch name {
	case "github":
		return h.q.UserLinkGitHub(ctx, queries.UserLinkGitHubParams{ID: userID, GitHubID: id})
	case "oidc":
		return h.q.UserLinkOIDC(ctx, queries.UserLinkOIDCParams{ID: userID, OIDCID: id})
	default:
		return h.q.UserLinkLark(ctx, queries.UserLinkLarkParams{ID: userID, LarkID: id})
	}
}

var notNameChars = regexp.MustCompile(`[^A-Za-z0-9_.\-]+`)

// createOAuthUser makes the account for a first sign-in. The username comes
// from the provider's nickname when free, else gets a suffix. The email is
// kept only when no other account uses it: an address at a provider is not
// proof enough to take over an existing account.
func (h *Handler) createOAuthUser(ctx context.Context, s settings, name string, id pgtype.Text, gu goth.User) (*queries.User, error) {
	base := notNameChars.ReplaceAllString(gu.NickName, "")
	if base == "" {
		base = notNameChars.ReplaceAllString(strings.ReplaceAll(gu.Name, " ", "_"), "")
	}
	if len(base) < 3 {
		base = name + "_" + base
	}
	if len(base) > 24 {
		base = base[:24]
	}
	username := base
	for i := 0; ; i++ {
		taken, err := h.q.UserNameTaken(ctx, username)
		if err != nil {
			return nil, err
		}
		if !taken {
			break
		}
		if i >= 5 {
			return nil, errors.New("no free username for a new OAuth user")
		}
		username = base + "_" + strings.ToLower(keys.Random(4))
	}
	email, m := normalizeEmail(gu.Email)
	if m != "" || (email != "" && !emailDomainAllowed(s, email)) {
		email = ""
	}
	if email != "" {
		if _, err := h.q.UserGetByEmail(ctx, email); err == nil {
			email = ""
		} else if !errors.Is(err, pgx.ErrNoRows) {
			return nil, err
		}
	}
	display := strings.TrimSpace(gu.Name)
	if display == "" || validateDisplayName(display) != "" {
		display = username
	}
	p := queries.UserInsertParams{Username: username, DisplayName: display, Email: email}
	switch name {
	case "github":
		p.GitHubID = id
	case "oidc":
		p.OIDCID = id
	default:
		p.LarkID = id
	}
	return h.createUser(ctx, s, p, "")
}
