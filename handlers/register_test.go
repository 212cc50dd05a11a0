package handlers

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5/pgtype"

	"oneapi/queries"
)

func TestRegister(t *testing.T) {
	a := newAccountApp(t, nil)
	a.createUser(t, userOpts{Username: "taken", Email: "taken@example.com"})
	good := url.Values{"username": {"dave"}, "password": {"long-enough-pw"}, "password2": {"long-enough-pw"}, "email": {"dave@example.com"}}
	with := func(k, v string) url.Values {
		f := url.Values{}
		for key, vals := range good {
			f[key] = append([]string(nil), vals...)
		}
		f.Set(k, v)
		return f
	}
	cases := []struct {
		name  string
		form  url.Values
		field string
	}{
		{"bad username", with("username", "a b"), "username"},
		{"taken username", with("username", "taken"), "username"},
		{"short password", with("password", "short"), "password"},
		{"repeat differs", with("password2", "something-else"), "password2"},
		{"bad email", with("email", "not-an-email"), "email"},
		{"taken email", with("email", "TAKEN@example.com"), "email"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := a.client(t).post("/register", tc.form)
			if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), `data-testid="error-`+tc.field+`"`) {
				t.Errorf("= %d, want 422 on %s: %s", rec.Code, tc.field, rec.Body)
			}
		})
	}
	c := a.client(t)
	rec := c.post("/register", good)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("register = %d %s", rec.Code, rec.Body)
	}
	if rec := c.get("/account"); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "Welcome, dave") {
		t.Errorf("after register /account = %d", rec.Code)
	}

	t.Run("closed", func(t *testing.T) {
		a.setOption(t, "RegisterEnabled", "false")
		defer a.setOption(t, "RegisterEnabled", "true")
		if rec := a.client(t).get("/register"); rec.Code != http.StatusForbidden {
			t.Errorf("page = %d", rec.Code)
		}
		if rec := a.client(t).post("/register", with("username", "eve")); rec.Code != http.StatusForbidden {
			t.Errorf("post = %d", rec.Code)
		}
		rec, res := a.client(t).api(http.MethodPost, "/api/user/register", map[string]string{"username": "eve", "password": "long-enough-pw"})
		if rec.Code != http.StatusForbidden || res.Success {
			t.Errorf("api = %d", rec.Code)
		}
		if rec := a.client(t).get("/login"); strings.Contains(rec.Body.String(), `data-testid="register-link"`) {
			t.Error("login page still links to registration")
		}
	})
	t.Run("domain whitelist", func(t *testing.T) {
		a.setOption(t, "EmailDomainRestrictionEnabled", "true")
		a.setOption(t, "EmailDomainWhitelist", "example.org, corp.example")
		defer a.setOption(t, "EmailDomainRestrictionEnabled", "false")
		rec := a.client(t).post("/register", with("username", "frank"))
		if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), "cannot register here") {
			t.Errorf("outside whitelist = %d", rec.Code)
		}
		f := with("username", "frank")
		f.Set("email", "frank@corp.example")
		if rec := a.client(t).post("/register", f); rec.Code != http.StatusSeeOther {
			t.Errorf("inside whitelist = %d %s", rec.Code, rec.Body)
		}
	})
}

func TestRegisterWithEmailVerification(t *testing.T) {
	a := newAccountApp(t, nil)
	mail := startSMTP(t)
	mail.configure(t, a)
	a.setOption(t, "SMTPAccount", "mailer@example.com")
	a.setOption(t, "SMTPToken", "s3cret")
	a.setOption(t, "EmailVerificationEnabled", "true")
	c := a.client(t)
	c.get("/register")

	rec := c.post("/register/code", url.Values{"email": {"gina@example.com"}}, "HX-Request", "true")
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "A code is on its way") {
		t.Fatalf("send code = %d %s", rec.Code, rec.Body)
	}
	msg := mail.next(t)
	if auth := <-mail.auth; auth == "" {
		t.Error("no SMTP AUTH")
	} else if b, _ := base64.StdEncoding.DecodeString(auth); string(b) != "\x00mailer@example.com\x00s3cret" {
		t.Errorf("AUTH PLAIN = %q", b)
	}
	if msg.From != "noreply@example.com" || len(msg.To) != 1 || msg.To[0] != "gina@example.com" {
		t.Errorf("envelope = %+v", msg)
	}
	code := sixDigits.FindString(msg.Data)
	if code == "" {
		t.Fatalf("no code in %q", msg.Data)
	}
	form := url.Values{"username": {"gina"}, "password": {"long-enough-pw"}, "password2": {"long-enough-pw"}, "email": {"gina@example.com"}}
	form.Set("verification_code", "000000")
	if code == "000000" {
		form.Set("verification_code", "111111")
	}
	if rec := c.post("/register", form); rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), "error-verification_code") {
		t.Fatalf("wrong code = %d", rec.Code)
	}
	form.Set("verification_code", code)
	if rec := c.post("/register", form); rec.Code != http.StatusSeeOther {
		t.Fatalf("right code = %d %s", rec.Code, rec.Body)
	}
	// Single use.
	form.Set("username", "gina2")
	form.Set("email", "gina@example.com")
	if rec := a.client(t).post("/register", form); rec.Code != http.StatusUnprocessableEntity {
		t.Errorf("reused code = %d", rec.Code)
	}

	t.Run("api", func(t *testing.T) {
		c := a.client(t)
		rec, res := c.api(http.MethodGet, "/api/verification?email=hank@example.com", nil)
		if rec.Code != http.StatusOK || !res.Success {
			t.Fatalf("verification = %d %+v", rec.Code, res)
		}
		code := sixDigits.FindString(mail.next(t).Data)
		<-mail.auth
		rec, res = c.api(http.MethodPost, "/api/user/register", map[string]string{"username": "hank", "password": "long-enough-pw", "email": "hank@example.com", "verification_code": code})
		if rec.Code != http.StatusOK || !res.Success {
			t.Fatalf("register = %d %+v", rec.Code, res)
		}
	})
}

