package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/labstack/echo/v4"

	"oneapi/keys"
	"oneapi/queries"
	"oneapi/views"
)

// The signed-in user's own account: profile, password, access token, invite
// link and redemption codes.

// profileChange is what a person may change about themselves.
type profileChange struct {
	DisplayName      string
	Email            string
	VerificationCode string
}

// updateProfile validates and saves a profile change. When email verification
// is on, a new address needs the code mailed to it.
func (h *Handler) updateProfile(c echo.Context, s settings, u *queries.User, p profileChange) (*queries.User, map[string]string, error) {
	ctx := c.Request().Context()
	errs := map[string]string{}
	p.DisplayName = strings.TrimSpace(p.DisplayName)
	if m := validateDisplayName(p.DisplayName); m != "" {
		errs["display_name"] = m
	}
	email, m := normalizeEmail(p.Email)
	changed := !strings.EqualFold(email, u.Email)
	switch {
	case m != "":
		errs["email"] = m
	case changed && email != "" && !emailDomainAllowed(s, email):
		errs["email"] = "Addresses at this domain are not allowed here."
	case changed && email != "":
		if other, err := h.q.UserGetByEmail(ctx, email); err == nil && other.ID != u.ID {
			errs["email"] = "An account already uses this address."
		} else if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return nil, nil, err
		}
	}
	if len(errs) > 0 {
		return nil, errs, nil
	}
	if changed && email != "" && s.bool("EmailVerificationEnabled") {
		ok, err := h.useCode(ctx, "verify", email, strings.TrimSpace(p.VerificationCode))
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			return nil, map[string]string{"verification_code": "Send a code to the new address and enter it here."}, nil
		}
	}
	if p.DisplayName == "" {
		p.DisplayName = u.Username
	}
	nu, err := h.q.UserUpdateSelf(ctx, queries.UserUpdateSelfParams{ID: u.ID, DisplayName: p.DisplayName, Email: email})
	if queries.IsUniqueViolation(err) {
		return nil, map[string]string{"email": "An account already uses this address."}, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("update profile of user %d: %w", u.ID, err)
	}
	return &nu, nil, nil
}

// affCode returns u's invite code, creating one for accounts made before codes
// existed.
func (h *Handler) affCode(ctx context.Context, u *queries.User) (string, error) {
	if u.AffCode.Valid && u.AffCode.String != "" {
		return u.AffCode.String, nil
	}
	if err := h.q.UserSetAffCode(ctx, queries.UserSetAffCodeParams{ID: u.ID, AffCode: pgtype.Text{String: keys.Random(8), Valid: true}}); err != nil {
		return "", err
	}
	nu, err := h.q.UserGetByID(ctx, u.ID)
	if err != nil {
		return "", err
	}
	return nu.AffCode.String, nil
}

var errBadRedemption = echo.NewHTTPError(http.StatusUnprocessableEntity, "This code is invalid or has already been used.")

// errOwnRedemption: codes are for handing out; their creator cannot redeem them.
var errOwnRedemption = echo.NewHTTPError(http.StatusUnprocessableEntity, "You created this code: give it to someone else; its creator cannot redeem it.")

// redeem tops up u with a redemption code, once: marking the code used,
// adding the quota and the top-up log row happen in one transaction, and the
// conditional UPDATE lets only one of two concurrent redeemers win.
func (h *Handler) redeem(ctx context.Context, u *queries.User, code string) (int64, error) {
	code = strings.TrimSpace(code)
	if code == "" {
		return 0, echo.NewHTTPError(http.StatusUnprocessableEntity, "Enter a redemption code.")
	}
	var quota int64
	err := queries.InTx(ctx, h.pool, func(q *queries.Queries) error {
		r, err := q.RedemptionRedeem(ctx, queries.RedemptionRedeemParams{CodeHash: keys.Hash(code), UserID: pgtype.Int8{Int64: u.ID, Valid: true}})
		if errors.Is(err, pgx.ErrNoRows) {
			if own, _ := q.RedemptionIsOwnCode(ctx, queries.RedemptionIsOwnCodeParams{CodeHash: keys.Hash(code), UserID: u.ID}); own {
				return errOwnRedemption
			}
			return errBadRedemption
		}
		if err != nil {
			return err
		}
		credited, err := q.UserAddQuota(ctx, queries.UserAddQuotaParams{ID: u.ID, Delta: r.Quota})
		if err != nil {
			return fmt.Errorf("credit redemption %d: %w", r.ID, err)
		}
		quota = r.Quota
		return logQuotaChange(ctx, q, logTypeTopUp, u.ID, credited.Username, r.Quota,
			fmt.Sprintf("redeemed code %s: +%d", r.CodePrefix, r.Quota))
	})
	return quota, err
}

