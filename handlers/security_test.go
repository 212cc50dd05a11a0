package handlers

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"oneapi/queries"
)

// TestErrorBeforeSession: a request refused before its session is loaded
// (here by the per-IP rate limit) gets a proper error page or JSON reply;
// drawing the page used to ask scs for a session that was never loaded, and
// the panic dropped the connection instead of answering 429.
func TestErrorBeforeSession(t *testing.T) {
	a := newAccountApp(t, func(d *Deps) { d.WebRateLimit, d.APIRateLimit = 1, 1 })
	c := a.client(t)
	c.get("/login")
	rec := c.get("/login")
	if rec.Code != http.StatusTooManyRequests || testids(rec.Body.String(), "error-429") != 1 {
		t.Errorf("page over the limit = %d %s", rec.Code, rec.Body)
	}
	c.api(http.MethodGet, "/api/status", nil)
	rec, res := c.api(http.MethodGet, "/api/status", nil)
	if rec.Code != http.StatusTooManyRequests || res.Success {
		t.Errorf("api over the limit = %d %s", rec.Code, rec.Body)
	}
}

// TestBodyLimits: console and /api bodies are bounded whoever sends them,
// including anonymous callers of sign-in, whatever their content type, and
// whether or not they announce their length.
func TestBodyLimits(t *testing.T) {
	a := newAccountApp(t, nil)
	u := a.createUser(t, userOpts{})
	tok := a.giveAccessToken(t, u)
	big := `{"username":"` + strings.Repeat("x", 2<<20) + `","password":"y"}`

	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	fw, _ := mw.CreateFormFile("upload", "big.bin")
	_, _ = fw.Write(bytes.Repeat([]byte("z"), 2<<20))
	_ = mw.WriteField("username", "x")
	_ = mw.Close()

	tests := []struct {
		name, method, path string
		body               io.Reader
		header             []string
	}{
		{"api json", http.MethodPost, "/api/user/login", strings.NewReader(big), []string{"Content-Type", "application/json"}},
		{"api json, no length", http.MethodPost, "/api/user/login", io.MultiReader(strings.NewReader(big)), []string{"Content-Type", "application/json"}},
		{"api with token", http.MethodPost, "/api/token/", strings.NewReader(`{"name":"` + strings.Repeat("n", 2<<20) + `"}`),
			[]string{"Content-Type", "application/json", "Authorization", tok}},
		{"multipart sign-in form", http.MethodPost, "/login", bytes.NewReader(form.Bytes()), []string{"Content-Type", mw.FormDataContentType()}},
		{"multipart, no length", http.MethodPost, "/register", io.MultiReader(bytes.NewReader(form.Bytes())), []string{"Content-Type", mw.FormDataContentType()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := a.client(t).do(tt.method, tt.path, tt.body, tt.header...)
			if rec.Code != http.StatusRequestEntityTooLarge {
				t.Errorf("= %d, want 413: %.200s", rec.Code, rec.Body)
			}
		})
	}
	// A body of ordinary size still reaches the handler.
	if rec, _ := a.client(t).api(http.MethodPost, "/api/token/", map[string]string{"name": "fine"}, "Authorization", tok); rec.Code != http.StatusOK {
		t.Errorf("normal body = %d %s", rec.Code, rec.Body)
	}
}