func TestPasswordResetByMail(t *testing.T) {
	a := newAccountApp(t, func(d *Deps) { d.FrontendBaseURL = "https://console.example.com" })
	mail := startSMTP(t)
	mail.configure(t, a)
	u := a.createUser(t, userOpts{Username: "ivy", Email: "ivy@example.com"})
	old := a.client(t)
	old.login("ivy", "correct-horse")

	c := a.client(t)
	c.get("/reset")
	// Unknown addresses get the same answer, and no mail.
	rec := c.post("/reset", url.Values{"email": {"nobody@example.com"}})
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `data-testid="reset-sent"`) {
		t.Fatalf("unknown = %d", rec.Code)
	}
	rec = c.post("/reset", url.Values{"email": {"ivy@example.com"}}, "Host", "evil.example")
	if rec.Code != http.StatusOK {
		t.Fatalf("reset = %d", rec.Code)
	}
	msg := mail.next(t)
	link := resetLink.FindString(strings.ReplaceAll(msg.Data, "=\r\n", ""))
	if !strings.HasPrefix(link, "https://console.example.com/reset/confirm?") {
		t.Fatalf("link %q (from %q)", link, msg.Data)
	}
	lu := mustParse(t, link)
	page := c.get(lu.RequestURI())
	if page.Code != http.StatusOK || !strings.Contains(page.Body.String(), "ivy@example.com") {
		t.Fatalf("confirm page = %d", page.Code)
	}
	q := lu.Query()
	form := url.Values{"email": {q.Get("email")}, "token": {q.Get("token")}, "new_password": {"brand-new-pass"}, "new_password2": {"brand-new-pass"}}
	if rec := c.post("/reset/confirm", form); rec.Code != http.StatusSeeOther {
		t.Fatalf("confirm = %d %s", rec.Code, rec.Body)
	}
	if rec := c.post("/reset/confirm", form); rec.Code != http.StatusUnprocessableEntity {
		t.Errorf("second use = %d, want 422", rec.Code)
	}
	if rec := old.get("/account"); rec.Code != http.StatusSeeOther {
		t.Errorf("old session survived the reset: %d", rec.Code)
	}
	c.login("ivy", "brand-new-pass")

	t.Run("api", func(t *testing.T) {
		if rec, res := c.api(http.MethodGet, "/api/reset_password?email=ivy@example.com", nil); rec.Code != http.StatusOK || !res.Success {
			t.Fatalf("reset_password = %d %+v", rec.Code, res)
		}
		q := mustParse(t, resetLink.FindString(mail.next(t).Data)).Query()
		rec, res := c.api(http.MethodPost, "/api/user/reset", map[string]string{"email": q.Get("email"), "token": "wrong"})
		if rec.Code != http.StatusUnprocessableEntity {
			t.Errorf("wrong token = %d", rec.Code)
		}
		rec, res = c.api(http.MethodPost, "/api/user/reset", map[string]string{"email": q.Get("email"), "token": q.Get("token")})
		var pw string
		if rec.Code != http.StatusOK || json.Unmarshal(res.Data, &pw) != nil || len(pw) < 12 {
			t.Fatalf("reset = %d %s", rec.Code, rec.Body)
		}
		a.client(t).login(u.Username, pw)
	})
}

