package handlers

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/labstack/echo/v4"
	"golang.org/x/crypto/bcrypt"

	"oneapi/keys"
	"oneapi/queries"
	"oneapi/views"
)

// Password sign-in, sign-out, password change, registration and password
// reset: the page handlers here and the JSON handlers in api_account.go share
// the functions below, so both apply the same rules.

const (
	verifyCodeTTL = 10 * time.Minute
	resetTokenTTL = 30 * time.Minute
)

var usernamePattern = regexp.MustCompile(`^[A-Za-z0-9_.\-]{3,32}$`)

// bcryptCost is bcrypt's work factor; tests lower it (the race detector makes
// the default cost take most of a second).
var bcryptCost = bcrypt.DefaultCost

// dummyHash makes a sign-in for an unknown user cost as much as one for a
// known user, so timing does not reveal which names exist.
var dummyHash = sync.OnceValue(func() []byte {
	b, _ := bcrypt.GenerateFromPassword([]byte("not a password"), bcryptCost)
	return b
})

// validatePassword applies the password rules; the message is for people.
func validatePassword(pw string) string {
	switch {
	case len(pw) < 8:
		return "Use at least 8 characters."
	case len(pw) > 72:
		return "Use at most 72 bytes." // bcrypt ignores the rest
	case pw == "12345678" || pw == "123456789" || pw == "password":
		return "That password is too easy to guess."
	}
	return ""
}

func validateUsername(name string) string {
	if !usernamePattern.MatchString(name) {
		return "Use 3 to 32 letters, digits, dots, dashes or underscores."
	}
	return ""
}

func validateDisplayName(name string) string {
	if utf8.RuneCountInString(name) > 50 {
		return "Use at most 50 characters."
	}
	return ""
}

// normalizeEmail checks an address and returns its bare form.
func normalizeEmail(s string) (string, string) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", ""
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || len(s) > 254 || !strings.Contains(s[strings.LastIndexByte(s, '@'):], ".") {
		return s, "Enter a valid email address."
	}
	return s, ""
}

// emailDomainAllowed applies EmailDomainRestrictionEnabled/EmailDomainWhitelist.
func emailDomainAllowed(s settings, email string) bool {
	if !s.bool("EmailDomainRestrictionEnabled") {
		return true
	}
	domain := strings.ToLower(email[strings.LastIndexByte(email, '@')+1:])
	for _, d := range s.list("EmailDomainWhitelist") {
		if domain == d {
			return true
		}
	}
	return false
}

func hashPassword(pw string) (string, error) {
	b, err := bcrypt.GenerateFromPassword([]byte(pw), bcryptCost)
	return string(b), err
}

// authenticate checks a username (or email) and password, with throttling
// and Turnstile. The returned error is an *echo.HTTPError for every refusal.
// Every path costs one bcrypt comparison and the same queries, and an unknown
// name gets the same answers as a wrong password, so neither replies nor
// timing tell which names exist.
func (h *Handler) authenticate(c echo.Context, s settings, username, password string) (*queries.User, error) {
	ctx := c.Request().Context()
	ip := c.RealIP()
	username = strings.TrimSpace(username)
	if username == "" || password == "" {
		return nil, echo.NewHTTPError(http.StatusUnprocessableEntity, "Enter your username and password.")
	}
	if err := h.checkTurnstile(ctx, s, turnstileResponse(c), ip); err != nil {
		return nil, err
	}
	u, err := h.q.UserGetByUsername(ctx, username)
	if errors.Is(err, pgx.ErrNoRows) && strings.Contains(username, "@") {
		u, err = h.q.UserGetByEmail(ctx, username)
	}
	found := err == nil
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, err
	}
	// Failures count against the account, whichever name it was addressed
	// by (username or email), so the two do not make two budgets.
	account := username
	if found {
		account = u.Username
	}
	if err := h.checkThrottle(ctx, ip, account); err != nil {
		return nil, err
	}
	hash := []byte(u.PasswordHash)
	if !found || u.PasswordHash == "" {
		hash = dummyHash()
	}
	ok := bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil && found && u.PasswordHash != ""
	if !ok {
		if err := h.recordFailure(ctx, ip, account); err != nil {
			return nil, err
		}
	}
	// Root may always use a password, so switching it off cannot lock the
	// instance out. Everyone else, and root with a wrong password, gets the
	// same refusal: a different one for root would name the root account.
	if !s.bool("PasswordLoginEnabled") && (!ok || u.Role < roleRoot) {
		return nil, echo.NewHTTPError(http.StatusForbidden, "Password sign-in is turned off by the administrator.")
	}
	if !ok {
		return nil, echo.NewHTTPError(http.StatusUnauthorized, "Wrong username or password.")
	}
	if u.Status != statusEnabled {
		return nil, echo.NewHTTPError(http.StatusForbidden, "This account is disabled.")
	}
	if err := h.clearFailures(ctx, account); err != nil {
		return nil, err
	}
	return &u, nil
}