// TestSlowBodyTimesOut: a client that sends its headers and then stalls on the
// body is answered 408 after BodyReadTimeout, instead of holding the
// connection for as long as it likes.
func TestSlowBodyTimesOut(t *testing.T) {
	a := newAccountApp(t, func(d *Deps) { d.BodyReadTimeout = 300 * time.Millisecond })
	srv := httptest.NewServer(a.e)
	t.Cleanup(srv.Close)
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, "POST /api/user/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"+
		"Content-Length: 1000\r\n\r\n{\"username\":"); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestTimeout {
		t.Errorf("status = %d, want 408", res.StatusCode)
	}
	// A request whose body arrives in time works on the same server.
	resp, err := http.Post(srv.URL+"/api/user/login", "application/json", strings.NewReader(`{"username":"x","password":"y"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("timely body = %d, want 401", resp.StatusCode)
	}
}

// TestCrossSiteStateChangingGETs: One API makes some state changes GETs. The
// session cookie is SameSite=Lax, which browsers send on a top-level
// navigation from another site, so those GETs refuse a session request the
// browser marks as cross-site; the console, typed URLs, scripts and access
// tokens are unaffected.
func TestCrossSiteStateChangingGETs(t *testing.T) {
	a := newAccountApp(t, func(d *Deps) { d.Jobs = &probeQueue{} })
	admin := a.createUser(t, userOpts{Role: roleAdmin})
	tok := a.giveAccessToken(t, admin)
	paths := []string{"/api/user/token", "/api/channel/test", "/api/channel/test/999999", "/api/channel/update_balance",
		"/api/channel/update_balance/999999", "/api/user/logout"}
	for _, p := range paths {
		t.Run(p, func(t *testing.T) {
			c := a.client(t)
			c.login(admin.Username, "correct-horse")
			for _, site := range []string{"cross-site", "same-site"} {
				if rec, res := c.api(http.MethodGet, p, nil, "Sec-Fetch-Site", site); rec.Code != http.StatusForbidden || res.Success {
					t.Errorf("%s = %d, want 403", site, rec.Code)
				}
			}
			if rec := c.get("/account"); rec.Code != http.StatusOK {
				t.Fatalf("the refused requests changed the session: /account = %d", rec.Code)
			}
			for _, site := range []string{"same-origin", "none", ""} {
				if rec, _ := c.api(http.MethodGet, p, nil, "Sec-Fetch-Site", site); rec.Code == http.StatusForbidden {
					t.Errorf("%q = 403: %s", site, rec.Body)
				}
				if p == "/api/user/logout" {
					c.login(admin.Username, "correct-horse")
				}
			}
			// An access token is no ambient credential: the header is moot.
			if p != "/api/user/token" && p != "/api/user/logout" {
				if rec, _ := a.client(t).api(http.MethodGet, p, nil, "Authorization", tok, "Sec-Fetch-Site", "cross-site"); rec.Code == http.StatusForbidden {
					t.Errorf("access token = 403: %s", rec.Body)
				}
			}
		})
	}
}

func TestSafeNext(t *testing.T) {
	tests := map[string]string{
		"":                       "/",
		"/tokens?p=2":            "/tokens?p=2",
		"/":                      "/",
		"https://evil.example/":  "/",
		"//evil.example":         "/",
		"/\\evil.example":        "/",
		"/\t/evil.example":       "/",
		"/\n/evil.example":       "/",
		"/\r\n/evil.example":     "/",
		"/x\\..\\..\\evil":       "/",
		"javascript:alert(1)":    "/",
		"/users/1/edit#fragment": "/users/1/edit#fragment",
	}
	for in, want := range tests {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
	// End to end: a crafted next= does not send the person off-site.
	a := newAccountApp(t, nil)
	u := a.createUser(t, userOpts{})
	c := a.client(t)
	c.get("/login")
	rec := c.post("/login", url.Values{"username": {u.Username}, "password": {"correct-horse"}, "next": {"/\t/evil.example"}})
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/" {
		t.Errorf("login with a crafted next = %d %q", rec.Code, rec.Header().Get("Location"))
	}
}

// TestLoginThrottleKeys: the per-address budget covers an IPv6 client's whole
// /64 (one host typically owns one), and the per-account budget is one per
// account whether it is addressed by username or email.
func TestLoginThrottleKeys(t *testing.T) {
	a := newAccountApp(t, nil)
	u := a.createUser(t, userOpts{Username: "dora", Email: "dora@example.com"})

	t.Run("IPv6 /64", func(t *testing.T) {
		for i := range maxFailuresIP {
			c := a.client(t)
			c.ip = fmt.Sprintf("2001:db8:0:7::%x", i+1) // a new address each time, same /64
			if rec := c.post("/login", url.Values{"username": {fmt.Sprintf("nobody%d", i)}, "password": {"x"}}); rec.Code != http.StatusUnauthorized {
				t.Fatalf("failure %d = %d", i, rec.Code)
			}
		}
		c := a.client(t)
		c.ip = "2001:db8:0:7:ffff:ffff:ffff:ffff"
		if rec := c.post("/login", url.Values{"username": {u.Username}, "password": {"correct-horse"}}); rec.Code != http.StatusTooManyRequests {
			t.Errorf("same /64, new address = %d, want 429", rec.Code)
		}
		other := a.client(t)
		other.ip = "2001:db8:0:8::1"
		other.login(u.Username, "correct-horse") // another /64 is another client
	})
	t.Run("IPv4-mapped", func(t *testing.T) {
		if addressKey("::ffff:198.51.100.4") != "198.51.100.4" || addressKey("198.51.100.4") != "198.51.100.4" {
			t.Errorf("mapped %q, plain %q", addressKey("::ffff:198.51.100.4"), addressKey("198.51.100.4"))
		}
	})

	t.Run("username and email share a budget", func(t *testing.T) {
		for i := range maxFailuresAccount {
			c := a.client(t)
			c.ip = fmt.Sprintf("198.51.100.%d", 10+i)
			name := u.Username
			if i%2 == 1 {
				name = "DORA@example.com"
			}
			if rec := c.post("/login", url.Values{"username": {name}, "password": {"wrong"}}); rec.Code != http.StatusUnauthorized {
				t.Fatalf("failure %d = %d", i, rec.Code)
			}
		}
		for _, name := range []string{u.Username, "dora@example.com"} {
			c := a.client(t)
			c.ip = "198.51.100.99"
			if rec := c.post("/login", url.Values{"username": {name}, "password": {"correct-horse"}}); rec.Code != http.StatusTooManyRequests {
				t.Errorf("%s after %d failures = %d, want 429", name, maxFailuresAccount, rec.Code)
			}
		}
	})
}

// TestPasswordLoginOffHidesRoot: with password sign-in turned off, root may
// still sign in, but a wrong guess at root's name answers exactly as any
// other name does, so the refusal does not point out the root account.
func TestPasswordLoginOffHidesRoot(t *testing.T) {
	a := newAccountApp(t, nil)
	root := a.createUser(t, userOpts{Username: "theroot", Role: roleRoot})
	a.createUser(t, userOpts{Username: "plain"})
	a.setOption(t, "PasswordLoginEnabled", "false")
	answer := func(name, pw string) (int, string) {
		rec, res := a.client(t).api(http.MethodPost, "/api/user/login", map[string]string{"username": name, "password": pw})
		return rec.Code, res.Message
	}
	wantCode, wantMsg := answer("nobody", "guess-guess")
	if wantCode != http.StatusForbidden {
		t.Fatalf("unknown name = %d %q", wantCode, wantMsg)
	}
	for _, name := range []string{root.Username, "plain"} {
		if code, msg := answer(name, "guess-guess"); code != wantCode || msg != wantMsg {
			t.Errorf("%s with a wrong password = %d %q, want %d %q like an unknown name", name, code, msg, wantCode, wantMsg)
		}
	}
	if code, _ := answer("plain", "correct-horse"); code != http.StatusForbidden {
		t.Errorf("plain user, right password = %d, want 403", code)
	}
	a.client(t).login(root.Username, "correct-horse")
}

// TestPasswordResetAnswersAlike: the reset form answers the same for an
// address nobody uses, for a real account over its mail limit and for a real
// account whose mail cannot be sent; and the link in the mail never comes from
// the request's Host header.
func TestPasswordResetAnswersAlike(t *testing.T) {
	reset := func(c *client, email string, header ...string) (int, string) {
		rec := c.post("/reset", url.Values{"email": {email}}, header...)
		return rec.Code, rec.Body.String()
	}

	t.Run("limit and unknown address", func(t *testing.T) {
		a := newAccountApp(t, func(d *Deps) { d.FrontendBaseURL = "https://console.example.com" })
		mail := startSMTP(t)
		mail.configure(t, a)
		a.createUser(t, userOpts{Username: "ivy", Email: "ivy@example.com"})
		c := a.client(t)
		for range 3 {
			if code, body := reset(c, "ivy@example.com"); code != http.StatusOK || testids(body, "reset-sent") != 1 {
				t.Fatalf("reset = %d", code)
			}
			mail.next(t)
		}
		for _, email := range []string{"ivy@example.com", "nobody@example.com"} {
			code, body := reset(c, email)
			if code != http.StatusOK || testids(body, "reset-sent") != 1 {
				t.Errorf("%s = %d, want the same 200 as any other", email, code)
			}
			if rec, res := c.api(http.MethodGet, "/api/reset_password?email="+url.QueryEscape(email), nil); rec.Code != http.StatusOK || !res.Success {
				t.Errorf("api %s = %d %s", email, rec.Code, rec.Body)
			}
		}
		select {
		case m := <-mail.msgs:
			t.Errorf("a fourth mail went out: %v", m.To)
		case <-time.After(300 * time.Millisecond):
		}
	})

	t.Run("mail failure", func(t *testing.T) {
		a := newAccountApp(t, func(d *Deps) { d.FrontendBaseURL = "https://console.example.com" })
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		ln.Close() // nothing listens there: every send fails
		a.setOption(t, "SMTPServer", "127.0.0.1")
		a.setOption(t, "SMTPPort", port)
		a.setOption(t, "SMTPFrom", "noreply@example.com")
		a.createUser(t, userOpts{Username: "jo", Email: "jo@example.com"})
		c := a.client(t)
		for _, email := range []string{"jo@example.com", "nobody@example.com"} {
			if code, body := reset(c, email); code != http.StatusOK || testids(body, "reset-sent") != 1 {
				t.Errorf("%s = %d, want the same 200", email, code)
			}
		}
	})

	t.Run("host header", func(t *testing.T) {
		a := newAccountApp(t, nil) // no FRONTEND_BASE_URL
		mail := startSMTP(t)
		mail.configure(t, a)
		a.createUser(t, userOpts{Username: "kai", Email: "kai@example.com"})
		c := a.client(t)
		for _, email := range []string{"kai@example.com", "nobody@example.com"} {
			if code, _ := reset(c, email, "Host", "evil.example"); code != http.StatusServiceUnavailable {
				t.Errorf("%s without a configured address = %d, want 503", email, code)
			}
		}
		select {
		case m := <-mail.msgs:
			t.Fatalf("a reset link was mailed with no configured address: %q", m.Data)
		case <-time.After(300 * time.Millisecond):
		}
		a.setOption(t, "ServerAddress", "https://gw.example.org/")
		if code, _ := reset(c, "kai@example.com", "Host", "evil.example"); code != http.StatusOK {
			t.Fatalf("reset = %d", code)
		}
		link := resetLink.FindString(strings.ReplaceAll(mail.next(t).Data, "=\r\n", ""))
		if !strings.HasPrefix(link, "https://gw.example.org/reset/confirm?") {
			t.Errorf("link %q", link)
		}
		// The OAuth callback and the advertised address follow it too, not Host.
		a.setOption(t, "GitHubOAuthEnabled", "true")
		a.setOption(t, "GitHubClientId", "Iv1.test")
		a.setOption(t, "GitHubClientSecret", "gh-secret")
		rec := c.get("/oauth/github", "Host", "evil.example")
		if loc := rec.Header().Get("Location"); !strings.Contains(loc, url.QueryEscape("https://gw.example.org/oauth/github/callback")) || strings.Contains(loc, "evil.example") {
			t.Errorf("OAuth redirect with a forged Host: %d %q", rec.Code, loc)
		}
		if err := a.state.ReloadAll(context.Background()); err != nil { // as the listener would
			t.Fatal(err)
		}
		if _, res := c.api(http.MethodGet, "/api/status", nil, "Host", "evil.example"); !strings.Contains(string(res.Data), `"server_address":"https://gw.example.org"`) {
			t.Errorf("status with a forged Host: %s", res.Data)
		}
	})
}

// TestSessionTokenHashedAtRest: the sessions table holds a hash of the
// cookie's token, so a copy of the table signs nobody in.
func TestSessionTokenHashedAtRest(t *testing.T) {
	a := newAccountApp(t, nil)
	u := a.createUser(t, userOpts{})
	c := a.client(t)
	c.login(u.Username, "correct-horse")
	tok := c.sessionCookie()
	var plain, hashed int
	if err := a.pool.QueryRow(context.Background(), "SELECT count(*) FILTER (WHERE token = $1), count(*) FILTER (WHERE token = $2) FROM sessions",
		tok, hashSessionToken(tok)).Scan(&plain, &hashed); err != nil {
		t.Fatal(err)
	}
	if plain != 0 || hashed != 1 {
		t.Errorf("rows by plain token %d, by hash %d", plain, hashed)
	}
	// A cookie carrying the stored value is no session.
	thief := a.client(t)
	thief.cookies[sessionCookie] = &http.Cookie{Name: sessionCookie, Value: hashSessionToken(tok)}
	if rec := thief.get("/account"); rec.Code != http.StatusSeeOther {
		t.Errorf("stored value as a cookie = %d", rec.Code)
	}
	if rec := c.get("/account"); rec.Code != http.StatusOK {
		t.Errorf("real cookie = %d", rec.Code)
	}
	c.post("/logout", nil)
	if err := a.pool.QueryRow(context.Background(), "SELECT count(*) FROM sessions WHERE token = $1", hashSessionToken(tok)).Scan(&hashed); err != nil || hashed != 0 {
		t.Errorf("session row after logout: %d (%v)", hashed, err)
	}
}

// syncBuffer is a log sink safe for the goroutines that log.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestSecretsNeverShown creates one of each secret — an upstream channel key,
// an API key, a redemption code, an access token, the SMTP password and an
// OAuth client secret — then reads every page and listing an admin or root
// can open, the logs, and the rows of the tables that hold them: the secret
// is in none of them (the options table excepted: see the report).
func TestSecretsNeverShown(t *testing.T) {
	var logs syncBuffer
	a := newAccountApp(t, func(d *Deps) {
		d.Log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	root := a.createUser(t, userOpts{Role: roleRoot})
	c := a.client(t)
	c.login(root.Username, "correct-horse")

	secrets := map[string]string{}
	channelKey := "sk-upstreamSECRET0123456789abcdefghij"
	secrets["channel key"] = channelKey
	rec, res := c.api(http.MethodPost, "/api/channel/", map[string]any{"type": 1, "name": "ch", "key": channelKey,
		"models": "gpt-4o", "base_url": "http://127.0.0.1:1"})
	if rec.Code != http.StatusOK {
		t.Fatalf("channel = %d %s", rec.Code, rec.Body)
	}
	var chans []apiChannel
	_ = json.Unmarshal(res.Data, &chans)
	rec, res = c.api(http.MethodPost, "/api/token/", map[string]any{"name": "tk", "unlimited_quota": true})
	var tok apiToken
	if rec.Code != http.StatusOK || json.Unmarshal(res.Data, &tok) != nil {
		t.Fatalf("token = %d %s", rec.Code, rec.Body)
	}
	secrets["api key"] = strings.TrimPrefix(tok.Key, "sk-")
	rec, res = c.api(http.MethodPost, "/api/redemption/", map[string]any{"name": "r", "quota": 10, "count": 1})
	var codes []string
	if rec.Code != http.StatusOK || json.Unmarshal(res.Data, &codes) != nil || len(codes) != 1 {
		t.Fatalf("redemption = %d %s", rec.Code, rec.Body)
	}
	secrets["redemption code"] = codes[0]
	rec, res = c.api(http.MethodGet, "/api/user/token", nil)
	var access string
	if rec.Code != http.StatusOK || json.Unmarshal(res.Data, &access) != nil {
		t.Fatalf("access token = %d %s", rec.Code, rec.Body)
	}
	secrets["access token"] = access
	for key, v := range map[string]string{"SMTPToken": "smtp-PASSWORD-987654321", "GitHubClientSecret": "gh-SECRET-0123456789"} {
		if rec, _ := c.api(http.MethodPut, "/api/option/", map[string]string{"key": key, "value": v}); rec.Code != http.StatusOK {
			t.Fatalf("option %s = %d %s", key, rec.Code, rec.Body)
		}
		secrets[key] = v
	}
	// Exercise a failing channel test, whose upstream error is shown.
	c.api(http.MethodGet, fmt.Sprintf("/api/channel/test/%d", chans[0].ID), nil)

	pages := []string{"/", "/channels", fmt.Sprintf("/channels/%d/edit", chans[0].ID), "/tokens",
		fmt.Sprintf("/tokens/%d/edit", tok.ID), "/redemptions", "/logs", "/account", "/users",
		fmt.Sprintf("/users/%d/edit", root.ID), "/settings",
		"/api/channel/", fmt.Sprintf("/api/channel/%d", chans[0].ID), "/api/channel/search?keyword=ch",
		"/api/token/", fmt.Sprintf("/api/token/%d", tok.ID), "/api/redemption/", "/api/option/",
		"/api/user/self", "/api/user/", fmt.Sprintf("/api/user/%d", root.ID), "/api/status", "/api/log/", "/api/jobs"}
	for _, p := range pages {
		rec := c.get(p)
		if rec.Code != http.StatusOK {
			t.Errorf("%s = %d", p, rec.Code)
		}
		for what, s := range secrets {
			if strings.Contains(rec.Body.String(), s) {
				t.Errorf("%s shows the %s", p, what)
			}
		}
	}
	for what, s := range secrets {
		if strings.Contains(logs.String(), s) {
			t.Errorf("the log has the %s", what)
		}
	}
	for _, table := range []string{"channels", "tokens", "users", "redemptions", "sessions", "logs"} {
		var dump string
		if err := a.pool.QueryRow(context.Background(),
			"SELECT coalesce(string_agg(t::text, E'\\n'), '') FROM "+table+" t").Scan(&dump); err != nil {
			t.Fatal(err)
		}
		for what, s := range secrets {
			if strings.Contains(dump, s) {
				t.Errorf("table %s holds the %s in the clear", table, what)
			}
		}
	}
}

// TestAdminCannotEscalate: an admin manages only plain users — never root,
// never another admin, never themselves — and cannot hand out admin or root;
// nobody, root included, makes a second root. Console forms and /api alike.
func TestAdminCannotEscalate(t *testing.T) {
	a := newAccountApp(t, nil)
	root := a.createUser(t, userOpts{Role: roleRoot})
	admin := a.createUser(t, userOpts{Role: roleAdmin})
	peer := a.createUser(t, userOpts{Role: roleAdmin})
	plain := a.createUser(t, userOpts{Role: roleUser})
	c := a.client(t)
	c.login(admin.Username, "correct-horse")
	adminTok := a.giveAccessToken(t, admin)

	for _, target := range []queries.User{root, peer, admin} {
		id := fmt.Sprint(target.ID)
		t.Run(fmt.Sprintf("console on role %d (self %v)", target.Role, target.ID == admin.ID), func(t *testing.T) {
			if rec := c.get("/users/" + id + "/edit"); rec.Code != http.StatusForbidden {
				t.Errorf("edit page = %d", rec.Code)
			}
			form := url.Values{"username": {target.Username}, "quota": {"1"}, "role": {"1"}, "status": {"2"}}
			if rec := c.post("/users/"+id, form); rec.Code != http.StatusForbidden {
				t.Errorf("update = %d", rec.Code)
			}
			for _, action := range []string{"disable", "enable", "delete", "promote", "demote"} {
				if rec := c.post("/users/"+id+"/"+action, nil); rec.Code != http.StatusForbidden {
					t.Errorf("%s = %d", action, rec.Code)
				}
			}
			if rec, _ := c.api(http.MethodPut, "/api/user/", map[string]any{"id": target.ID, "username": target.Username, "role": 1},
				"Authorization", adminTok); rec.Code != http.StatusForbidden {
				t.Errorf("api update = %d", rec.Code)
			}
			if rec, _ := c.api(http.MethodPost, "/api/user/manage", map[string]string{"username": target.Username, "action": "disable"},
				"Authorization", adminTok); rec.Code != http.StatusForbidden {
				t.Errorf("api manage = %d", rec.Code)
			}
			if rec, _ := c.api(http.MethodDelete, "/api/user/"+id, nil, "Authorization", adminTok); rec.Code != http.StatusForbidden {
				t.Errorf("api delete = %d", rec.Code)
			}
		})
	}

	t.Run("no admin or root by an admin", func(t *testing.T) {
		for _, role := range []string{"10", "100"} {
			rec := c.post("/users", url.Values{"username": {"made" + role}, "password": {"long-enough-pw"}, "role": {role}, "status": {"1"}, "quota": {"0"}})
			if rec.Code != http.StatusUnprocessableEntity {
				t.Errorf("create with role %s = %d", role, rec.Code)
			}
			rec = c.post(fmt.Sprintf("/users/%d", plain.ID), url.Values{"username": {plain.Username}, "role": {role}, "status": {"1"}, "quota": {"0"}})
			if rec.Code != http.StatusUnprocessableEntity {
				t.Errorf("raise a user to %s = %d", role, rec.Code)
			}
		}
		if rec := c.post(fmt.Sprintf("/users/%d/promote", plain.ID), nil); rec.Code != http.StatusForbidden {
			t.Errorf("promote = %d", rec.Code)
		}
	})

	t.Run("no second root", func(t *testing.T) {
		rootTok := a.giveAccessToken(t, root)
		if rec, _ := c.api(http.MethodPut, "/api/user/", map[string]any{"id": plain.ID, "username": plain.Username, "role": 100},
			"Authorization", rootTok); rec.Code != http.StatusUnprocessableEntity {
			t.Errorf("root making a root = %d", rec.Code)
		}
		if rec, _ := c.api(http.MethodPost, "/api/user/", map[string]any{"username": "root2", "password": "long-enough-pw", "role": 100},
			"Authorization", rootTok); rec.Code != http.StatusUnprocessableEntity {
			t.Errorf("root creating a root = %d", rec.Code)
		}
	})

	for _, u := range []queries.User{root, admin, peer, plain} {
		if got := a.user(t, u.ID); got.Role != u.Role || got.Status != statusEnabled {
			t.Errorf("user %s is now role %d status %d", u.Username, got.Role, got.Status)
		}
	}
}
