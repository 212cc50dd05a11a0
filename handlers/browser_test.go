package handlers

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Browser tests drive Debian's chromium headless through the real server.
// They skip when no chromium is installed, unless CI is set.

func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium not found (apt-get install -y chromium)")
	}
	t.Skip("chromium not found; install it to run the browser tests")
	return ""
}

// browserSession is one headless chromium on a fresh profile, with the
// console's CSP reports and JavaScript errors collected.
type browserSession struct {
	t    *testing.T
	ctx  context.Context
	base string

	mu       sync.Mutex
	problems []string
}

func newBrowser(t *testing.T, base string) *browserSession {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(findChromium(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	// No timeout on the first context: it bounds the browser's whole life.
	// Each step gets its own (run).
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	b := &browserSession{t: t, ctx: ctx, base: base}
	err := chromedp.Listen(ctx, func(ev any) {
		var msg string
		switch e := ev.(type) {
		case *cdplog.EventEntryAdded:
			if e.Entry.Level == cdplog.EntryLevelError && !strings.Contains(e.Entry.Text, "favicon") &&
				!strings.Contains(e.Entry.Text, "status of 4") { // refused pages are part of the tests
				msg = "console: " + e.Entry.Text
			}
		case *runtime.EventExceptionThrown:
			msg = "exception: " + e.ExceptionDetails.Text
			if e.ExceptionDetails.Exception != nil {
				msg += " " + e.ExceptionDetails.Exception.Description
			}
		}
		if msg != "" {
			b.mu.Lock()
			b.problems = append(b.problems, msg)
			b.mu.Unlock()
		}
	})
	if err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	enable := chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, cdplog.Enable, cdp.Empty{}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, tg, runtime.Enable, cdp.Empty{})
		return err
	})
	if err := chromedp.Do(ctx, enable); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return b
}

// run does the steps, each within 20 seconds.
func (b *browserSession) run(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		loc, _ := chromedp.Run(b.ctx, chromedp.Location())
		b.t.Fatalf("browser at %s: %v", loc, err)
	}
}

// get runs one action that returns a value.
func get[T any](b *browserSession, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		loc, _ := chromedp.Run(b.ctx, chromedp.Location())
		b.t.Fatalf("browser at %s: %v", loc, err)
	}
	return v
}

func (b *browserSession) open(path string) {
	b.t.Helper()
	b.run(chromedp.Navigate(b.base + path))
}

// fill sets form fields by id and submits with the button matching submit.
func (b *browserSession) fill(fields map[string]string, submit string) {
	b.t.Helper()
	var acts []chromedp.Action[chromedp.Void]
	for id, v := range fields {
		acts = append(acts, chromedp.SetValue(chromedp.CSS("#"+id), v))
	}
	acts = append(acts, chromedp.Click(chromedp.CSS(submit)))
	b.run(acts...)
}

func (b *browserSession) waitFor(sel string) {
	b.t.Helper()
	b.run(chromedp.WaitVisible(chromedp.CSS(sel)))
}

func (b *browserSession) text(sel string) string {
	b.t.Helper()
	return get(b, chromedp.Text(chromedp.CSS(sel)))
}

