package handlers

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"oneapi/keys"
	"oneapi/queries"
	"oneapi/relay"
	"oneapi/state"
)

const promptUpstreamKey = "sk-prompt-upstream-key-0123456789"

// newPromptApp is the console with the real relay behind its playground,
// one channel for gpt-4o-mini on a fake upstream.
func newPromptApp(t *testing.T) (*testApp, *fakeUpstream) {
	t.Helper()
	up := newFakeUpstream(t, promptUpstreamKey)
	var cipher *keys.Cipher
	a := newAccountApp(t, func(d *Deps) {
		cipher = d.Cipher
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		meter, err := relay.NewMeter(context.Background(), d.Pool, log, "console-test")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(meter.Close)
		d.Relay = relay.NewServer(d.State, meter, relay.NewClient(nil), log, relay.Config{})
	})
	a.cipher = cipher
	if _, err := queries.New(a.pool).ChannelCreate(context.Background(), queries.ChannelCreateParams{
		Type: 1, Name: "up", KeyCiphertext: a.cipher.Seal(promptUpstreamKey), KeyHint: "…6789", BaseURL: up.URL,
		Models: "gpt-4o-mini", Groups: "default", Status: state.StatusEnabled,
	}); err != nil {
		t.Fatal(err)
	}
	if err := a.state.ReloadAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	return a, up
}

// editorForm is a filled editor form.
func editorForm(fields ...string) url.Values {
	f := url.Values{}
	for i := 0; i+1 < len(fields); i += 2 {
		f.Add(fields[i], fields[i+1])
	}
	return f
}