// loginPage shows the sign-in form (or sends a signed-in person onwards).
func (h *Handler) loginPage(c echo.Context) error {
	if h.currentUser(c) != nil {
		return c.Redirect(http.StatusSeeOther, safeNext(c.QueryParam("next")))
	}
	s, err := h.loadSettings(c.Request().Context())
	if err != nil {
		return err
	}
	return h.renderLogin(c, s, http.StatusOK, views.LoginView{Next: c.QueryParam("next")})
}

func (h *Handler) renderLogin(c echo.Context, s settings, status int, v views.LoginView) error {
	v.Layout = h.layout(c, "Sign in")
	v.Options = s.signInView()
	if v.Options.TurnstileSiteKey != "" {
		allowTurnstileCSP(c)
	}
	return render(c, status, views.LoginPage(v))
}

// loginSubmit signs in with a password. Refusals re-render the form with the
// message and the status that fits (401, 403, 429).
func (h *Handler) loginSubmit(c echo.Context) error {
	s, err := h.loadSettings(c.Request().Context())
	if err != nil {
		return err
	}
	username := c.FormValue("username")
	u, err := h.authenticate(c, s, username, c.FormValue("password"))
	if err != nil {
		var he *echo.HTTPError
		if errors.As(err, &he) {
			code, msg := statusOf(he)
			return h.renderLogin(c, s, code, views.LoginView{Username: username, Next: c.FormValue("next"), Error: msg})
		}
		return err
	}
	if err := h.startSession(c, u.ID, u.PasswordHash); err != nil {
		return err
	}
	if u.MustChangePassword {
		return redirect(c, "/account/password")
	}
	return redirect(c, safeNext(c.FormValue("next")))
}

// logout ends the session (POST only, with the CSRF token: a link from
// another site must not sign people out).
func (h *Handler) logout(c echo.Context) error {
	if err := h.endSession(c); err != nil {
		return err
	}
	return redirect(c, "/login")
}

// passwordPage shows the change-password form.
func (h *Handler) passwordPage(c echo.Context) error {
	u := h.currentUser(c)
	return render(c, http.StatusOK, views.PasswordPage(views.PasswordView{Layout: h.layout(c, "Change password"), Forced: u.MustChangePassword}))
}

// changePassword checks and applies a password change for u. The session is
// re-bound to the new password; every other session of u ends.
func (h *Handler) changePassword(c echo.Context, u *queries.User, current, next, repeat string) (map[string]string, error) {
	errs := map[string]string{}
	if u.PasswordHash != "" && bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(current)) != nil {
		errs["current_password"] = "That is not your current password."
	}
	if m := validatePassword(next); m != "" {
		errs["new_password"] = m
	} else if next == current {
		errs["new_password"] = "Choose a password different from the current one."
	}
	if repeat != next {
		errs["new_password2"] = "The two passwords differ."
	}
	if len(errs) > 0 {
		return errs, nil
	}
	hash, err := hashPassword(next)
	if err != nil {
		return nil, err
	}
	ctx := c.Request().Context()
	if err := h.q.UserSetPassword(ctx, queries.UserSetPasswordParams{ID: u.ID, PasswordHash: hash, MustChangePassword: false}); err != nil {
		return nil, fmt.Errorf("set password of user %d: %w", u.ID, err)
	}
	if h.authBy(c) == authBySession {
		if err := h.startSession(c, u.ID, hash); err != nil {
			return nil, err
		}
	}
	u.PasswordHash, u.MustChangePassword = hash, false
	return nil, nil
}

