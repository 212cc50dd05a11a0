package handlers

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"oneapi/queries"
)

// TestBrowserPrompts drives the prompt pages in chromium, as a product
// owner would: write a prompt watching the live preview, save a second
// version, move production to it (confirming), compare the two, run it in
// the playground through the gateway, and find the request in the logs.
// Screenshots go to testdata-artifacts/ (prompts-*.png).
func TestBrowserPrompts(t *testing.T) {
	findChromium(t)
	a, up := newPromptApp(t)
	root := a.createUser(t, userOpts{Username: "root", Password: "root-pass-2024", Role: roleRoot, Quota: 50_000_000})
	if _, err := queries.New(a.pool).TokenCreate(context.Background(), queries.TokenCreateParams{UserID: root.ID, Name: "web-app",
		KeyHash: []byte("0123456789abcdef0123456789abcdef"), KeyPrefix: "sk-webapp", Status: statusEnabled, UnlimitedQuota: true}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.e)
	defer srv.Close()
	b := newBrowser(t, srv.URL)
	poll := func(js string) {
		t.Helper()
		b.run(chromedp.Poll[chromedp.Void](js, chromedp.WithPollingTimeout(15*time.Second)))
	}
	// navigatedTo waits for a native form post to land on path.
	navigatedTo := func(path string) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			ctx, cancel := context.WithTimeout(b.ctx, time.Second)
			loc, err := chromedp.Run(ctx, chromedp.Location())
			cancel()
			if err == nil && strings.HasSuffix(loc, path) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("never got to %s (at %s, %v)", path, loc, err)
			}
		}
		b.waitFor("main")
	}
	b.open("/login")
	b.fill(map[string]string{"username": "root", "password": "root-pass-2024"}, `[data-testid="login-submit"]`)
	b.waitFor(`[data-testid="dashboard"]`)

	t.Log("write a prompt; the preview follows the typing")
	b.open("/prompts")
	b.waitFor(`[data-testid="prompt-table"]`)
	b.run(chromedp.Click(chromedp.CSS(`[data-testid="prompt-new"]`)))
	b.waitFor(`[data-testid="prompt-editor"]`)
	first := `[data-testid="prompt-message-row"]:nth-of-type(1) [data-testid="prompt-message-text"]`
	b.run(
		chromedp.SetValue(chromedp.CSS(`[data-testid="prompt-name-input"]`), "support-reply"),
		chromedp.SetValue(chromedp.CSS(`[data-testid="prompt-description"]`), "Replies to support tickets"),
		chromedp.SetValue(chromedp.CSS(`[data-testid="prompt-model"]`), "gpt-4o-mini"),
		chromedp.SendKeys(chromedp.CSS(first), "You answer {{product}} tickets in {{lang}}."),
	)
	poll(`document.querySelector('[data-testid="prompt-preview"]').innerText.includes('You answer {{product}} tickets in {{lang}}.')`)
	b.run(chromedp.Click(chromedp.CSS(`[data-testid="prompt-detect"]`)))
	navigatedTo("/prompts/editor")
	poll(`document.querySelectorAll('[data-testid="prompt-variable-row"]').length === 2`)
	second := `[data-testid="prompt-variable-row"]:nth-of-type(2) `
	b.run(
		chromedp.SetValue(chromedp.CSS(second+`select[name="v_required"]`), "optional"),
		chromedp.SetValue(chromedp.CSS(second+`input[name="v_default"]`), "English"),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="prompt-variable-row"]:nth-of-type(1) [data-testid="prompt-variable-sample"]`), "Acme Router"),
	)
	poll(`document.querySelector('[data-testid="prompt-preview"]').innerText.includes('You answer Acme Router tickets in English.')`)
	b.shot("prompts-01-editor")
	b.run(chromedp.Click(chromedp.CSS(`[data-testid="prompt-save"]`)))
	b.waitFor(`[data-testid="prompt-page"]`)
	if got := b.text(`[data-testid="label-production"]`); got != "v1" {
		t.Errorf("production = %q", got)
	}
	b.shot("prompts-02-page")

	t.Log("a second version from the editor")
	b.run(chromedp.Click(chromedp.CSS(`[data-testid="prompt-edit"]`)))
	b.waitFor(`[data-testid="prompt-editor"]`)
	b.run(
		chromedp.SetValue(chromedp.CSS(first), "You answer {{product}} tickets in {{lang}}, kindly and briefly."),
		chromedp.SetValue(chromedp.CSS(`[data-testid="prompt-note"]`), "kinder"),
	)
	b.run(chromedp.Click(chromedp.CSS(`[data-testid="prompt-save"]`)))
	b.waitFor(`[data-testid="prompt-page"]`)
	if got := b.text(`[data-testid="flash"]`); !strings.Contains(got, "production still serves version 1") {
		t.Errorf("flash = %q", got)
	}
	if n := get(b, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="prompt-version-row"]').length`)); n != 2 {
		t.Errorf("%d versions in the history", n)
	}

	t.Log("move production to v2: it asks first")
	b.run(chromedp.SetValue(chromedp.CSS(`[data-testid="label-version"]`), "2"), chromedp.Click(chromedp.CSS(`[data-testid="label-move"]`)))
	b.waitFor(`[data-testid="label-confirm"]`)
	if p := a.state.Prompt("support-reply"); p.Labels["production"] != 1 {
		t.Error("production moved before the confirmation")
	}
	b.shot("prompts-03-confirm-production")
	b.run(chromedp.Click(chromedp.CSS(`[data-testid="label-confirm-submit"]`)))
	poll(`document.querySelector('[data-testid="label-production"]').innerText === 'v2'`)
	if p := a.state.Prompt("support-reply"); p.Labels["production"] != 2 {
		t.Errorf("relay serves production = v%d", p.Labels["production"])
	}

	t.Log("compare v1 and v2")
	b.run(chromedp.Click(chromedp.CSS(`[data-testid="prompt-diff-submit"]`)))
	b.waitFor(`[data-testid="prompt-diff"]`)
	if got := b.text(`[data-testid="diff-add"]`); !strings.Contains(got, "kindly and briefly") {
		t.Errorf("added line = %q", got)
	}
	b.shot("prompts-04-diff")

	t.Log("the playground runs it through the gateway")
	b.open("/prompts/support-reply/playground")
	b.waitFor(`[data-testid="playground"]`)
	b.run(
		chromedp.SendKeys(chromedp.CSS(`[data-testid="playground-var"]`), "Acme Router"),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="playground-message"]`), "My router blinks red."),
		chromedp.Click(chromedp.CSS(`[data-testid="playground-run"]`)),
	)
	b.waitFor(`[data-testid="playground-answer"]`)
	if got := b.text(`[data-testid="playground-tokens"]`); got != "8 prompt + 1 completion" {
		t.Errorf("tokens = %q", got)
	}
	if got := b.text(`[data-testid="playground-cost"]`); !strings.HasPrefix(got, "$") {
		t.Errorf("cost = %q", got)
	}
	last := *up.last.Load()
	if msgs := last["messages"].([]any); msgs[0].(map[string]any)["content"] != "You answer Acme Router tickets in English, kindly and briefly." ||
		msgs[1].(map[string]any)["content"] != "My router blinks red." {
		t.Errorf("upstream got %v", msgs[0])
	}
	b.shot("prompts-05-playground")

	t.Log("the logs say which version served it")
	b.open("/logs?prompt=support-reply")
	b.waitFor(`[data-testid="log-prompt"]`)
	if got := b.text(`[data-testid="log-prompt"]`); !strings.Contains(got, "support-reply v2") {
		t.Errorf("log prompt cell = %q", got)
	}
	b.shot("prompts-06-logs")
	b.phone(true)
	for name, page := range map[string]string{"07-list-phone": "/prompts", "08-editor-phone": "/prompts/support-reply/edit"} {
		b.open(page)
		b.waitFor("main")
		b.shot("prompts-" + name)
	}
	b.phone(false)
	b.checkClean()
}
