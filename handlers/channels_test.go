package handlers

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"oneapi/keys"
	"oneapi/queries"
)

func TestChannelPages(t *testing.T) {
	t.Parallel()
	a := newAccountApp(t, nil)
	c, _ := signedIn(t, a, "admin", roleAdmin)
	ctx := context.Background()
	q := queries.New(a.pool)
	const key1, key2 = "sk-first-upstream-key-0123456789", "sk-second-upstream-key-abcdefWXYZ"
	const key3 = "sk-replacement-key-abcdefghijkl"
	var pages []string // every HTML reply, checked for keys at the end

	form := url.Values{
		"type": {"1"}, "name": {"primary"}, "key": {key1 + "\n\n  " + key2 + "  \n"}, "base_url": {"https://api.example.com"},
		"models": {"gpt-4o, gpt-4o-mini"}, "group": {"default, vip"}, "priority": {"5"}, "weight": {"2"},
		"model_mapping": {`{"gpt-4o":"gpt-4o-2024-08-06"}`}, "config": {""}, "system_prompt": {"be brief"}, "test_model": {"gpt-4o-mini"},
	}

	t.Run("validation re-renders the form without the key", func(t *testing.T) {
		bad := url.Values{}
		for k, v := range form {
			bad[k] = v
		}
		bad.Set("model_mapping", "{not json")
		rec := c.post("/channels", bad)
		body := rec.Body.String()
		pages = append(pages, body)
		if rec.Code != http.StatusUnprocessableEntity || testids(body, "error-model_mapping") != 1 ||
			testids(body, "channel-key-again") != 1 || !strings.Contains(body, "gpt-4o, gpt-4o-mini") {
			t.Errorf("= %d: %s", rec.Code, body)
		}
		bad.Set("model_mapping", "")
		bad.Set("weight", "heavy")
		if rec := c.post("/channels", bad); rec.Code != http.StatusUnprocessableEntity || testids(rec.Body.String(), "error-weight") != 1 {
			t.Errorf("weight = %d", rec.Code)
		}
		bad.Set("weight", "1")
		bad.Set("key", "")
		if rec := c.post("/channels", bad); rec.Code != http.StatusUnprocessableEntity || testids(rec.Body.String(), "error-key") != 1 {
			t.Errorf("no key = %d", rec.Code)
		}
		if n := countRows(t, a, "channels"); n != 0 {
			t.Errorf("%d channels after failed creates", n)
		}
	})

	rec := c.post("/channels", form)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/channels" {
		t.Fatalf("create = %d %s", rec.Code, rec.Body)
	}
	rows, err := q.ChannelList(ctx, queries.ChannelListParams{Limit: 10})
	if err != nil || len(rows) != 2 {
		t.Fatalf("channels = %d (%v), want one per key", len(rows), err)
	}
	second, first := rows[0], rows[1]
	if first.KeyHint != keys.Hint(key1) || second.KeyHint != keys.Hint(key2) || first.Models != "gpt-4o,gpt-4o-mini" ||
		first.Groups != "default,vip" || first.Priority != 5 || first.Weight != 2 || first.Status != 1 || first.TestModel != "gpt-4o-mini" {
		t.Errorf("created = %+v", first)
	}
	assertKeyNotStored(t, a, first.ID, key1)
	if sc := a.state.Routes().Channel(first.ID); sc == nil || sc.Key != key1 {
		t.Fatalf("state after create = %+v", sc)
	}
	firstID := strconv.FormatInt(first.ID, 10)

	list := c.get("/channels")
	body := list.Body.String()
	pages = append(pages, body)
	if list.Code != http.StatusOK || testids(body, "channel-row") != 2 || !strings.Contains(body, "2 channels created") ||
		!strings.Contains(body, keys.Hint(key1)) || !strings.Contains(body, "OpenAI") {
		t.Errorf("list = %d: %s", list.Code, body)
	}
	if testids(body, "channel-probe-all") != 0 {
		t.Error("test-all button without a job queue")
	}

	t.Run("search and filters swap the table", func(t *testing.T) {
		for _, tt := range []struct {
			query string
			rows  int
		}{
			{"q=" + firstID, 1}, {"q=PRIM", 2}, {"q=nothing-like-it", 0}, {"status=1", 2}, {"status=2", 0},
			{"type=1", 2}, {"type=14", 0}, {"q=" + url.QueryEscape(keys.Hint(key2)), 1}, {"type=9999&status=-4", 2},
		} {
			rec := c.get("/channels?"+tt.query, htmx("channel-table")...)
			b := rec.Body.String()
			pages = append(pages, b)
			if rec.Code != http.StatusOK || strings.Contains(b, "<html") || testids(b, "channel-table") != 1 || testids(b, "channel-row") != tt.rows {
				t.Errorf("%s = %d, %d rows, want %d", tt.query, rec.Code, testids(b, "channel-row"), tt.rows)
			}
			if !strings.Contains(strings.Join(rec.Header().Values("Vary"), ","), "HX-Request") {
				t.Errorf("%s: no Vary: HX-Request", tt.query)
			}
		}
		if rec := c.get("/channels?q=" + firstID); strings.Count(rec.Body.String(), "<html") != 1 {
			t.Error("a plain GET is not the full page")
		}
	})

	t.Run("paging", func(t *testing.T) {
		for i := range channelsPageSize + 5 {
			if _, err := q.ChannelCreate(ctx, queries.ChannelCreateParams{Type: 1, Name: fmt.Sprintf("bulk%02d", i),
				KeyCiphertext: []byte{1}, Models: "m", Groups: "default", Status: 2}); err != nil {
				t.Fatal(err)
			}
		}
		b := c.get("/channels", htmx("channel-table")...).Body.String()
		if testids(b, "channel-row") != channelsPageSize || testids(b, "page-next") != 1 || testids(b, "page-prev") != 0 {
			t.Errorf("page 1: %d rows", testids(b, "channel-row"))
		}
		b = c.get("/channels?p=2", htmx("channel-table")...).Body.String()
		if testids(b, "channel-row") != 7 || testids(b, "page-prev") != 1 || testids(b, "page-next") != 0 {
			t.Errorf("page 2: %d rows", testids(b, "channel-row"))
		}
		b = c.get("/channels?status=2&q=bulk", htmx("channel-table")...).Body.String()
		if !strings.Contains(b, `href="/channels?p=2&amp;q=bulk&amp;status=2"`) {
			t.Errorf("the pager drops the filters: %s", regexpFind(`(<nav class="pager".*</nav>)`, b))
		}
	})

	t.Run("edit keeps the key unless a new one is given", func(t *testing.T) {
		edit := c.get("/channels/" + firstID + "/edit")
		b := edit.Body.String()
		pages = append(pages, b)
		if edit.Code != http.StatusOK || testids(b, "channel-form") != 1 || !strings.Contains(b, keys.Hint(key1)) ||
			!strings.Contains(b, `value="primary"`) || !strings.Contains(b, "be brief") {
			t.Fatalf("edit = %d: %s", edit.Code, b)
		}
		upd := url.Values{}
		for k, v := range form {
			upd[k] = v
		}
		upd.Set("key", "")
		upd.Set("name", "renamed")
		upd.Set("models", "gpt-4o")
		if rec := c.post("/channels/"+firstID, upd); rec.Code != http.StatusSeeOther {
			t.Fatalf("update = %d %s", rec.Code, rec.Body)
		}
		sc := a.state.Routes().Channel(first.ID)
		if sc == nil || sc.Key != key1 || sc.Name != "renamed" || len(sc.Models) != 1 {
			t.Errorf("state after update = %+v", sc)
		}
		upd.Set("key", key3)
		if rec := c.post("/channels/"+firstID, upd); rec.Code != http.StatusSeeOther {
			t.Fatalf("update key = %d", rec.Code)
		}
		if sc := a.state.Routes().Channel(first.ID); sc == nil || sc.Key != key3 {
			t.Errorf("key not replaced: %+v", sc)
		}
		upd.Set("key", key1+"\n"+key2)
		rec := c.post("/channels/"+firstID, upd)
		pages = append(pages, rec.Body.String())
		if rec.Code != http.StatusUnprocessableEntity || testids(rec.Body.String(), "error-key") != 1 {
			t.Errorf("two keys on update = %d", rec.Code)
		}
		// A disabled channel stays disabled through an edit: the form has no status.
		if _, err := q.ChannelSetStatus(ctx, queries.ChannelSetStatusParams{ID: first.ID, Status: 2}); err != nil {
			t.Fatal(err)
		}
		upd.Set("key", "")
		if rec := c.post("/channels/"+firstID, upd); rec.Code != http.StatusSeeOther {
			t.Fatalf("update = %d", rec.Code)
		}
		if ch, _ := q.ChannelGetByID(ctx, first.ID); ch.Status != 2 {
			t.Errorf("status after edit = %d, want 2", ch.Status)
		}
		if rec := c.get("/channels/999999/edit"); rec.Code != http.StatusNotFound {
			t.Errorf("edit missing = %d", rec.Code)
		}
		if rec := c.get("/channels/abc/edit"); rec.Code != http.StatusNotFound {
			t.Errorf("edit abc = %d", rec.Code)
		}
	})

	t.Run("enable, disable, delete", func(t *testing.T) {
		rec := c.post("/channels/"+firstID+"/enable", nil, htmx("channel-"+firstID)...)
		b := rec.Body.String()
		if rec.Code != http.StatusOK || !strings.HasPrefix(strings.TrimSpace(b), `<tr id="channel-`+firstID+`"`) ||
			!strings.Contains(b, ">enabled<") || testids(b, "channel-disable") != 1 {
			t.Errorf("enable = %d: %s", rec.Code, b)
		}
		if sc := a.state.Routes().Channel(first.ID); sc == nil || sc.Status != 1 {
			t.Errorf("state after enable = %+v", sc)
		}
		rec = c.post("/channels/"+firstID+"/disable", nil, htmx("channel-"+firstID)...)
		if b := rec.Body.String(); rec.Code != http.StatusOK || !strings.Contains(b, ">disabled<") || testids(b, "channel-enable") != 1 {
			t.Errorf("disable = %d: %s", rec.Code, b)
		}
		if a.state.Routes().Serves("vip", "gpt-4o") != true { // the second channel still serves
			t.Error("second channel gone from routing")
		}
		// Without htmx: POST, redirect, flash.
		if rec := c.post("/channels/"+firstID+"/enable", nil); rec.Code != http.StatusSeeOther {
			t.Errorf("plain enable = %d", rec.Code)
		}
		if b := c.get("/channels").Body.String(); !strings.Contains(b, "enable done") {
			t.Error("no flash after a plain enable")
		}
		rec = c.post("/channels/"+firstID+"/delete", nil, htmx("channel-"+firstID)...)
		if rec.Code != http.StatusOK || rec.Body.Len() != 0 {
			t.Errorf("delete = %d %q", rec.Code, rec.Body)
		}
		if a.state.Routes().Channel(first.ID) != nil {
			t.Error("deleted channel still in the routing state")
		}
		if rec := c.post("/channels/"+firstID+"/delete", nil, htmx("")...); rec.Code != http.StatusNotFound || rec.Header().Get("HX-Retarget") != "#flash" {
			t.Errorf("delete again = %d", rec.Code)
		}
	})

	for _, p := range pages {
		for _, k := range []string{key1, key2, key3} {
			if strings.Contains(p, k) {
				t.Fatalf("a page shows a channel key: %s", p)
			}
		}
	}
}

func TestChannelProbePage(t *testing.T) {
	t.Parallel()
	jobs := &probeQueue{}
	a := newAccountApp(t, func(d *Deps) { d.Jobs = jobs })
	c, _ := signedIn(t, a, "admin", roleAdmin)
	const goodKey, badKey = "sk-good-upstream-key-0123456789", "sk-revoked-upstream-key-9876543210"
	up := newFakeUpstream(t, goodKey)
	create := func(key string) string {
		t.Helper()
		rec := c.post("/channels", url.Values{"type": {"1"}, "name": {"p"}, "key": {key}, "base_url": {up.URL}, "models": {"gpt-4o"}})
		if rec.Code != http.StatusSeeOther {
			t.Fatalf("create = %d %s", rec.Code, rec.Body)
		}
		var id int64
		if err := a.pool.QueryRow(context.Background(), "SELECT max(id) FROM channels").Scan(&id); err != nil {
			t.Fatal(err)
		}
		return strconv.FormatInt(id, 10)
	}
	good, bad := create(goodKey), create(badKey)

	rec := c.post("/channels/"+good+"/probe", nil, htmx("channel-"+good)...)
	b := rec.Body.String()
	if rec.Code != http.StatusOK || testids(b, "channel-probe-ok") != 1 || !strings.Contains(b, `id="channel-`+good+`"`) || strings.Contains(b, "<html") {
		t.Errorf("good probe = %d: %s", rec.Code, b)
	}
	if !strings.Contains(b, "OK: gpt-4o in") || strings.Contains(b, "never") { // the test time is now set
		t.Errorf("good probe row lacks the result or test time: %s", b)
	}

	rec = c.post("/channels/"+bad+"/probe", nil, htmx("channel-"+bad)...)
	b = rec.Body.String()
	if rec.Code != http.StatusOK || testids(b, "channel-probe-error") != 1 || !strings.Contains(b, "Incorrect API key provided") {
		t.Errorf("bad probe = %d: %s", rec.Code, b)
	}
	if strings.Contains(b, badKey) || strings.Contains(b, goodKey) {
		t.Errorf("probe reply carries a key: %s", b)
	}

	// Plain form post: redirect and flash.
	if rec := c.post("/channels/"+bad+"/probe", nil); rec.Code != http.StatusSeeOther {
		t.Errorf("plain probe = %d", rec.Code)
	}
	if b := c.get("/channels").Body.String(); !strings.Contains(b, "failed") || strings.Contains(b, badKey) {
		t.Errorf("flash after a plain probe: %s", b)
	}
	if rec := c.post("/channels/424242/probe", nil, htmx("")...); rec.Code != http.StatusNotFound {
		t.Errorf("probe of a missing channel = %d", rec.Code)
	}

	// Test all goes to the job queue.
	if b := c.get("/channels").Body.String(); testids(b, "channel-probe-all") != 1 {
		t.Error("no test-all button with a job queue")
	}
	rec = c.post("/channels/probe-all", nil, htmx("flash")...)
	if rec.Code != http.StatusOK || testids(rec.Body.String(), "flash") != 1 || !strings.Contains(rec.Body.String(), "2 channel tests enqueued") {
		t.Errorf("test all = %d: %s", rec.Code, rec.Body)
	}
	jobs.mu.Lock()
	if len(jobs.ids) != 2 {
		t.Errorf("enqueued %v", jobs.ids)
	}
	jobs.mu.Unlock()

	// The flash polls the table being viewed until the tests have run.
	rec = c.post("/channels/probe-all", nil, append(htmx("flash"), "HX-Current-URL", "http://console.example/channels?q=PRIM&p=1")...)
	if !strings.Contains(rec.Body.String(), `hx-get="/channels?p=1&amp;poll=1&amp;q=PRIM"`) || testids(rec.Body.String(), "channel-poller") != 1 {
		t.Fatalf("test all flash without a poller of the viewed table: %s", rec.Body)
	}
	poll := func() int {
		rec := c.get("/channels?p=1&poll=1&q=PRIM", htmx("channel-table")...)
		if testids(rec.Body.String(), "channel-table") != 1 {
			t.Errorf("poll answered no table: %s", rec.Body)
		}
		return rec.Code
	}
	if code := poll(); code != http.StatusOK {
		t.Errorf("poll while tests run = %d, want 200", code)
	}
	jobs.finish()
	if code := poll(); code != statusStopPolling {
		t.Errorf("poll once the tests ran = %d, want 286", code)
	}
}

func TestChannelProbeAllWithoutJobs(t *testing.T) {
	t.Parallel()
	a := newAccountApp(t, nil)
	c, _ := signedIn(t, a, "admin", roleAdmin)
	rec := c.post("/channels/probe-all", nil, htmx("flash")...)
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "background jobs are not running") {
		t.Errorf("= %d: %s", rec.Code, rec.Body)
	}
}