func (h *Handler) passwordSubmit(c echo.Context) error {
	u := h.currentUser(c)
	errs, err := h.changePassword(c, u, c.FormValue("current_password"), c.FormValue("new_password"), c.FormValue("new_password2"))
	if err != nil {
		return err
	}
	if len(errs) > 0 {
		return render(c, http.StatusUnprocessableEntity, views.PasswordPage(views.PasswordView{
			Layout: h.layout(c, "Change password"), Forced: u.MustChangePassword, Errors: errs}))
	}
	h.setFlash(c, "Your password was changed.")
	return redirect(c, "/account")
}

// registration is one registration request, from the form or the JSON API.
type registration struct {
	Username         string `json:"username"`
	Password         string `json:"password"`
	Password2        string `json:"-"`
	Email            string `json:"email"`
	VerificationCode string `json:"verification_code"`
	AffCode          string `json:"aff_code"`
	DisplayName      string `json:"display_name"`
}

// register validates r and creates the account, crediting invite rewards.
// Field errors come back in the map (key "" for the form as a whole).
func (h *Handler) register(c echo.Context, s settings, r registration, checkRepeat bool) (*queries.User, map[string]string, error) {
	ctx := c.Request().Context()
	if !s.bool("RegisterEnabled") {
		return nil, nil, echo.NewHTTPError(http.StatusForbidden, "Registration is closed on this instance.")
	}
	if !s.bool("PasswordRegisterEnabled") {
		return nil, nil, echo.NewHTTPError(http.StatusForbidden, "Registration with a password is turned off; use one of the sign-in providers.")
	}
	if err := h.checkTurnstile(ctx, s, turnstileResponse(c), c.RealIP()); err != nil {
		return nil, nil, err
	}
	errs := map[string]string{}
	r.Username = strings.TrimSpace(r.Username)
	if m := validateUsername(r.Username); m != "" {
		errs["username"] = m
	}
	if m := validatePassword(r.Password); m != "" {
		errs["password"] = m
	}
	if checkRepeat && r.Password2 != r.Password {
		errs["password2"] = "The two passwords differ."
	}
	email, m := normalizeEmail(r.Email)
	switch {
	case m != "":
		errs["email"] = m
	case email == "" && s.bool("EmailVerificationEnabled"):
		errs["email"] = "An email address is required."
	case email != "" && !emailDomainAllowed(s, email):
		errs["email"] = "Addresses at this domain cannot register here."
	}
	if len(errs) > 0 {
		return nil, errs, nil
	}
	if taken, err := h.q.UserNameTaken(ctx, r.Username); err != nil {
		return nil, nil, err
	} else if taken {
		errs["username"] = "That username is taken."
	}
	if email != "" {
		if _, err := h.q.UserGetByEmail(ctx, email); err == nil {
			errs["email"] = "An account already uses this address."
		} else if !errors.Is(err, pgx.ErrNoRows) {
			return nil, nil, err
		}
	}
	if len(errs) > 0 {
		return nil, errs, nil
	}
	if s.bool("EmailVerificationEnabled") {
		ok, err := h.useCode(ctx, "verify", email, strings.TrimSpace(r.VerificationCode))
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			return nil, map[string]string{"verification_code": "The code is wrong or has expired: send a new one."}, nil
		}
	}
	hash, err := hashPassword(r.Password)
	if err != nil {
		return nil, nil, err
	}
	u, err := h.createUser(ctx, s, queries.UserInsertParams{
		Username: r.Username, PasswordHash: hash, DisplayName: r.DisplayName, Email: email,
	}, r.AffCode)
	if queries.IsUniqueViolation(err) {
		return nil, map[string]string{"username": "That username or email is taken."}, nil
	}
	return u, nil, err
}

