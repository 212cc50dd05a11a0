package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/textproto"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"oneapi/keys"
	"oneapi/queries"
	"oneapi/queries/dbtest"
	"oneapi/state"
)

func init() { bcryptCost = bcrypt.MinCost }

// newAccountApp is newTestApp with a hook to adjust the dependencies
// (stand-in endpoints for Turnstile and OAuth).
func newAccountApp(t *testing.T, mod func(*Deps)) *testApp {
	t.Helper()
	pool := dbtest.Pool(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cipher, err := keys.NewCipher(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	st, err := state.New(context.Background(), pool, cipher, log)
	if err != nil {
		t.Fatal(err)
	}
	d := Deps{Pool: pool, Log: log, Version: "test", State: st, Cipher: cipher}
	if mod != nil {
		mod(&d)
	}
	e, err := New(d)
	if err != nil {
		t.Fatal(err)
	}
	return &testApp{e: e, pool: pool, state: st}
}

// userOpts describes a fixture user; zero values get sensible defaults.
type userOpts struct {
	Username           string
	Password           string
	Email              string
	DisplayName        string
	Role               int16
	Status             int16
	Quota              int64
	MustChangePassword bool
}

var userSeq struct {
	sync.Mutex
	n int
}

// createUser inserts a user straight into the database.
func (a *testApp) createUser(t *testing.T, o userOpts) queries.User {
	t.Helper()
	if o.Username == "" {
		userSeq.Lock()
		userSeq.n++
		o.Username = "user" + strconv.Itoa(userSeq.n)
		userSeq.Unlock()
	}
	if o.Password == "" {
		o.Password = "correct-horse"
	}
	if o.Role == 0 {
		o.Role = roleUser
	}
	if o.Status == 0 {
		o.Status = statusEnabled
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(o.Password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	u, err := queries.New(a.pool).UserCreate(context.Background(), queries.UserCreateParams{
		Username: o.Username, PasswordHash: string(hash), MustChangePassword: o.MustChangePassword,
		DisplayName: o.DisplayName, Email: o.Email, Role: o.Role, Status: o.Status, GroupName: "default", Quota: o.Quota,
	})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// giveAccessToken sets a personal access token for u and returns it.
func (a *testApp) giveAccessToken(t *testing.T, u queries.User) string {
	t.Helper()
	tok := keys.Random(32)
	if err := queries.New(a.pool).UserSetAccessToken(context.Background(), queries.UserSetAccessTokenParams{
		ID: u.ID, AccessTokenHash: keys.Hash(tok), AccessTokenPrefix: keys.Prefix(tok)}); err != nil {
		t.Fatal(err)
	}
	return tok
}

func (a *testApp) setOption(t *testing.T, key, value string) {
	t.Helper()
	if err := queries.New(a.pool).OptionUpsert(context.Background(), queries.OptionUpsertParams{Key: key, Value: sealSetting(a.cipher, key, value)}); err != nil {
		t.Fatal(err)
	}
}

func (a *testApp) user(t *testing.T, id int64) queries.User {
	t.Helper()
	u, err := queries.New(a.pool).UserGetByID(context.Background(), id)
	if err != nil {
		t.Fatalf("user %d: %v", id, err)
	}
	return u
}

func (a *testApp) createRedemption(t *testing.T, owner queries.User, quota int64) string {
	t.Helper()
	code := keys.Random(32)
	if _, err := queries.New(a.pool).RedemptionCreate(context.Background(), queries.RedemptionCreateParams{
		UserID: owner.ID, Name: "test", CodeHash: keys.Hash(code), CodePrefix: keys.Prefix(code), Quota: quota}); err != nil {
		t.Fatal(err)
	}
	return code
}

// client is a cookie-keeping browser stand-in driving the Echo app directly.
type client struct {
	t       *testing.T
	a       *testApp
	cookies map[string]*http.Cookie
	csrf    string
	ip      string
}

func (a *testApp) client(t *testing.T) *client {
	return &client{t: t, a: a, cookies: map[string]*http.Cookie{}, ip: "192.0.2.1"}
}

var (
	csrfInput  = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)
	csrfHeader = regexp.MustCompile(`X-CSRF-Token&#34;:&#34;([^&]+)&#34;`)
)

// do sends one request with the client's cookies and keeps the cookies and
// CSRF token of the reply.
func (c *client) do(method, path string, body io.Reader, header ...string) *httptest.ResponseRecorder {
	c.t.Helper()
	req := httptest.NewRequest(method, path, body)
	req.RemoteAddr = net.JoinHostPort(c.ip, "40000")
	for i := 0; i+1 < len(header); i += 2 {
		if strings.EqualFold(header[i], "Host") {
			req.Host = header[i+1] // what the server sees as the Host header
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	for _, ck := range c.cookies {
		req.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value})
	}
	rec := httptest.NewRecorder()
	c.a.e.ServeHTTP(rec, req)
	for _, ck := range rec.Result().Cookies() {
		if ck.MaxAge < 0 || ck.Value == "" {
			delete(c.cookies, ck.Name)
		} else {
			c.cookies[ck.Name] = ck
		}
	}
	if m := csrfInput.FindStringSubmatch(rec.Body.String()); m != nil {
		c.csrf = m[1]
	} else if m := csrfHeader.FindStringSubmatch(rec.Body.String()); m != nil {
		c.csrf = m[1]
	}
	return rec
}

func (c *client) get(path string, header ...string) *httptest.ResponseRecorder {
	c.t.Helper()
	return c.do(http.MethodGet, path, nil, header...)
}

// post submits a form with the client's CSRF token (unless form has _csrf).
func (c *client) post(path string, form url.Values, header ...string) *httptest.ResponseRecorder {
	c.t.Helper()
	f := url.Values{}
	for k, v := range form {
		f[k] = append([]string(nil), v...)
	}
	form = f
	if _, set := form["_csrf"]; !set {
		if c.csrf == "" {
			c.get("/login")
		}
		form.Set("_csrf", c.csrf)
	}
	return c.do(http.MethodPost, path, strings.NewReader(form.Encode()), append([]string{"Content-Type", "application/x-www-form-urlencoded"}, header...)...)
}

// api sends JSON to /api and decodes One API's reply.
func (c *client) api(method, path string, body any, header ...string) (*httptest.ResponseRecorder, apiResult) {
	c.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		r = strings.NewReader(string(b))
		header = append([]string{"Content-Type", "application/json"}, header...)
	}
	rec := c.do(method, path, r, header...)
	var res apiResult
	if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
		c.t.Fatalf("%s %s: reply is not JSON (%d): %s", method, path, rec.Code, rec.Body.String())
	}
	return rec, res
}

type apiResult struct {
	Success bool            `json:"success"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

// login signs in through the form and fails the test unless it worked.
func (c *client) login(username, password string) *httptest.ResponseRecorder {
	c.t.Helper()
	c.get("/login")
	rec := c.post("/login", url.Values{"username": {username}, "password": {password}})
	if rec.Code != http.StatusSeeOther {
		c.t.Fatalf("login %s = %d: %s", username, rec.Code, rec.Body.String())
	}
	c.get("/") // the CSRF token changes at sign-in
	return rec
}

func (c *client) sessionCookie() string {
	if ck := c.cookies[sessionCookie]; ck != nil {
		return ck.Value
	}
	return ""
}

// smtpServer is a tiny in-process SMTP server that keeps what it receives.
type smtpServer struct {
	ln   net.Listener
	msgs chan smtpMessage
	auth chan string
}

type smtpMessage struct {
	From string
	To   []string
	Data string
}

func startSMTP(t *testing.T) *smtpServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{ln: ln, msgs: make(chan smtpMessage, 16), auth: make(chan string, 16)}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(conn)
		}
	}()
	return s
}

func (s *smtpServer) serve(conn net.Conn) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	tp := textproto.NewConn(conn)
	reply := func(line string) { _ = tp.PrintfLine("%s", line) }
	reply("220 localhost ESMTP test")
	var msg smtpMessage
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		cmd := strings.ToUpper(line)
		switch {
		case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
			reply("250-localhost")
			reply("250-AUTH PLAIN")
			reply("250 8BITMIME")
		case strings.HasPrefix(cmd, "AUTH PLAIN"):
			s.auth <- strings.TrimSpace(line[len("AUTH PLAIN"):])
			reply("235 2.7.0 accepted")
		case strings.HasPrefix(cmd, "MAIL FROM:"):
			msg = smtpMessage{From: angleAddr(line[len("MAIL FROM:"):])}
			reply("250 ok")
		case strings.HasPrefix(cmd, "RCPT TO:"):
			msg.To = append(msg.To, angleAddr(line[len("RCPT TO:"):]))
			reply("250 ok")
		case cmd == "DATA":
			reply("354 go ahead")
			data, err := tp.ReadDotBytes()
			if err != nil {
				return
			}
			msg.Data = string(data)
			s.msgs <- msg
			reply("250 queued")
		case cmd == "QUIT":
			reply("221 bye")
			return
		default:
			reply("250 ok")
		}
	}
}

// configure points the app's SMTP settings at this server.
func (s *smtpServer) configure(t *testing.T, a *testApp) {
	t.Helper()
	_, port, _ := net.SplitHostPort(s.ln.Addr().String())
	a.setOption(t, "SMTPServer", "127.0.0.1")
	a.setOption(t, "SMTPPort", port)
	a.setOption(t, "SMTPFrom", "One API <noreply@example.com>")
}

// next waits for the next message.
func (s *smtpServer) next(t *testing.T) smtpMessage {
	t.Helper()
	select {
	case m := <-s.msgs:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no mail arrived")
	}
	return smtpMessage{}
}

var (
	sixDigits = regexp.MustCompile(`\b(\d{6})\b`)
	resetLink = regexp.MustCompile(`https?://\S+/reset/confirm\?\S+`)
)

func mustParse(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func parseTestPrefix(s string) ([]netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	return []netip.Prefix{p}, err
}

// angleAddr takes the address out of "<a@b> PARAM=..." .
func angleAddr(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '>'); i >= 0 {
		s = s[:i]
	}
	return strings.TrimPrefix(s, "<")
}

func regexpAll(pattern, s string) [][]string {
	return regexp.MustCompile(pattern).FindAllStringSubmatch(s, -1)
}