// regenerateAccessToken issues a new personal access token for the
// management API. Only its hash and prefix are stored; the caller shows the
// token once. The old token stops working at once.
func (h *Handler) regenerateAccessToken(ctx context.Context, u *queries.User) (string, error) {
	tok := keys.Random(32)
	err := h.q.UserSetAccessToken(ctx, queries.UserSetAccessTokenParams{ID: u.ID, AccessTokenHash: keys.Hash(tok), AccessTokenPrefix: keys.Prefix(tok)})
	if err != nil {
		return "", fmt.Errorf("set access token of user %d: %w", u.ID, err)
	}
	return tok, nil
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// accountView gathers everything the account page shows.
func (h *Handler) accountView(c echo.Context, u *queries.User) (views.AccountView, error) {
	ctx := c.Request().Context()
	s, err := h.loadSettings(ctx)
	if err != nil {
		return views.AccountView{}, err
	}
	code, err := h.affCode(ctx, u)
	if err != nil {
		return views.AccountView{}, err
	}
	invitees, err := h.q.UserInviteeCount(ctx, pgtype.Int8{Int64: u.ID, Valid: true})
	if err != nil {
		return views.AccountView{}, err
	}
	opts := s.signInView()
	_, zone := h.userPrefs(c)
	return views.AccountView{
		TimeZone:    zone,
		Layout:      h.layout(c, "Account"),
		User:        userView(u),
		DisplayName: u.DisplayName,
		Email:       u.Email,
		EmailVerify: opts.EmailVerify,
		Token:       views.AccessTokenView{Prefix: u.AccessTokenPrefix},
		InviteLink:  h.publicURL(c, s) + "/register?aff=" + code,
		Invitees:    invitees,
		TopUp:       views.TopUpView{Quota: u.Quota},
		Links: views.LinksView{
			GitHub: opts.GitHub, OIDC: opts.OIDC, Lark: opts.Lark,
			GitHubID: u.GitHubID.String, OIDCID: u.OIDCID.String, LarkID: u.LarkID.String,
		},
	}, nil
}

// userView is the console's picture of a user; it has no secrets to leak.
func userView(u *queries.User) views.UserView {
	return views.UserView{
		ID: u.ID, Username: u.Username, DisplayName: u.DisplayName, Email: u.Email,
		Role: u.Role, Status: u.Status, Group: u.GroupName, Quota: u.Quota, UsedQuota: u.UsedQuota,
		RequestCount: u.RequestCount, CreatedAt: u.CreatedAt, HasToken: u.AccessTokenPrefix != "",
		GitHub: u.GitHubID.Valid, OIDC: u.OIDCID.Valid, Lark: u.LarkID.Valid,
	}
}

func (h *Handler) accountPage(c echo.Context) error {
	v, err := h.accountView(c, h.currentUser(c))
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.AccountPage(v))
}

// accountUpdate saves display name and email.
func (h *Handler) accountUpdate(c echo.Context) error {
	u := h.currentUser(c)
	s, err := h.loadSettings(c.Request().Context())
	if err != nil {
		return err
	}
	p := profileChange{DisplayName: c.FormValue("display_name"), Email: c.FormValue("email"), VerificationCode: c.FormValue("verification_code")}
	nu, errs, err := h.updateProfile(c, s, u, p)
	if err != nil {
		return err
	}
	if len(errs) > 0 {
		v, err := h.accountView(c, u)
		if err != nil {
			return err
		}
		v.DisplayName, v.Email, v.ProfileErrors = p.DisplayName, p.Email, errs
		if isHTMX(c) {
			return render(c, http.StatusUnprocessableEntity, views.ProfileForm(v))
		}
		return render(c, http.StatusUnprocessableEntity, views.AccountPage(v))
	}
	if isHTMX(c) {
		v, err := h.accountView(c, nu)
		if err != nil {
			return err
		}
		v.ProfileNotice = "Saved."
		return render(c, http.StatusOK, views.ProfileForm(v))
	}
	h.setFlash(c, "Your profile was saved.")
	return redirect(c, "/account")
}

// accountEmailCode mails a verification code to a new address.
func (h *Handler) accountEmailCode(c echo.Context) error {
	s, err := h.loadSettings(c.Request().Context())
	if err != nil {
		return err
	}
	email := c.FormValue("email")
	notice, msg := "", ""
	if err := h.mailCode(c, s, email); err != nil {
		var he *echo.HTTPError
		if !errors.As(err, &he) {
			return err
		}
		_, msg = statusOf(he)
	} else {
		notice = "A code is on its way to " + email + "."
	}
	if isHTMX(c) {
		return render(c, http.StatusOK, views.CodeStatus(notice, msg))
	}
	v, err := h.accountView(c, h.currentUser(c))
	if err != nil {
		return err
	}
	v.Email, v.ProfileNotice = email, notice
	if msg != "" {
		v.ProfileErrors = map[string]string{"verification_code": msg}
	}
	return render(c, http.StatusOK, views.AccountPage(v))
}

// accountToken regenerates the access token and shows it once.
func (h *Handler) accountToken(c echo.Context) error {
	u := h.currentUser(c)
	tok, err := h.regenerateAccessToken(c.Request().Context(), u)
	if err != nil {
		return err
	}
	tv := views.AccessTokenView{Prefix: keys.Prefix(tok), New: tok}
	c.Response().Header().Set("Cache-Control", "no-store")
	if isHTMX(c) {
		return render(c, http.StatusOK, views.AccessTokenCard(tv))
	}
	v, err := h.accountView(c, u)
	if err != nil {
		return err
	}
	v.Token = tv
	return render(c, http.StatusOK, views.AccountPage(v))
}

// accountTopUp redeems a code from the account page.
func (h *Handler) accountTopUp(c echo.Context) error {
	ctx := c.Request().Context()
	u := h.currentUser(c)
	tv := views.TopUpView{Quota: u.Quota}
	status := http.StatusOK
	added, err := h.redeem(ctx, u, c.FormValue("key"))
	if err != nil {
		var he *echo.HTTPError
		if !errors.As(err, &he) {
			return err
		}
		status, tv.Error = statusOf(he)
	} else {
		tv.Added, tv.Quota = added, u.Quota+added
	}
	if isHTMX(c) {
		return render(c, status, views.TopUpCard(tv))
	}
	if tv.Error == "" {
		h.setFlash(c, fmt.Sprintf("Added %s to your balance.", views.FormatQuota(added)))
		return redirect(c, "/account")
	}
	v, err := h.accountView(c, u)
	if err != nil {
		return err
	}
	v.TopUp = tv
	return render(c, status, views.AccountPage(v))
}