func TestPromptConsole(t *testing.T) {
	t.Parallel()
	a, up := newPromptApp(t)
	root, rootUser := signedIn(t, a, "root", roleRoot)
	bob, _ := signedIn(t, a, "bob", roleUser)

	t.Log("the editor and its live preview")
	if rec := root.get("/prompts/new"); rec.Code != http.StatusOK || testids(rec.Body.String(), "prompt-message-row") != 2 {
		t.Fatalf("new = %d %s", rec.Code, rec.Body.String())
	}
	form := editorForm("is_new", "true", "name", "greet", "description", "Greets people", "shared", "true",
		"m_role", "system", "m_text", "Greet {{who}} in {{lang}}.", "m_images", "",
		"m_role", "user", "m_text", "", "m_images", "",
		"v_name", "lang", "v_type", "text", "v_required", "optional", "v_default", "English", "v_sample", "",
		"p_model", "gpt-4o-mini", "p_temperature", "0.3")
	prev := root.post("/prompts/preview", form, htmx("prompt-preview")...)
	if b := prev.Body.String(); prev.Code != http.StatusOK || !strings.Contains(b, "Greet {{who}} in English.") ||
		testids(b, "prompt-preview-message") != 1 || !strings.Contains(b, "prompt tokens for gpt-4o-mini") {
		t.Errorf("preview = %d %s", prev.Code, b)
	}
	bad := editorForm("is_new", "true", "m_role", "user", "m_text", "{{#each x}}", "m_images", "")
	if b := root.post("/prompts/preview", bad, htmx("prompt-preview")...).Body.String(); testids(b, "prompt-preview-error") != 1 || !strings.Contains(b, "Message 1") {
		t.Errorf("preview of bad syntax: %s", b)
	}
	add := editorForm("is_new", "true", "op", "add-message", "m_role", "system", "m_text", "Hi {{who}}", "m_images", "")
	if b := root.post("/prompts/editor", add).Body.String(); testids(b, "prompt-message-row") != 2 || !strings.Contains(b, "Hi {{who}}") {
		t.Errorf("add message: %d rows", testids(b, "prompt-message-row"))
	}
	detect := editorForm("is_new", "true", "op", "detect", "m_role", "system", "m_text", "Hi {{who}} {{mood}}", "m_images", "")
	if b := root.post("/prompts/editor", detect).Body.String(); testids(b, "prompt-variable-row") != 2 || !strings.Contains(b, `value="mood"`) {
		t.Errorf("detect: %d variable rows", testids(b, "prompt-variable-row"))
	}
	if rec := root.post("/prompts", bad); rec.Code != http.StatusUnprocessableEntity || testids(rec.Body.String(), "prompt-editor-error") != 1 {
		t.Errorf("saving bad syntax = %d", rec.Code)
	}

	t.Log("create: version 1, production, served by the relay at once")
	rec := root.post("/prompts", form)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/prompts/greet" {
		t.Fatalf("create = %d %s", rec.Code, rec.Body.String())
	}
	p := a.state.Prompt("greet")
	if p == nil || p.OwnerID != 0 || p.Labels["production"] != 1 || len(p.Versions[1].Template.Variables()) != 2 {
		t.Fatalf("state = %+v", p)
	}
	page := root.get("/prompts/greet").Body.String()
	if testids(page, "prompt-version-row") != 1 || !strings.Contains(page, `data-testid="label-production">v1`) ||
		!strings.Contains(page, "Greet {{who}} in {{lang}}.") {
		t.Errorf("prompt page: %s", page)
	}

	t.Log("a new version, from the editor filled with v1")
	edit := root.get("/prompts/greet/edit").Body.String()
	if !strings.Contains(edit, "Greet {{who}} in {{lang}}.") || !strings.Contains(edit, `value="0.3"`) {
		t.Errorf("edit form not filled: %s", edit)
	}
	v2 := editorForm("name", "greet", "description", "Greets people", "note", "warmer", "from", "1",
		"m_role", "system", "m_text", "Warmly greet {{who}} in {{lang}}.", "m_images", "",
		"v_name", "lang", "v_type", "text", "v_required", "optional", "v_default", "English", "v_sample", "",
		"p_model", "gpt-4o-mini")
	rec = root.post("/prompts/greet/versions", v2)
	if rec.Code != http.StatusSeeOther || a.state.Prompt("greet").Latest != 2 {
		t.Fatalf("new version = %d %s", rec.Code, rec.Body.String())
	}
	if flash := root.get(rec.Header().Get("Location")).Body.String(); !strings.Contains(flash, "production still serves version 1") {
		t.Errorf("no word that production did not move")
	}

	t.Log("moving production asks first; other labels move at once")
	move := func(label, version, confirm string) string {
		t.Helper()
		f := editorForm("label", label, "version", version)
		if confirm != "" {
			f.Set("confirm", confirm)
		}
		r := root.post("/prompts/greet/labels", f, htmx("prompt-labels")...)
		if r.Code != http.StatusOK {
			t.Fatalf("move %s = %d %s", label, r.Code, r.Body.String())
		}
		return r.Body.String()
	}
	if b := move("production", "2", ""); testids(b, "label-confirm") != 1 || a.state.Prompt("greet").Labels["production"] != 1 {
		t.Errorf("production moved without confirmation: %s", b)
	}
	if b := move("production", "2", "yes"); testids(b, "label-confirm") != 0 || !strings.Contains(b, `data-testid="label-production">v2`) {
		t.Errorf("confirmed move: %s", b)
	}
	if a.state.Prompt("greet").Labels["production"] != 2 {
		t.Error("the relay still serves v1 as production")
	}
	if b := move("staging", "1", ""); !strings.Contains(b, `data-testid="label-staging">v1`) {
		t.Errorf("staging: %s", b)
	}
	if b := root.post("/prompts/greet/labels", editorForm("label", "latest", "version", "1"), htmx("prompt-labels")...); b.Code != http.StatusUnprocessableEntity ||
		testids(b.Body.String(), "label-error") != 1 {
		t.Errorf("moving latest = %d", b.Code)
	}

	t.Log("diff of two versions")
	diff := root.get("/prompts/greet/diff?a=1&b=2").Body.String()
	// v2 changed the text and dropped the temperature.
	if testids(diff, "diff-del") != 2 || testids(diff, "diff-add") != 1 || !strings.Contains(diff, "+ Warmly greet") {
		t.Errorf("diff: %s", diff)
	}
	if same := root.get("/prompts/greet/diff?a=production&b=2").Body.String(); testids(same, "diff-identical") != 1 {
		t.Error("a version against itself is not the same")
	}

	t.Log("the list: search, owner, label")
	alice, aliceUser := signedIn(t, a, "alice", roleUser)
	if rec := alice.post("/prompts", editorForm("is_new", "true", "name", "alice-notes", "m_role", "system", "m_text", "Alice's own", "m_images", "")); rec.Code != http.StatusSeeOther {
		t.Fatalf("alice creates = %d %s", rec.Code, rec.Body.String())
	}
	if a.state.Prompt("alice-notes").OwnerID != aliceUser.ID {
		t.Error("a user's prompt is not theirs")
	}
	for _, tc := range []struct {
		c     *client
		query string
		want  int
	}{
		{root, "", 2}, {root, "?q=GREETS", 1}, {root, "?owner=shared", 1}, {root, "?owner=alice", 1}, {root, "?label=staging", 1},
		{bob, "", 1}, {alice, "?owner=mine", 1}, {alice, "", 2},
	} {
		b := tc.c.get("/prompts"+tc.query, htmx("prompt-table")...).Body.String()
		if n := testids(b, "prompt-row"); n != tc.want || strings.Contains(b, "<html") {
			t.Errorf("list %s: %d rows, want %d", tc.query, n, tc.want)
		}
	}
	if rec := bob.get("/prompts/alice-notes"); rec.Code != http.StatusNotFound {
		t.Errorf("bob opens alice's prompt = %d", rec.Code)
	}
	if b := bob.get("/prompts/greet").Body.String(); testids(b, "prompt-edit") != 0 || testids(b, "label-move") != 0 {
		t.Error("a user gets the controls of a shared prompt")
	}
	if rec := bob.post("/prompts/greet/labels", editorForm("label", "staging", "version", "2")); rec.Code != http.StatusForbidden {
		t.Errorf("bob moves a shared label = %d", rec.Code)
	}

	t.Log("the playground runs through the relay with the user's token, billed and logged")
	tok, err := queries.New(a.pool).TokenCreate(context.Background(), queries.TokenCreateParams{UserID: rootUser.ID, Name: "play",
		KeyHash: []byte("0123456789abcdef0123456789abcdef"), KeyPrefix: "sk-play", Status: statusEnabled, UnlimitedQuota: true})
	if err != nil {
		t.Fatal(err)
	}
	if b := root.get("/prompts/greet/playground").Body.String(); testids(b, "playground-var") != 2 || testids(b, "playground-run") != 1 {
		t.Fatalf("playground page: %s", b)
	}
	run := editorForm("version", "", "var.who", "Ada", "message", "Hello!", "token_id", itoa64(tok.ID))
	res := root.post("/prompts/greet/playground", run, htmx("playground")...).Body.String()
	if testids(res, "playground-answer") != 1 || !strings.Contains(res, ">Hi<") || !strings.Contains(res, "8 prompt + 1 completion") ||
		!strings.Contains(res, "$") || strings.Contains(res, "not settled") {
		t.Fatalf("playground result: %s", res)
	}
	last := *up.last.Load()
	msgs := last["messages"].([]any)
	if last["model"] != "gpt-4o-mini" || msgs[0].(map[string]any)["content"] != "Warmly greet Ada in English." ||
		msgs[1].(map[string]any)["content"] != "Hello!" {
		t.Errorf("upstream got %v", last)
	}
	var name string
	var version int32
	if err := a.pool.QueryRow(context.Background(), "SELECT prompt_name, prompt_version FROM logs WHERE type = 2 AND token_id = $1", tok.ID).Scan(&name, &version); err != nil || name != "greet" || version != 2 {
		t.Errorf("log row: %q v%d %v", name, version, err)
	}
	missing := editorForm("version", "1", "token_id", itoa64(tok.ID))
	if b := root.post("/prompts/greet/playground", missing, htmx("playground")...).Body.String(); testids(b, "playground-error") != 1 || !strings.Contains(b, "`who`") {
		t.Errorf("a missing variable in the playground: %s", b)
	}
	aliceTok, _ := queries.New(a.pool).TokenCreate(context.Background(), queries.TokenCreateParams{UserID: aliceUser.ID, Name: "hers",
		KeyHash: []byte("fedcba9876543210fedcba9876543210"), KeyPrefix: "sk-hers", Status: statusEnabled, UnlimitedQuota: true})
	if b := root.post("/prompts/greet/playground", editorForm("var.who", "x", "token_id", itoa64(aliceTok.ID)), htmx("playground")...).Body.String(); testids(b, "playground-error") != 1 {
		t.Errorf("root ran the playground with alice's token: %s", b)
	}

	t.Log("logs and dashboard by prompt")
	if b := root.get("/logs?prompt=greet", htmx("log-table")...).Body.String(); testids(b, "log-row") != 1 || !strings.Contains(b, "greet v2") {
		t.Errorf("logs by prompt: %s", b)
	}
	if b := root.get("/logs?prompt=nope", htmx("log-table")...).Body.String(); testids(b, "log-row") != 0 {
		t.Error("logs of another prompt")
	}
	if b := root.get("/").Body.String(); testids(b, "dash-prompt-row") != 1 {
		t.Errorf("dashboard by prompt: %d rows", testids(b, "dash-prompt-row"))
	}
	if b := root.get("/prompts/greet").Body.String(); testids(b, "prompt-usage-row") != 1 {
		t.Errorf("usage on the prompt page: %d rows", testids(b, "prompt-usage-row"))
	}

	t.Log("delete")
	if rec := root.post("/prompts/greet/delete", nil); rec.Code != http.StatusSeeOther || a.state.Prompt("greet") != nil {
		t.Errorf("delete = %d", rec.Code)
	}
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }
