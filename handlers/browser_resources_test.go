package handlers

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"oneapi/queries"
)

// TestBrowserResources drives the channel, token, redemption and log pages
// in chromium: create a channel and test it, create a token and copy its
// key, make redemption codes, filter the logs; desktop and phone
// screenshots go to testdata-artifacts/ (resources-*.png).
func TestBrowserResources(t *testing.T) {
	findChromium(t)
	const upstreamKey = "sk-browser-upstream-key-0123456789"
	up := newFakeUpstream(t, upstreamKey)
	jobs := &probeQueue{}
	a := newAccountApp(t, func(d *Deps) { d.Jobs = jobs })
	root := a.createUser(t, userOpts{Username: "root", Password: "root-pass-2024", Role: roleRoot, Quota: 12_500_000})
	ctx := context.Background()
	q := queries.New(a.pool)
	for i := range 30 {
		model, tok := "gpt-4o-mini", "laptop"
		if i%3 == 0 {
			model, tok = "claude-3-5-sonnet", "ci-runner"
		}
		if err := q.LogInsert(ctx, queries.LogInsertParams{Type: 2, UserID: root.ID, Username: "root", TokenName: tok, ChannelID: 1,
			ModelName: model, PromptTokens: int32(120 + i), CompletionTokens: int32(40 + i), Quota: int64(900 + 37*i), ElapsedMs: int32(400 + 11*i),
			IsStream: i%2 == 0, RequestID: fmt.Sprintf("20250101%06d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.LogInsert(ctx, queries.LogInsertParams{Type: 1, UserID: root.ID, Username: "root", Quota: 5_000_000, Content: "Redeemed a code worth $10.00"}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.e)
	defer srv.Close()
	b := newBrowser(t, srv.URL)

	t.Log("sign in: the start page is the dashboard")
	b.open("/login")
	b.fill(map[string]string{"username": "root", "password": "root-pass-2024"}, `[data-testid="login-submit"]`)
	b.waitFor(`[data-testid="dashboard"]`)
	if got := b.text(`[data-testid="dash-quota"]`); !strings.Contains(got, "$25.00") {
		t.Errorf("dashboard balance = %q", got)
	}
	b.shot("resources-01-dashboard")

	t.Log("create a channel with the form, then test it in place")
	b.open("/channels/new")
	b.waitFor(`[data-testid="channel-form"]`)
	b.fill(map[string]string{"name": "OpenAI main", "key": upstreamKey, "base_url": up.URL,
		"models": "gpt-4o, gpt-4o-mini, o3-mini", "group": "default, vip", "priority": "10", "weight": "3"}, `[data-testid="channel-save"]`)
	b.waitFor(`[data-testid="channel-table"]`)
	if got := b.text(`[data-testid="flash"]`); !strings.Contains(got, "OpenAI main created") {
		t.Errorf("flash = %q", got)
	}
	b.run(chromedp.Click(chromedp.CSS(`[data-testid="channel-probe"]`)))
	b.waitFor(`[data-testid="channel-probe-ok"]`)
	if got := b.text(`[data-testid="channel-response-time"]`); !strings.HasSuffix(got, "ms") {
		t.Errorf("response time cell = %q", got)
	}
	if html := get(b, chromedp.OuterHTML(chromedp.CSS("html"))); strings.Contains(html, upstreamKey) {
		t.Error("the channel page shows the upstream key")
	}
	b.shot("resources-02-channels")

	t.Log("test all: the table refreshes by itself until the tests have run")
	b.run(chromedp.Click(chromedp.CSS(`[data-testid="channel-probe-all"]`)))
	b.waitFor(`[data-testid="flash"]`)
	if _, err := a.pool.Exec(ctx, "UPDATE channels SET response_time_ms = 4321"); err != nil { // a test ran on some node
		t.Fatal(err)
	}
	jobs.finish()
	for deadline := time.Now().Add(10 * time.Second); b.text(`[data-testid="channel-response-time"]`) != "4321 ms"; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the table did not refresh after test all: response time %q", b.text(`[data-testid="channel-response-time"]`))
		}
	}
	b.run(chromedp.Click(chromedp.CSS(`[data-testid="channel-edit"]`)))
	b.waitFor(`[data-testid="channel-form"]`)
	if v := get(b, chromedp.Value(chromedp.CSS(`[data-testid="channel-key"]`))); v != "" {
		t.Errorf("edit form key field = %q", v)
	}
	b.shot("resources-03-channel-edit")

	t.Log("create a token: the key shows once, in a read-only field")
	b.open("/tokens/new")
	b.waitFor(`[data-testid="token-form"]`)
	b.fill(map[string]string{"name": "laptop", "models": "gpt-4o-mini", "subnet": "10.0.0.0/8"}, `[data-testid="token-save"]`)
	b.waitFor(`[data-testid="token-created"]`)
	key := get(b, chromedp.Value(chromedp.CSS(`[data-testid="token-key"]`)))
	if !strings.HasPrefix(key, "sk-") || len(key) != 51 {
		t.Fatalf("token key = %q", key)
	}
	b.shot("resources-04-token-created")
	b.run(chromedp.Click(chromedp.CSS(`[data-testid="token-done"]`)))
	b.waitFor(`[data-testid="token-row"]`)
	if html := get(b, chromedp.OuterHTML(chromedp.CSS("html"))); strings.Contains(html, key) {
		t.Error("the token list shows the key")
	}
	b.shot("resources-05-tokens")

	t.Log("make redemption codes")
	b.open("/redemptions/new")
	b.waitFor(`[data-testid="redemption-form"]`)
	b.fill(map[string]string{"name": "launch", "quota": "500000", "count": "3"}, `[data-testid="redemption-save"]`)
	b.waitFor(`[data-testid="redemptions-created"]`)
	codes := strings.Fields(get(b, chromedp.Value(chromedp.CSS(`[data-testid="redemption-codes"]`))))
	if len(codes) != 3 {
		t.Errorf("codes = %q", codes)
	}
	b.shot("resources-06-redemptions-created")
	b.open("/redemptions")
	b.waitFor(`[data-testid="redemption-table"]`)
	b.shot("resources-07-redemptions")

	t.Log("logs: filter by model with htmx")
	b.open("/logs")
	b.waitFor(`[data-testid="log-table"]`)
	b.shot("resources-08-logs")
	b.run(chromedp.SendKeys(chromedp.CSS(`[data-testid="log-filter-model"]`), "claude-3-5-sonnet"))
	b.run(chromedp.Poll[chromedp.Void](`document.querySelectorAll('[data-testid="log-row"]').length === 10`, chromedp.WithPollingTimeout(10*time.Second)))
	if loc := get(b, chromedp.Location()); !strings.Contains(loc, "model=claude-3-5-sonnet") {
		t.Errorf("filter not in the address: %s", loc)
	}

	t.Log("phone widths")
	b.phone(true)
	for name, page := range map[string]string{"09-dashboard-phone": "/", "10-channels-phone": "/channels", "11-logs-phone": "/logs",
		"12-tokens-phone": "/tokens", "13-token-form-phone": "/tokens/new"} {
		b.open(page)
		b.waitFor("main")
		b.shot("resources-" + name)
	}
	b.phone(false)
	b.checkClean()
}