// createUser inserts a self-registered user (password or OAuth) with the
// new-user quota, a fresh invite code, and the inviter/invitee rewards when
// affCode names a live user, each reward with its top-up log row. It is one
// transaction.
func (h *Handler) createUser(ctx context.Context, s settings, p queries.UserInsertParams, affCode string) (*queries.User, error) {
	if p.DisplayName == "" {
		p.DisplayName = p.Username
	}
	p.Role, p.Status, p.GroupName = roleUser, statusEnabled, "default"
	p.Quota = s.int("QuotaForNewUser")
	p.AffCode = pgtype.Text{String: keys.Random(8), Valid: true}
	var u queries.User
	err := queries.InTx(ctx, h.pool, func(q *queries.Queries) error {
		var inviter *queries.User
		if affCode = strings.TrimSpace(affCode); affCode != "" {
			iv, err := q.UserGetByAffCode(ctx, pgtype.Text{String: affCode, Valid: true})
			if err == nil {
				inviter = &iv
				p.InviterID = pgtype.Int8{Int64: iv.ID, Valid: true}
				p.Quota += s.int("QuotaForInvitee")
			} else if !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
		}
		var err error
		if u, err = q.UserInsert(ctx, p); err != nil {
			return err
		}
		if inviter == nil {
			return nil
		}
		if reward := s.int("QuotaForInvitee"); reward > 0 {
			if err := logQuotaChange(ctx, q, logTypeTopUp, u.ID, u.Username, reward,
				fmt.Sprintf("invited by %s: +%d", inviter.Username, reward)); err != nil {
				return err
			}
		}
		if reward := s.int("QuotaForInviter"); reward > 0 {
			rewarded, err := q.UserAddQuota(ctx, queries.UserAddQuotaParams{ID: inviter.ID, Delta: reward})
			if err != nil {
				return fmt.Errorf("reward inviter %d: %w", inviter.ID, err)
			}
			return logQuotaChange(ctx, q, logTypeTopUp, inviter.ID, rewarded.Username, reward,
				fmt.Sprintf("invited %s: +%d", u.Username, reward))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("create user %q: %w", p.Username, err)
	}
	return &u, nil
}

func (h *Handler) registerPage(c echo.Context) error {
	s, err := h.loadSettings(c.Request().Context())
	if err != nil {
		return err
	}
	if !s.bool("RegisterEnabled") {
		return echo.NewHTTPError(http.StatusForbidden, "Registration is closed on this instance.")
	}
	return h.renderRegister(c, s, http.StatusOK, views.RegisterView{AffCode: c.QueryParam("aff")})
}

func (h *Handler) renderRegister(c echo.Context, s settings, status int, v views.RegisterView) error {
	v.Layout = h.layout(c, "Create an account")
	v.Options = s.signInView()
	if v.Options.TurnstileSiteKey != "" {
		allowTurnstileCSP(c)
	}
	return render(c, status, views.RegisterPage(v))
}

func (h *Handler) registerSubmit(c echo.Context) error {
	s, err := h.loadSettings(c.Request().Context())
	if err != nil {
		return err
	}
	r := registration{Username: c.FormValue("username"), Password: c.FormValue("password"), Password2: c.FormValue("password2"),
		Email: c.FormValue("email"), VerificationCode: c.FormValue("verification_code"), AffCode: c.FormValue("aff")}
	u, errs, err := h.register(c, s, r, true)
	back := views.RegisterView{Username: r.Username, Email: r.Email, AffCode: r.AffCode, Errors: errs}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		_, msg := statusOf(he)
		back.Errors = map[string]string{"": msg}
		return h.renderRegister(c, s, he.Code, back)
	}
	if err != nil {
		return err
	}
	if len(errs) > 0 {
		return h.renderRegister(c, s, http.StatusUnprocessableEntity, back)
	}
	if err := h.startSession(c, u.ID, u.PasswordHash); err != nil {
		return err
	}
	h.setFlash(c, "Welcome, "+u.Username+": your account is ready.")
	return redirect(c, "/account")
}

// registerCode mails a verification code. htmx gets the #code-status
// fragment; without JavaScript the whole form comes back.
func (h *Handler) registerCode(c echo.Context) error {
	ctx := c.Request().Context()
	s, err := h.loadSettings(ctx)
	if err != nil {
		return err
	}
	email := c.FormValue("email")
	notice, msg := "", ""
	if err := h.sendVerificationCode(c, s, email); err != nil {
		var he *echo.HTTPError
		if !errors.As(err, &he) {
			return err
		}
		_, msg = statusOf(he)
	} else {
		notice = "A code is on its way to " + email + ". It works for 10 minutes."
	}
	if isHTMX(c) {
		return render(c, http.StatusOK, views.CodeStatus(notice, msg))
	}
	v := views.RegisterView{Username: c.FormValue("username"), Email: email, AffCode: c.FormValue("aff"), Notice: notice}
	if msg != "" {
		v.Errors = map[string]string{"verification_code": msg}
	}
	return h.renderRegister(c, s, http.StatusOK, v)
}

// sendVerificationCode mails a registration code to email.
func (h *Handler) sendVerificationCode(c echo.Context, s settings, email string) error {
	if !s.bool("RegisterEnabled") {
		return echo.NewHTTPError(http.StatusForbidden, "Registration is closed on this instance.")
	}
	return h.mailCode(c, s, email)
}

// mailCode mails a verification code for an address no account uses yet
// (registration, or changing one's email).
func (h *Handler) mailCode(c echo.Context, s settings, email string) error {
	ctx := c.Request().Context()
	email, m := normalizeEmail(email)
	if m != "" || email == "" {
		return echo.NewHTTPError(http.StatusUnprocessableEntity, "Enter a valid email address.")
	}
	if !emailDomainAllowed(s, email) {
		return echo.NewHTTPError(http.StatusUnprocessableEntity, "Addresses at this domain cannot register here.")
	}
	if _, err := h.q.UserGetByEmail(ctx, email); err == nil {
		return echo.NewHTTPError(http.StatusConflict, "An account already uses this address.")
	} else if !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	if err := h.limitCodes(ctx, "verify", email); err != nil {
		return err
	}
	code := numericCode(6)
	if err := h.q.AccountCodeCreate(ctx, queries.AccountCodeCreateParams{
		Purpose: "verify", Email: email, CodeHash: h.codeHash(code), ExpiresAt: time.Now().Add(verifyCodeTTL),
	}); err != nil {
		return err
	}
	body := "Your verification code is " + code + "\n\nIt works for 10 minutes. If you did not ask for it, ignore this message.\n"
	if err := sendMail(ctx, s, email, "Your verification code", body); err != nil {
		h.log.Warn("send verification mail", "err", err)
		return echo.NewHTTPError(http.StatusBadGateway, "The mail could not be sent; try again later or ask the administrator.")
	}
	return nil
}

// limitCodes refuses a fourth code to the same address within 10 minutes, so
// nobody can use us to flood a mailbox.
func (h *Handler) limitCodes(ctx context.Context, purpose, email string) error {
	n, err := h.q.AccountCodeRecentCount(ctx, queries.AccountCodeRecentCountParams{Purpose: purpose, Email: email})
	if err != nil {
		return err
	}
	if n >= 3 {
		return echo.NewHTTPError(http.StatusTooManyRequests, "Too many messages to this address; wait a few minutes.")
	}
	return nil
}

// useCode consumes a mailed code; a wrong guess counts against the address.
func (h *Handler) useCode(ctx context.Context, purpose, email, code string) (bool, error) {
	if code == "" {
		return false, nil
	}
	_, err := h.q.AccountCodeUse(ctx, queries.AccountCodeUseParams{Purpose: purpose, CodeHash: h.codeHash(code), Email: email})
	if errors.Is(err, pgx.ErrNoRows) {
		return false, h.q.AccountCodeFail(ctx, queries.AccountCodeFailParams{Purpose: purpose, Email: email})
	}
	return err == nil, err
}

// codeHash is the stored form of a mailed code: an HMAC under SESSION_SECRET
// when set, so a leaked table cannot be brute-forced offline for the short
// numeric codes; plain SHA-256 otherwise.
func (h *Handler) codeHash(code string) []byte {
	if len(h.secret) == 0 {
		return keys.Hash("code:" + code)
	}
	m := hmac.New(sha256.New, h.secret)
	m.Write([]byte(code))
	return m.Sum(nil)
}

func numericCode(n int) string {
	b := make([]byte, n)
	for i := range b {
		d, err := rand.Int(rand.Reader, big.NewInt(10))
		if err != nil {
			panic(err)
		}
		b[i] = byte('0' + d.Int64())
	}
	return string(b)
}

// sendResetLink mails a single-use password reset link when a live user has
// the address. Whether one exists is not revealed to the caller: an unknown
// address, a known one over its mail limit and a known one whose mail fails
// all get the same answer as a mail sent, and the mail goes out after the
// reply (a slow SMTP round trip only for real accounts would tell them apart
// by timing). Failures are in the log.
func (h *Handler) sendResetLink(c echo.Context, s settings, email string) error {
	ctx := c.Request().Context()
	email, m := normalizeEmail(email)
	if m != "" || email == "" {
		return echo.NewHTTPError(http.StatusUnprocessableEntity, "Enter a valid email address.")
	}
	if s.str("SMTPServer") == "" {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "Mail is not configured on this instance; ask the administrator to reset your password.")
	}
	base := h.mailBaseURL(s)
	if base == "" {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "Password reset by mail needs the console's public address: ask the administrator to set FRONTEND_BASE_URL.")
	}
	if err := h.checkTurnstile(ctx, s, turnstileResponse(c), c.RealIP()); err != nil {
		return err
	}
	u, err := h.q.UserGetByEmail(ctx, email)
	found := err == nil
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	// The limit is looked up for unknown addresses too, to cost the same.
	if err := h.limitCodes(ctx, "reset", email); err != nil {
		var he *echo.HTTPError
		if !errors.As(err, &he) {
			return err
		}
		if found {
			h.log.Info("password reset mail not sent: limit reached", "user", u.ID)
		}
		return nil
	}
	if !found {
		return nil
	}
	token := keys.Random(40)
	if err := h.q.AccountCodeCreate(ctx, queries.AccountCodeCreateParams{
		Purpose: "reset", Email: u.Email, CodeHash: h.codeHash(token), ExpiresAt: time.Now().Add(resetTokenTTL),
	}); err != nil {
		return err
	}
	link := base + "/reset/confirm?" + url.Values{"email": {u.Email}, "token": {token}}.Encode()
	body := "Someone asked to reset the password of the account " + u.Username + ".\n\n" +
		"Open this link to choose a new password (it works once, for 30 minutes):\n\n" + link +
		"\n\nIf it was not you, ignore this message: your password stays as it is.\n"
	// Off the request path, as explained above; sendMail bounds itself in
	// time, and limitCodes bounds how many such sends an address can cause.
	mailCtx := context.WithoutCancel(ctx)
	go func() {
		if err := sendMail(mailCtx, s, u.Email, "Reset your password", body); err != nil {
			h.log.Warn("send reset mail", "user", u.ID, "err", err)
		}
	}()
	return nil
}

