package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const supportPrompt = `{"name":"support","description":"Support triage",
	"messages":[{"role":"system","content":"You triage tickets for {{product}}."},{"role":"user","content":"{{ticket}}"}],
	"variables":[{"name":"product","default":"Acme"},{"name":"ticket","required":true}],
	"parameters":{"model":"gpt-4o-mini","temperature":0.1}}`

func TestAPIPromptLifecycle(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	_, root := apiTestUser(t, a, "root", roleRoot)

	var p apiPrompt
	mustAPI(t, a, http.MethodPost, "/api/prompt/", supportPrompt, root, &p)
	if p.Name != "support" || !p.Shared || p.LatestVersion != 1 || p.Labels["production"] != 1 || p.Latest == nil ||
		len(p.Latest.ContentHash) != 64 || p.Latest.Variables[1].Name != "ticket" || !cmp.Equal(p.Latest.Labels, []string{"production"}) {
		t.Fatalf("created = %+v", p)
	}
	if sp := a.state.Prompt("support"); sp == nil || sp.Labels["production"] != 1 {
		t.Fatalf("the relay's memory does not have it: %+v", sp)
	}

	var v apiPromptVersion
	mustAPI(t, a, http.MethodPost, "/api/prompt/support/versions", `{"note":"shorter","messages":[{"role":"system","content":"Triage for {{product}}."},{"role":"user","content":"{{ticket}}"}],
		"variables":[{"name":"product","default":"Acme"}],"parameters":{"model":"gpt-4o-mini"}}`, root, &v)
	if v.Version != 2 || v.Note != "shorter" || v.CreatedBy != "root" || len(v.Labels) != 0 || v.ContentHash == p.Latest.ContentHash {
		t.Fatalf("version 2 = %+v", v)
	}
	if sp := a.state.Prompt("support"); sp.Latest != 2 || sp.Labels["production"] != 1 {
		t.Errorf("a new version moves no label: %+v", sp)
	}
	var versions []apiPromptVersion
	mustAPI(t, a, http.MethodGet, "/api/prompt/support/versions", "", root, &versions)
	if len(versions) != 2 || versions[0].Version != 2 || versions[1].Labels[0] != "production" {
		t.Errorf("versions = %+v", versions)
	}

	mustAPI(t, a, http.MethodPut, "/api/prompt/support/labels/production", `{"version":2}`, root, &p)
	mustAPI(t, a, http.MethodPut, "/api/prompt/support/labels/staging", `{"version":"1"}`, root, &p)
	if !cmp.Equal(p.Labels, map[string]int32{"production": 2, "staging": 1}) {
		t.Errorf("labels = %v", p.Labels)
	}
	if pv, err := a.state.Prompt("support").Resolve(""); err != nil || pv.Version != 2 {
		t.Errorf("production resolves to %+v, %v", pv, err)
	}
	for _, tc := range []struct{ path, body string }{
		{"/api/prompt/support/labels/latest", `{"version":1}`},
		{"/api/prompt/support/labels/Prod", `{"version":1}`},
		{"/api/prompt/support/labels/canary", `{"version":9}`},
		{"/api/prompt/support/labels/canary", `{}`},
	} {
		if code, r, _ := apiCall(t, a, http.MethodPut, tc.path, tc.body, root); code != http.StatusUnprocessableEntity {
			t.Errorf("PUT %s %s = %d %q", tc.path, tc.body, code, r.Message)
		}
	}
	mustAPI(t, a, http.MethodGet, "/api/prompt/support/versions/staging", "", root, &v)
	if v.Version != 1 {
		t.Errorf("versions/staging = %d", v.Version)
	}

	var rendered struct {
		Version  int32 `json:"version"`
		Messages []struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"messages"`
	}
	mustAPI(t, a, http.MethodPost, "/api/prompt/support/render", `{"label":"staging","variables":{"ticket":"My {{product}} broke"}}`, root, &rendered)
	if rendered.Version != 1 || rendered.Messages[0].Content != "You triage tickets for Acme." || rendered.Messages[1].Content != "My {{product}} broke" {
		t.Errorf("render = %+v", rendered)
	}
	for body, want := range map[string]string{
		`{"version":1}`: "`ticket`",
		`{"variables":{"ticket":"x","tone":"y"}}`:      "`tone`",
		`{"version":"1","variables":{"ticket":["x"]}}`: "`ticket`",
	} {
		code, r, _ := apiCall(t, a, http.MethodPost, "/api/prompt/support/render", body, root)
		if code != http.StatusBadRequest || !strings.Contains(r.Message, want) {
			t.Errorf("render %s = %d %q, want 400 naming %s", body, code, r.Message, want)
		}
	}
	if code, _, _ := apiCall(t, a, http.MethodPost, "/api/prompt/support/render", `{"version":7}`, root); code != http.StatusNotFound {
		t.Errorf("render of a missing version = %d", code)
	}

	if code, r, _ := apiCall(t, a, http.MethodPut, "/api/prompt/support", `{"messages":[]}`, root); code != http.StatusUnprocessableEntity || !strings.Contains(r.Message, "immutable") {
		t.Errorf("PUT with messages = %d %q", code, r.Message)
	}
	mustAPI(t, a, http.MethodPut, "/api/prompt/support", `{"description":"Tier 1 triage"}`, root, &p)
	if p.Description != "Tier 1 triage" || p.LatestVersion != 2 {
		t.Errorf("after PUT = %+v", p)
	}
	var afterDelete apiPrompt
	mustAPI(t, a, http.MethodDelete, "/api/prompt/support/labels/staging", "", root, &afterDelete)
	if _, ok := afterDelete.Labels["staging"]; ok || afterDelete.Labels["production"] != 2 {
		t.Error("staging not deleted")
	}

	for _, tc := range []struct{ body, want string }{
		{`{"name":"a b","messages":[{"role":"user","content":"x"}]}`, "name may hold only"},
		{`{"name":"export","messages":[{"role":"user","content":"x"}]}`, "reserved"},
		{`{"name":"x","messages":[{"role":"user","content":"{{#if y}}"}]}`, "messages[0].content"},
		{`{"name":"x","messages":[{"role":"user","content":"x"}],"parameters":{"temprature":1}}`, "parameters.temprature"},
		{`{"name":"x","messages":[{"role":"user"}]}`, "messages[0]: content is required"},
		{`{"name":"x"}`, "at least one message"},
	} {
		if code, r, _ := apiCall(t, a, http.MethodPost, "/api/prompt/", tc.body, root); code != http.StatusUnprocessableEntity || !strings.Contains(r.Message, tc.want) {
			t.Errorf("create %s = %d %q, want 422 %q", tc.body, code, r.Message, tc.want)
		}
	}
	if code, _, _ := apiCall(t, a, http.MethodPost, "/api/prompt/", supportPrompt, root); code != http.StatusConflict {
		t.Errorf("a second prompt with the same name = %d", code)
	}

	mustAPI(t, a, http.MethodDelete, "/api/prompt/support", "", root, nil)
	if a.state.Prompt("support") != nil {
		t.Error("a deleted prompt is still served")
	}
	if code, _, _ := apiCall(t, a, http.MethodGet, "/api/prompt/support", "", root); code != http.StatusNotFound {
		t.Errorf("GET deleted = %d", code)
	}
}

// TestAPIPromptPermissions: a user cannot read or use another user's
// private prompt; shared prompts are read by everyone and changed by admins.
func TestAPIPromptPermissions(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	_, root := apiTestUser(t, a, "root", roleRoot)
	aliceID, alice := apiTestUser(t, a, "alice", roleUser)
	_, bob := apiTestUser(t, a, "bob", roleUser)
	mustAPI(t, a, http.MethodPost, "/api/prompt/", supportPrompt, root, nil)
	var mine apiPrompt
	mustAPI(t, a, http.MethodPost, "/api/prompt/", `{"name":"alice-notes","messages":[{"role":"system","content":"Alice's secret"}]}`, alice, &mine)
	if mine.Shared || mine.OwnerID != aliceID || mine.Owner != "alice" {
		t.Fatalf("a user's prompt is theirs: %+v", mine)
	}
	if p := a.state.Prompt("alice-notes"); p == nil || p.OwnerID != aliceID {
		t.Fatalf("state: %+v", p)
	}

	for _, tc := range []struct{ method, path, body string }{
		{http.MethodGet, "/api/prompt/alice-notes", ""},
		{http.MethodGet, "/api/prompt/alice-notes/versions", ""},
		{http.MethodGet, "/api/prompt/alice-notes/versions/1", ""},
		{http.MethodPost, "/api/prompt/alice-notes/render", `{}`},
		{http.MethodPost, "/api/prompt/alice-notes/versions", `{"messages":[{"role":"user","content":"x"}]}`},
		{http.MethodPut, "/api/prompt/alice-notes/labels/production", `{"version":1}`},
		{http.MethodPut, "/api/prompt/alice-notes", `{"description":"x"}`},
		{http.MethodDelete, "/api/prompt/alice-notes", ""},
		{http.MethodGet, "/api/prompt/export?name=alice-notes", ""},
	} {
		code, r, raw := apiCall(t, a, tc.method, tc.path, tc.body, bob)
		if code != http.StatusNotFound || strings.Contains(raw, "secret") {
			t.Errorf("bob %s %s = %d %q, want 404", tc.method, tc.path, code, r.Message)
		}
	}
	var list []apiPrompt
	mustAPI(t, a, http.MethodGet, "/api/prompt/", "", bob, &list)
	if len(list) != 1 || list[0].Name != "support" {
		t.Errorf("bob's list = %+v", list)
	}
	mustAPI(t, a, http.MethodGet, "/api/prompt/?owner=mine", "", alice, &list)
	if len(list) != 1 || list[0].Name != "alice-notes" {
		t.Errorf("alice's own = %+v", list)
	}

	t.Log("shared prompts: everyone reads them, only admins change them")
	mustAPI(t, a, http.MethodGet, "/api/prompt/support", "", bob, nil)
	mustAPI(t, a, http.MethodPost, "/api/prompt/support/render", `{"variables":{"ticket":"t"}}`, bob, nil)
	for _, tc := range []struct{ method, path, body string }{
		{http.MethodPost, "/api/prompt/support/versions", `{"messages":[{"role":"user","content":"x"}]}`},
		{http.MethodPut, "/api/prompt/support/labels/production", `{"version":1}`},
		{http.MethodPut, "/api/prompt/support", `{"description":"x"}`},
		{http.MethodDelete, "/api/prompt/support", ""},
	} {
		if code, _, _ := apiCall(t, a, tc.method, tc.path, tc.body, bob); code != http.StatusForbidden {
			t.Errorf("bob %s %s = %d, want 403", tc.method, tc.path, code)
		}
	}
	if code, _, _ := apiCall(t, a, http.MethodPost, "/api/prompt/", `{"name":"x","owner_id":0,"messages":[{"role":"user","content":"x"}]}`, bob); code != http.StatusUnprocessableEntity {
		t.Errorf("a user creating a shared prompt = %d", code)
	}
	if code, _, _ := apiCall(t, a, http.MethodPut, "/api/prompt/alice-notes", `{"owner_id":0}`, alice); code != http.StatusUnprocessableEntity {
		t.Errorf("a user sharing a prompt = %d", code)
	}

	t.Log("admins see and manage every prompt")
	mustAPI(t, a, http.MethodGet, "/api/prompt/?owner=alice", "", root, &list)
	if len(list) != 1 || list[0].Name != "alice-notes" {
		t.Errorf("root's list of alice's = %+v", list)
	}
	mustAPI(t, a, http.MethodGet, "/api/prompt/?owner=shared&label=production", "", root, &list)
	if len(list) != 1 || list[0].Name != "support" {
		t.Errorf("shared with production = %+v", list)
	}
	mustAPI(t, a, http.MethodGet, "/api/prompt/?keyword=TRIAGE", "", root, &list)
	if len(list) != 1 || list[0].Name != "support" {
		t.Errorf("keyword = %+v", list)
	}
	mustAPI(t, a, http.MethodPost, "/api/prompt/alice-notes/versions", `{"messages":[{"role":"system","content":"reviewed"}]}`, root, nil)
	var shared apiPrompt
	mustAPI(t, a, http.MethodPut, "/api/prompt/alice-notes", `{"owner_id":0}`, root, &shared)
	if !shared.Shared || a.state.Prompt("alice-notes").OwnerID != 0 {
		t.Errorf("root shared alice's prompt: %+v", shared)
	}
	mustAPI(t, a, http.MethodGet, "/api/prompt/alice-notes", "", bob, nil)
}

func TestAPIPromptExportImport(t *testing.T) {
	t.Parallel()
	src := newTestApp(t)
	_, root := apiTestUser(t, src, "root", roleRoot)
	_, alice := apiTestUser(t, src, "alice", roleUser)
	mustAPI(t, src, http.MethodPost, "/api/prompt/", supportPrompt, root, nil)
	mustAPI(t, src, http.MethodPost, "/api/prompt/support/versions", `{"messages":[{"role":"system","content":"<v2> & \"{{product}}\""}]}`, root, nil)
	mustAPI(t, src, http.MethodPut, "/api/prompt/support/labels/staging", `{"version":2}`, root, nil)
	mustAPI(t, src, http.MethodPost, "/api/prompt/", `{"name":"alice-notes","messages":[{"role":"system","content":"hers"}]}`, alice, nil)

	rec := src.do(http.MethodGet, "/api/prompt/export", "", "Authorization", root)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Header().Get("Content-Disposition"), "attachment") {
		t.Fatalf("export = %d %s", rec.Code, rec.Body.String())
	}
	file := rec.Body.String()
	var f promptFile
	if err := json.Unmarshal([]byte(file), &f); err != nil || len(f.Prompts) != 2 || len(f.Prompts[1].Versions) != 2 ||
		!strings.Contains(file, `<v2> & \"{{product}}\"`) {
		t.Fatalf("export file: %v\n%s", err, file)
	}
	rec = src.do(http.MethodGet, "/api/prompt/export", "", "Authorization", alice)
	if !strings.Contains(rec.Body.String(), `"alice-notes"`) || !strings.Contains(rec.Body.String(), `"support"`) {
		t.Errorf("alice exports what she can read: %s", rec.Body.String())
	}

	dst := newTestApp(t)
	_, dstRoot := apiTestUser(t, dst, "root", roleRoot)
	var res []promptImportResult
	mustAPI(t, dst, http.MethodPost, "/api/prompt/import", file, dstRoot, &res)
	if len(res) != 2 || !res[1].Created || !cmp.Equal(res[1].VersionsAdded, []int32{1, 2}) || res[1].LabelsMoved["staging"] != 2 {
		t.Errorf("first import = %+v", res)
	}
	var a, b []apiPromptVersion
	mustAPI(t, src, http.MethodGet, "/api/prompt/support/versions", "", root, &a)
	mustAPI(t, dst, http.MethodGet, "/api/prompt/support/versions", "", dstRoot, &b)
	if len(a) != 2 || len(b) != 2 || a[0].ContentHash != b[0].ContentHash || a[1].ContentHash != b[1].ContentHash ||
		!cmp.Equal(a[0].Labels, b[0].Labels) || !cmp.Equal(a[1].Labels, b[1].Labels) {
		t.Errorf("imported versions differ:\n%+v\n%+v", a, b)
	}
	if sp := dst.state.Prompt("support"); sp == nil || sp.Labels["staging"] != 2 {
		t.Errorf("imported prompt not served: %+v", sp)
	}

	res = nil
	mustAPI(t, dst, http.MethodPost, "/api/prompt/import", file, dstRoot, &res)
	for _, r := range res {
		if r.Created || len(r.VersionsAdded) != 0 || len(r.LabelsMoved) != 0 {
			t.Errorf("importing the same file again changed %+v", r)
		}
	}

	t.Log("a file edited in git: a new version and production moved to it")
	f.Prompts[1].Versions = append(f.Prompts[1].Versions, promptFileVersion{Version: 3,
		Messages: json.RawMessage(`[{"role":"system","content":"v3"}]`)})
	f.Prompts[1].Labels["production"] = 3
	edited, _ := json.Marshal(f)
	res = nil
	mustAPI(t, dst, http.MethodPost, "/api/prompt/import", string(edited), dstRoot, &res)
	if !cmp.Equal(res[1].VersionsAdded, []int32{3}) || !cmp.Equal(res[1].LabelsMoved, map[string]int32{"production": 3}) {
		t.Errorf("edited import = %+v", res)
	}

	t.Log("all or nothing: one bad prompt leaves every other untouched")
	_, bob := apiTestUser(t, dst, "bob", roleUser)
	f.Prompts = []promptFileEntry{{Name: "bobs", Versions: []promptFileVersion{{Version: 1, Messages: json.RawMessage(`[{"role":"user","content":"x"}]`)}}}, f.Prompts[1]}
	all, _ := json.Marshal(f)
	code, r, _ := apiCall(t, dst, http.MethodPost, "/api/prompt/import", string(all), bob)
	if code != http.StatusForbidden || !strings.Contains(r.Message, "prompts[1]") {
		t.Errorf("bob importing over shared prompts = %d %q", code, r.Message)
	}
	if code, _, _ := apiCall(t, dst, http.MethodGet, "/api/prompt/bobs", "", bob); code != http.StatusNotFound {
		t.Error("a refused import stored part of the file")
	}
	bad := strings.Replace(string(all), `"v3"`, `"{{#if x}}"`, 1)
	if code, r, _ := apiCall(t, dst, http.MethodPost, "/api/prompt/import", bad, dstRoot); code != http.StatusUnprocessableEntity || !strings.Contains(r.Message, "version 3") {
		t.Errorf("bad content = %d %q", code, r.Message)
	}
}

// TestAPITokenPromptLimits: /api/token/ and the token form carry a token's
// prompt list and "prompts only", and the relay's memory has them at once.
func TestAPITokenPromptLimits(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	_, user := apiTestUser(t, a, "alice", roleUser)
	var tok apiToken
	mustAPI(t, a, http.MethodPost, "/api/token/", `{"name":"front-end","unlimited_quota":true,"prompts":" support , faq,support","prompts_only":true}`, user, &tok)
	if tok.Prompts != "support,faq" || !tok.PromptsOnly {
		t.Fatalf("created = %+v", tok)
	}
	st, err := a.state.TokenByID(context.Background(), tok.ID)
	if err != nil || !st.PromptsOnly || !st.Prompts["faq"] || len(st.Prompts) != 2 {
		t.Fatalf("state = %+v, %v", st, err)
	}
	mustAPI(t, a, http.MethodPut, "/api/token/", fmt.Sprintf(`{"id":%d,"prompts_only":false}`, tok.ID), user, &tok)
	if tok.Prompts != "support,faq" || tok.PromptsOnly {
		t.Errorf("a PUT naming one field keeps the other: %+v", tok)
	}
	if st, _ := a.state.TokenByID(context.Background(), tok.ID); st.PromptsOnly {
		t.Error("state kept prompts_only")
	}
	if code, r, _ := apiCall(t, a, http.MethodPut, "/api/token/", fmt.Sprintf(`{"id":%d,"prompts":"a b"}`, tok.ID), user); code != http.StatusUnprocessableEntity || !strings.Contains(r.Message, "prompts") {
		t.Errorf("a bad prompt name = %d %q", code, r.Message)
	}
}