// shot saves a full-page PNG under testdata-artifacts/ (git-ignored).
func (b *browserSession) shot(name string) {
	b.t.Helper()
	dir := filepath.Join("..", "testdata-artifacts")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	png := get(b, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

func (b *browserSession) phone(on bool) {
	b.t.Helper()
	if on {
		b.run(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	} else {
		b.run(chromedp.EmulateViewport(1280, 900))
	}
}

func (b *browserSession) checkClean() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		b.t.Errorf("browser reported: %s", p)
	}
}

func TestBrowserConsole(t *testing.T) {
	findChromium(t)
	a := newAccountApp(t, nil)
	a.createUser(t, userOpts{Username: "root", Password: "123456", Role: roleRoot, MustChangePassword: true, DisplayName: "Root User"})
	for _, n := range []string{"alice", "bruno", "chen", "dana"} {
		a.createUser(t, userOpts{Username: n, Email: n + "@example.com", Quota: 250000})
	}
	mail := startSMTP(t)
	mail.configure(t, a)
	srv := httptest.NewServer(a.e)
	defer srv.Close()
	// Mailed links use the configured address, never the request's Host.
	a.setOption(t, "ServerAddress", srv.URL)
	b := newBrowser(t, srv.URL)

	t.Log("a wrong password shows an error")
	b.open("/login")
	b.waitFor(`[data-testid="login-form"]`)
	b.shot("01-login")
	b.fill(map[string]string{"username": "root", "password": "not-it"}, `[data-testid="login-submit"]`)
	b.waitFor(`[data-testid="login-error"]`)
	if got := b.text(`[data-testid="login-error"]`); !strings.Contains(got, "Wrong username or password") {
		t.Errorf("login error = %q", got)
	}
	b.shot("02-login-error")

	t.Log("root signs in and must change the default password")
	b.fill(map[string]string{"username": "root", "password": "123456"}, `[data-testid="login-submit"]`)
	b.waitFor(`[data-testid="password-forced"]`)
	b.shot("03-password-forced")
	b.fill(map[string]string{"current_password": "123456", "new_password": "root-pass-2024", "new_password2": "root-pass-2024"}, `[data-testid="password-submit"]`)
	b.waitFor(`[data-testid="account-summary"]`)
	b.shot("04-account")

	t.Log("htmx: regenerate the access token in place")
	b.run(chromedp.Click(chromedp.CSS(`[data-testid="access-token-regenerate"]`)))
	b.waitFor(`[data-testid="access-token-value"]`)
	tok := get(b, chromedp.Value(chromedp.CSS(`[data-testid="access-token-value"]`)))
	if len(tok) != 32 {
		t.Errorf("token = %q", tok)
	}

	t.Log("admin pages")
	b.open("/users")
	b.waitFor(`[data-testid="user-table"]`)
	b.shot("05-users")
	b.run(chromedp.SendKeys(chromedp.CSS(`[data-testid="user-search"]`), "chen"))
	b.run(chromedp.Poll[chromedp.Void](`document.querySelectorAll('[data-testid="user-row"]').length === 1`, chromedp.WithPollingTimeout(10*time.Second)))
	b.phone(true)
	b.open("/users")
	b.waitFor(`[data-testid="user-table"]`)
	b.shot("06-users-phone")
	b.phone(false)
	b.open("/settings")
	b.waitFor(`[data-testid="settings-form"]`)
	b.shot("07-settings")

	t.Log("htmx: disable a user from the table")
	b.open("/users?q=dana")
	b.waitFor(`[data-testid="user-disable"]`)
	b.run(chromedp.Click(chromedp.CSS(`[data-testid="user-disable"]`)))
	b.waitFor(`[data-testid="user-enable"]`)

	t.Log("sign out")
	b.open("/account")
	b.run(chromedp.Click(chromedp.CSS(`[data-testid="logout"]`)))
	b.waitFor(`[data-testid="login-form"]`)

	t.Log("register a user")
	b.open("/register")
	b.waitFor(`[data-testid="register-form"]`)
	b.shot("08-register")
	b.fill(map[string]string{"username": "erin", "password": "erin-pass-123", "password2": "erin-pass-123", "email": "erin@example.com"}, `[data-testid="register-submit"]`)
	b.waitFor(`[data-testid="account-summary"]`)
	if got := b.text(`[data-testid="flash"]`); !strings.Contains(got, "Welcome, erin") {
		t.Errorf("flash = %q", got)
	}

	t.Log("a user cannot open an admin page")
	b.open("/users")
	b.waitFor(`[data-testid="error-403"]`)
	b.shot("09-forbidden")

	t.Log("reset a password through the mail")
	b.open("/account")
	b.run(chromedp.Click(chromedp.CSS(`[data-testid="logout"]`)))
	b.waitFor(`[data-testid="login-form"]`)
	b.run(chromedp.Click(chromedp.CSS(`[data-testid="reset-link"]`)))
	b.waitFor(`[data-testid="reset-form"]`)
	b.fill(map[string]string{"email": "erin@example.com"}, `[data-testid="reset-submit"]`)
	b.waitFor(`[data-testid="reset-sent"]`)
	link := resetLink.FindString(mail.next(t).Data)
	if !strings.HasPrefix(link, srv.URL) {
		t.Fatalf("reset link %q", link)
	}
	b.run(chromedp.Navigate(link))
	b.waitFor(`[data-testid="reset-confirm-form"]`)
	b.shot("10-reset-confirm")
	b.fill(map[string]string{"new_password": "erin-new-pass", "new_password2": "erin-new-pass"}, `[data-testid="reset-confirm-submit"]`)
	b.waitFor(`[data-testid="login-form"]`)
	b.fill(map[string]string{"username": "erin", "password": "erin-new-pass"}, `[data-testid="login-submit"]`)
	b.waitFor(`[data-testid="home"]`)

	b.phone(true)
	b.open("/account")
	b.waitFor(`[data-testid="account-summary"]`)
	b.shot("11-account-phone")
	b.checkClean()
}