// mailBaseURL is the address put into mailed links: FRONTEND_BASE_URL, else
// the ServerAddress option. Never the request's Host header: anyone can send
// a request for a victim's address with a forged Host, and the victim would
// get a genuine reset link pointing at the attacker's site. "" when neither
// is set.
func (h *Handler) mailBaseURL(s settings) string {
	if h.baseURL != "" {
		return h.baseURL
	}
	return strings.TrimRight(s.str("ServerAddress"), "/")
}

// resetPassword consumes a reset token and sets the password. It returns the
// user, or nil when the token is wrong, used or expired.
func (h *Handler) resetPassword(ctx context.Context, email, token, password string) (*queries.User, error) {
	var u queries.User
	ok := false
	err := queries.InTx(ctx, h.pool, func(q *queries.Queries) error {
		if _, err := q.AccountCodeUse(ctx, queries.AccountCodeUseParams{Purpose: "reset", CodeHash: h.codeHash(token), Email: email}); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			return err
		}
		var err error
		if u, err = q.UserGetByEmail(ctx, email); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			return err
		}
		hash, err := hashPassword(password)
		if err != nil {
			return err
		}
		if err := q.UserSetPassword(ctx, queries.UserSetPasswordParams{ID: u.ID, PasswordHash: hash, MustChangePassword: false}); err != nil {
			return err
		}
		u.PasswordHash, ok = hash, true
		return nil
	})
	if err != nil || !ok {
		return nil, err
	}
	// The address proved control of the account: forget its failed sign-ins.
	if err := h.clearFailures(ctx, u.Username); err != nil {
		return nil, err
	}
	return &u, nil
}