func TestTurnstile(t *testing.T) {
	var calls atomic.Int32
	verify := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		_ = r.ParseForm()
		ok := r.PostForm.Get("secret") == "ts-secret" && r.PostForm.Get("response") == "human"
		_ = json.NewEncoder(w).Encode(map[string]any{"success": ok})
	}))
	defer verify.Close()
	a := newAccountApp(t, func(d *Deps) { d.TurnstileVerifyURL = verify.URL })
	a.createUser(t, userOpts{Username: "jo"})
	a.setOption(t, "TurnstileCheckEnabled", "true")
	a.setOption(t, "TurnstileSiteKey", "ts-site")
	a.setOption(t, "TurnstileSecretKey", "ts-secret")

	c := a.client(t)
	page := c.get("/login")
	if !strings.Contains(page.Body.String(), `data-sitekey="ts-site"`) || !strings.Contains(page.Header().Get("Content-Security-Policy"), "https://challenges.cloudflare.com") {
		t.Fatalf("login page lacks the widget or its CSP")
	}
	if strings.Contains(page.Body.String(), "ts-secret") {
		t.Fatal("secret key on the page")
	}
	if rec := c.post("/login", url.Values{"username": {"jo"}, "password": {"correct-horse"}}); rec.Code != http.StatusForbidden {
		t.Errorf("no response = %d", rec.Code)
	}
	if rec := c.post("/login", url.Values{"username": {"jo"}, "password": {"correct-horse"}, "cf-turnstile-response": {"robot"}}); rec.Code != http.StatusForbidden {
		t.Errorf("bad response = %d", rec.Code)
	}
	if rec := c.post("/login", url.Values{"username": {"jo"}, "password": {"correct-horse"}, "cf-turnstile-response": {"human"}}); rec.Code != http.StatusSeeOther {
		t.Errorf("good response = %d", rec.Code)
	}
	reg := url.Values{"username": {"kim"}, "password": {"long-enough-pw"}, "password2": {"long-enough-pw"}}
	if rec := a.client(t).post("/register", reg); rec.Code != http.StatusForbidden {
		t.Errorf("register without = %d", rec.Code)
	}
	reg.Set("cf-turnstile-response", "human")
	if rec := a.client(t).post("/register", reg); rec.Code != http.StatusSeeOther {
		t.Errorf("register with = %d", rec.Code)
	}
	if calls.Load() < 3 {
		t.Errorf("verify endpoint called %d times", calls.Load())
	}
}

func TestInviteRewards(t *testing.T) {
	a := newAccountApp(t, nil)
	a.setOption(t, "QuotaForNewUser", "100")
	a.setOption(t, "QuotaForInviter", "30")
	a.setOption(t, "QuotaForInvitee", "20")
	inviter := a.createUser(t, userOpts{Quota: 5})
	tok := a.giveAccessToken(t, inviter)
	c := a.client(t)
	_, res := c.api(http.MethodGet, "/api/user/aff", nil, "Authorization", tok)
	var code string
	if err := json.Unmarshal(res.Data, &code); err != nil || code == "" {
		t.Fatalf("aff = %s", res.Data)
	}
	page := a.client(t).get("/register?aff=" + code)
	if !strings.Contains(page.Body.String(), `value="`+code+`"`) {
		t.Fatal("register page drops the invite code")
	}
	rec := c.post("/register", url.Values{"username": {"newbie"}, "password": {"long-enough-pw"}, "password2": {"long-enough-pw"}, "aff": {code}})
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("register = %d", rec.Code)
	}
	if got := a.user(t, inviter.ID).Quota; got != 35 {
		t.Errorf("inviter quota = %d, want 35", got)
	}
	nb, err := queries.New(a.pool).UserGetByUsername(context.Background(), "newbie")
	if err != nil {
		t.Fatal(err)
	}
	if nb.Quota != 120 || nb.InviterID != (pgtype.Int8{Int64: inviter.ID, Valid: true}) {
		t.Errorf("invitee quota %d inviter %v", nb.Quota, nb.InviterID)
	}
}

func TestEmailChangeNeedsCode(t *testing.T) {
	a := newAccountApp(t, nil)
	mail := startSMTP(t)
	mail.configure(t, a)
	a.setOption(t, "EmailVerificationEnabled", "true")
	u := a.createUser(t, userOpts{Email: "old@example.com"})
	c := a.client(t)
	c.login(u.Username, "correct-horse")
	rec := c.post("/account", url.Values{"display_name": {"Me"}, "email": {"new@example.com"}}, "HX-Request", "true")
	if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), "error-verification_code") {
		t.Fatalf("change without code = %d", rec.Code)
	}
	if rec := c.post("/account/email/code", url.Values{"email": {"new@example.com"}}, "HX-Request", "true"); !strings.Contains(rec.Body.String(), "on its way") {
		t.Fatalf("send code = %d %s", rec.Code, rec.Body)
	}
	code := sixDigits.FindString(mail.next(t).Data)
	rec = c.post("/account", url.Values{"display_name": {"Me"}, "email": {"new@example.com"}, "verification_code": {code}}, "HX-Request", "true")
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `data-testid="profile-notice"`) {
		t.Fatalf("change with code = %d %s", rec.Code, rec.Body)
	}
	if got := a.user(t, u.ID); got.Email != "new@example.com" || got.DisplayName != "Me" {
		t.Errorf("saved = %q %q", got.Email, got.DisplayName)
	}
	// Display name alone needs no code.
	if rec := c.post("/account", url.Values{"display_name": {"Me Again"}, "email": {"new@example.com"}}); rec.Code != http.StatusSeeOther {
		t.Errorf("rename = %d", rec.Code)
	}
}