func (h *Handler) resetRequestPage(c echo.Context) error {
	s, err := h.loadSettings(c.Request().Context())
	if err != nil {
		return err
	}
	v := views.ResetRequestView{Layout: h.layout(c, "Reset password"), Options: s.signInView()}
	if v.Options.TurnstileSiteKey != "" {
		allowTurnstileCSP(c)
	}
	return render(c, http.StatusOK, views.ResetRequestPage(v))
}

func (h *Handler) resetRequestSubmit(c echo.Context) error {
	s, err := h.loadSettings(c.Request().Context())
	if err != nil {
		return err
	}
	v := views.ResetRequestView{Email: c.FormValue("email"), Options: s.signInView()}
	status := http.StatusOK
	if err := h.sendResetLink(c, s, v.Email); err != nil {
		var he *echo.HTTPError
		if !errors.As(err, &he) {
			return err
		}
		status, v.Error = statusOf(he)
	} else {
		v.Sent = true
	}
	v.Layout = h.layout(c, "Reset password")
	if v.Options.TurnstileSiteKey != "" {
		allowTurnstileCSP(c)
	}
	return render(c, status, views.ResetRequestPage(v))
}

func (h *Handler) resetConfirmPage(c echo.Context) error {
	return render(c, http.StatusOK, views.ResetConfirmPage(views.ResetConfirmView{
		Layout: h.layout(c, "Choose a new password"), Email: c.QueryParam("email"), Token: c.QueryParam("token")}))
}

func (h *Handler) resetConfirmSubmit(c echo.Context) error {
	v := views.ResetConfirmView{Email: c.FormValue("email"), Token: c.FormValue("token"), Errors: map[string]string{}}
	pw := c.FormValue("new_password")
	if m := validatePassword(pw); m != "" {
		v.Errors["new_password"] = m
	}
	if c.FormValue("new_password2") != pw {
		v.Errors["new_password2"] = "The two passwords differ."
	}
	if len(v.Errors) == 0 {
		u, err := h.resetPassword(c.Request().Context(), v.Email, v.Token, pw)
		if err != nil {
			return err
		}
		if u != nil {
			h.setFlash(c, "Your password was reset. Sign in with the new one.")
			return redirect(c, "/login")
		}
		v.Errors[""] = "This link is wrong, already used or expired. Ask for a new one."
	}
	v.Layout = h.layout(c, "Choose a new password")
	return render(c, http.StatusUnprocessableEntity, views.ResetConfirmPage(v))
}
