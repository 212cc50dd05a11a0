package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"oneapi/keys"
	"oneapi/queries"
)

// apiTestReply is One API's reply shape, with the channel test's time.
type apiTestReply struct {
	Success bool            `json:"success"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
	Time    float64         `json:"time"`
	Model   string          `json:"model"`
}

// apiTestUser creates an enabled user with role and a personal access token,
// and returns the user's id and the Authorization header that signs in as them.
func apiTestUser(t *testing.T, a *testApp, name string, role int16) (int64, string) {
	t.Helper()
	ctx := context.Background()
	q := queries.New(a.pool)
	u, err := q.UserCreate(ctx, queries.UserCreateParams{Username: name, Role: role, Status: statusEnabled, GroupName: "default"})
	if err != nil {
		t.Fatal(err)
	}
	tok := keys.Random(32)
	if err := q.UserSetAccessToken(ctx, queries.UserSetAccessTokenParams{ID: u.ID, AccessTokenHash: keys.Hash(tok), AccessTokenPrefix: keys.Prefix(tok)}); err != nil {
		t.Fatal(err)
	}
	return u.ID, "Bearer " + tok
}

// apiCall sends a JSON request as auth ("" for anonymous) and decodes the
// reply. The raw body is returned too, for checks that no secret is in it.
func apiCall(t *testing.T, a *testApp, method, path, body, auth string) (int, apiTestReply, string) {
	t.Helper()
	h := []string{"Content-Type", "application/json"}
	if auth != "" {
		h = append(h, "Authorization", auth)
	}
	rec := a.do(method, path, body, h...)
	var r apiTestReply
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
		t.Fatalf("%s %s: reply %d is not JSON: %q", method, path, rec.Code, rec.Body.String())
	}
	if (rec.Code == http.StatusOK) != r.Success {
		t.Errorf("%s %s: status %d with success=%v (%s)", method, path, rec.Code, r.Success, r.Message)
	}
	return rec.Code, r, rec.Body.String()
}

// mustAPI is apiCall for a request that must succeed.
func mustAPI(t *testing.T, a *testApp, method, path, body, auth string, data any) string {
	t.Helper()
	code, r, raw := apiCall(t, a, method, path, body, auth)
	if code != http.StatusOK {
		t.Fatalf("%s %s = %d %q", method, path, code, r.Message)
	}
	if data != nil {
		if err := json.Unmarshal(r.Data, data); err != nil {
			t.Fatalf("%s %s: data %s: %v", method, path, r.Data, err)
		}
	}
	return raw
}

// channelRowText is a channel's whole row as PostgreSQL prints it, and its
// raw ciphertext: nowhere may the plain key appear.
func assertKeyNotStored(t *testing.T, a *testApp, id int64, key string) {
	t.Helper()
	var text string
	var ct []byte
	if err := a.pool.QueryRow(context.Background(), "SELECT c::text, key_ciphertext FROM channels c WHERE id = $1", id).Scan(&text, &ct); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(text, key) || strings.Contains(string(ct), key) || strings.Contains(text, fmt.Sprintf("%x", key)) {
		t.Errorf("channel %d stores its key in the clear: %s", id, text)
	}
}

func countRows(t *testing.T, a *testApp, table string) int {
	t.Helper()
	var n int
	if err := a.pool.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestAPIAuth(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	_, user := apiTestUser(t, a, "alice", roleUser)
	_, admin := apiTestUser(t, a, "adam", roleAdmin)
	_, root := apiTestUser(t, a, "rooty", roleRoot)
	bareAdmin := strings.TrimPrefix(admin, "Bearer ")

	tests := []struct {
		name, method, path, auth string
		want                     int
	}{
		{"anonymous channel list", http.MethodGet, "/api/channel/", "", http.StatusUnauthorized},
		{"bad token", http.MethodGet, "/api/channel/", "Bearer nope", http.StatusUnauthorized},
		{"user channel list", http.MethodGet, "/api/channel/", user, http.StatusForbidden},
		{"user channel create", http.MethodPost, "/api/channel/", user, http.StatusForbidden},
		{"user channel update", http.MethodPut, "/api/channel/", user, http.StatusForbidden},
		{"user channel delete", http.MethodDelete, "/api/channel/1", user, http.StatusForbidden},
		{"user channel test", http.MethodGet, "/api/channel/test/1", user, http.StatusForbidden},
		{"user channel search", http.MethodGet, "/api/channel/search?keyword=x", user, http.StatusForbidden},
		{"admin channel list", http.MethodGet, "/api/channel/", admin, http.StatusOK},
		{"admin bare token", http.MethodGet, "/api/channel/?p=0", bareAdmin, http.StatusOK},
		{"admin without slash", http.MethodGet, "/api/channel", admin, http.StatusOK},
		{"root channel list", http.MethodGet, "/api/channel/", root, http.StatusOK},
		{"anonymous token list", http.MethodGet, "/api/token/", "", http.StatusUnauthorized},
		{"anonymous token create", http.MethodPost, "/api/token/", "", http.StatusUnauthorized},
		{"user token list", http.MethodGet, "/api/token/", user, http.StatusOK},
		{"anonymous options", http.MethodGet, "/api/option/", "", http.StatusUnauthorized},
		{"user options", http.MethodGet, "/api/option/", user, http.StatusForbidden},
		{"admin options", http.MethodGet, "/api/option/", admin, http.StatusForbidden},
		{"admin option update", http.MethodPut, "/api/option/", admin, http.StatusForbidden},
		{"root options", http.MethodGet, "/api/option/", root, http.StatusOK},
		{"anonymous access token", http.MethodGet, "/api/user/token", "", http.StatusUnauthorized},
		{"anonymous status", http.MethodGet, "/api/status", "", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, r, _ := apiCall(t, a, tt.method, tt.path, "{}", tt.auth)
			if code != tt.want {
				t.Errorf("= %d %q, want %d", code, r.Message, tt.want)
			}
			if code != http.StatusOK && (r.Success || r.Message == "") {
				t.Errorf("failure body = %+v, want success:false with a message", r)
			}
		})
	}
}

func TestAPIChannelLifecycle(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	_, admin := apiTestUser(t, a, "admin", roleAdmin)
	const key = "sk-upstream-secret-0123456789abcdef"

	var created []apiChannel
	raw := mustAPI(t, a, http.MethodPost, "/api/channel/", `{"type":1,"name":"main","key":"`+key+`",
		"base_url":"https://api.example.com","models":"gpt-4o, gpt-4o-mini,,gpt-4o","group":"default,vip",
		"model_mapping":"{\"gpt-4o\":\"gpt-4o-2024-08-06\"}","priority":5,"weight":3,
		"config":{"organization":"org-1"},"system_prompt":"be brief","test_model":"gpt-4o-mini"}`, admin, &created)
	if len(created) != 1 {
		t.Fatalf("created %d channels", len(created))
	}
	ch := created[0]
	if ch.Name != "main" || ch.Type != 1 || ch.Models != "gpt-4o,gpt-4o-mini" || ch.Group != "default,vip" ||
		ch.Priority != 5 || ch.Weight != 3 || ch.Status != 1 || ch.Config != `{"organization":"org-1"}` ||
		ch.TestModel != "gpt-4o-mini" || ch.SystemPrompt != "be brief" || ch.CreatedTime == 0 || ch.KeyHint != keys.Hint(key) {
		t.Errorf("created = %+v", ch)
	}
	responses := []string{raw}
	assertKeyNotStored(t, a, ch.ID, key)

	// The relay sees the channel at once, with the key decrypted.
	sc := a.state.Routes().Channel(ch.ID)
	if sc == nil || sc.Key != key || sc.UpstreamModel("gpt-4o") != "gpt-4o-2024-08-06" || !a.state.Routes().Serves("vip", "gpt-4o-mini") {
		t.Fatalf("state channel = %+v", sc)
	}

	var list []apiChannel
	responses = append(responses, mustAPI(t, a, http.MethodGet, "/api/channel/?p=0", "", admin, &list))
	if len(list) != 1 || list[0].ID != ch.ID {
		t.Errorf("list = %+v", list)
	}
	responses = append(responses, mustAPI(t, a, http.MethodGet, "/api/channel/?p=1", "", admin, &list))
	if len(list) != 0 {
		t.Errorf("page 1 = %+v", list)
	}
	responses = append(responses, mustAPI(t, a, http.MethodGet, "/api/channel/search?keyword=MAI", "", admin, &list))
	if len(list) != 1 {
		t.Errorf("search by name = %+v", list)
	}
	responses = append(responses, mustAPI(t, a, http.MethodGet, "/api/channel/search?keyword=nothing-like-it", "", admin, &list))
	if len(list) != 0 {
		t.Errorf("search miss = %+v", list)
	}
	var got apiChannel
	responses = append(responses, mustAPI(t, a, http.MethodGet, fmt.Sprintf("/api/channel/%d", ch.ID), "", admin, &got))
	if got.ID != ch.ID || got.Name != "main" {
		t.Errorf("get = %+v", got)
	}

	// A partial update (One API scripts send {"id","status"}) keeps the rest,
	// including the key.
	responses = append(responses, mustAPI(t, a, http.MethodPut, "/api/channel/", fmt.Sprintf(`{"id":%d,"status":2}`, ch.ID), admin, &got))
	if got.Status != 2 || got.Name != "main" || got.Models != "gpt-4o,gpt-4o-mini" || got.Weight != 3 {
		t.Errorf("after status update = %+v", got)
	}
	if sc := a.state.Routes().Channel(ch.ID); sc.Status != 2 || sc.Key != key || a.state.Routes().Serves("vip", "gpt-4o") {
		t.Errorf("state after disable = %+v", sc)
	}
	// A whole object read back and saved (key "") keeps the key too.
	got.Name, got.Status = "renamed", 1
	body, _ := json.Marshal(got)
	responses = append(responses, mustAPI(t, a, http.MethodPut, "/api/channel/", string(body), admin, &got))
	if got.Name != "renamed" || got.Status != 1 || a.state.Routes().Channel(ch.ID).Key != key {
		t.Errorf("after round trip = %+v", got)
	}
	// A new key replaces the old one.
	const key2 = "sk-rotated-key-abcdefghijklmnop"
	responses = append(responses, mustAPI(t, a, http.MethodPut, "/api/channel", fmt.Sprintf(`{"id":%d,"key":"%s"}`, ch.ID, key2), admin, &got))
	if got.KeyHint != keys.Hint(key2) || a.state.Routes().Channel(ch.ID).Key != key2 {
		t.Errorf("after key change = %+v", got)
	}
	assertKeyNotStored(t, a, ch.ID, key2)

	for _, r := range responses {
		if strings.Contains(r, key) || strings.Contains(r, key2) {
			t.Errorf("a reply carries a channel key: %s", r)
		}
	}

	mustAPI(t, a, http.MethodDelete, fmt.Sprintf("/api/channel/%d", ch.ID), "", admin, nil)
	if a.state.Routes().Channel(ch.ID) != nil {
		t.Error("deleted channel still in state")
	}
	for _, path := range []string{fmt.Sprintf("/api/channel/%d", ch.ID), "/api/channel/abc"} {
		if code, _, _ := apiCall(t, a, http.MethodGet, path, "", admin); code != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", path, code)
		}
	}
	if code, _, _ := apiCall(t, a, http.MethodDelete, fmt.Sprintf("/api/channel/%d", ch.ID), "", admin); code != http.StatusNotFound {
		t.Errorf("second delete = %d, want 404", code)
	}
	if code, _, _ := apiCall(t, a, http.MethodPut, "/api/channel/", fmt.Sprintf(`{"id":%d,"name":"x"}`, ch.ID), admin); code != http.StatusNotFound {
		t.Errorf("update of deleted = %d, want 404", code)
	}
}

func TestAPIChannelMultiKey(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	_, admin := apiTestUser(t, a, "admin", roleAdmin)
	ks := []string{"sk-first-key-aaaaaaaaaaaaaaaa1111", "sk-second-key-bbbbbbbbbbbbbbb2222", "sk-third-key-cccccccccccccccc3333"}
	body, _ := json.Marshal(map[string]any{"type": 1, "name": "pool", "key": ks[0] + "\n" + ks[1] + "\r\n\n" + ks[2] + "\n", "models": "gpt-4o"})
	var created []apiChannel
	raw := mustAPI(t, a, http.MethodPost, "/api/channel/", string(body), admin, &created)
	if len(created) != 3 {
		t.Fatalf("created %d channels, want 3", len(created))
	}
	for i, ch := range created {
		if ch.Name != "pool" || ch.KeyHint != keys.Hint(ks[i]) {
			t.Errorf("channel %d = %+v", i, ch)
		}
		if sc := a.state.Routes().Channel(ch.ID); sc == nil || sc.Key != ks[i] {
			t.Errorf("state channel %d = %+v", ch.ID, sc)
		}
		assertKeyNotStored(t, a, ch.ID, ks[i])
	}
	list := mustAPI(t, a, http.MethodGet, "/api/channel/", "", admin, nil)
	for _, k := range ks {
		if strings.Contains(raw, k) || strings.Contains(list, k) {
			t.Errorf("key %s in a reply", k)
		}
	}

	// A JSON key (a service account, say) is one key however many lines it has.
	sa := "{\n  \"type\": \"service_account\",\n  \"private_key\": \"x\"\n}"
	body, _ = json.Marshal(map[string]any{"type": 8, "key": sa, "models": "gemini-pro", "base_url": "https://vertex.example.com"})
	mustAPI(t, a, http.MethodPost, "/api/channel/", string(body), admin, &created)
	if len(created) != 1 || a.state.Routes().Channel(created[0].ID).Key != strings.TrimSpace(sa) {
		t.Errorf("JSON key split: %+v", created)
	}
}

func TestAPIChannelValidation(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	_, admin := apiTestUser(t, a, "admin", roleAdmin)
	valid := map[string]any{"type": 1, "key": "sk-valid-key-1234567890", "models": "gpt-4o"}
	with := func(kv ...any) string {
		m := map[string]any{}
		for k, v := range valid {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	tests := []struct {
		name, body string
		want       int
		msg        string
	}{
		{"malformed JSON", `{"type":1,`, http.StatusBadRequest, "invalid JSON"},
		{"empty body", ``, http.StatusBadRequest, "invalid JSON"},
		{"wrong field type", with("weight", "heavy"), http.StatusBadRequest, "weight"},
		{"unknown type", with("type", 999), http.StatusUnprocessableEntity, "unknown channel type 999"},
		{"missing type", `{"key":"k-1234567890","models":"m"}`, http.StatusUnprocessableEntity, "unknown channel type 0"},
		{"empty key", with("key", ""), http.StatusUnprocessableEntity, "key is required"},
		{"blank key lines", with("key", "\n \n"), http.StatusUnprocessableEntity, "key is required"},
		{"empty models", with("models", " , "), http.StatusUnprocessableEntity, "models"},
		{"model_mapping not JSON", with("model_mapping", "gpt-4o=gpt-4"), http.StatusUnprocessableEntity, "model_mapping"},
		{"model_mapping array", with("model_mapping", `["a"]`), http.StatusUnprocessableEntity, "model_mapping"},
		{"model_mapping number values", with("model_mapping", `{"a":1}`), http.StatusUnprocessableEntity, "model_mapping"},
		{"config not object", with("config", `"x"`), http.StatusUnprocessableEntity, "config"},
		{"config non-string values", with("config", map[string]any{"region": 1}), http.StatusUnprocessableEntity, "config"},
		{"base_url ftp", with("base_url", "ftp://example.com"), http.StatusUnprocessableEntity, "base_url"},
		{"base_url no host", with("base_url", "https://"), http.StatusUnprocessableEntity, "base_url"},
		{"base_url needed", with("type", 3), http.StatusUnprocessableEntity, "base_url is required"},
		{"negative weight", with("weight", -1), http.StatusUnprocessableEntity, "weight"},
		{"bad status", with("status", 7), http.StatusUnprocessableEntity, "status"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, r, _ := apiCall(t, a, http.MethodPost, "/api/channel/", tt.body, admin)
			if code != tt.want || r.Success || !strings.Contains(r.Message, tt.msg) {
				t.Errorf("= %d %q, want %d containing %q", code, r.Message, tt.want, tt.msg)
			}
		})
	}
	if n := countRows(t, a, "channels"); n != 0 {
		t.Fatalf("%d channels stored by invalid requests", n)
	}

	var ch []apiChannel
	mustAPI(t, a, http.MethodPost, "/api/channel/", with("name", "keep"), admin, &ch)
	id := ch[0].ID
	updates := []struct{ name, body, msg string }{
		{"no id", `{"name":"x"}`, "id is required"},
		{"two keys", fmt.Sprintf(`{"id":%d,"key":"k-aaaaaaaaaa\nk-bbbbbbbbbb"}`, id), "one key"},
		{"empty models", fmt.Sprintf(`{"id":%d,"models":""}`, id), "models"},
		{"bad mapping", fmt.Sprintf(`{"id":%d,"name":"changed","model_mapping":"nope"}`, id), "model_mapping"},
		{"bad type", fmt.Sprintf(`{"id":%d,"type":0}`, id), "unknown channel type"},
	}
	for _, tt := range updates {
		t.Run("update "+tt.name, func(t *testing.T) {
			code, r, _ := apiCall(t, a, http.MethodPut, "/api/channel/", tt.body, admin)
			if code != http.StatusUnprocessableEntity || !strings.Contains(r.Message, tt.msg) {
				t.Errorf("= %d %q, want 422 containing %q", code, r.Message, tt.msg)
			}
		})
	}
	var got apiChannel
	mustAPI(t, a, http.MethodGet, fmt.Sprintf("/api/channel/%d", id), "", admin, &got)
	if got.Name != "keep" || got.Models != "gpt-4o" {
		t.Errorf("failed updates changed the channel: %+v", got)
	}
}

// fakeUpstream is an OpenAI-compatible server for channel tests.
type fakeUpstream struct {
	*httptest.Server
	key   string
	calls atomic.Int32
	last  atomic.Pointer[map[string]any]
}

func newFakeUpstream(t *testing.T, key string) *fakeUpstream {
	f := &fakeUpstream{key: key}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.calls.Add(1)
		body, _ := io.ReadAll(r.Body)
		var req map[string]any
		_ = json.Unmarshal(body, &req)
		f.last.Store(&req)
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path != "/v1/chat/completions" {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprintf(w, `{"error":{"message":"no route %s","type":"invalid_request_error"}}`, r.URL.Path)
			return
		}
		if got := r.Header.Get("Authorization"); got != "Bearer "+f.key {
			// Real upstreams echo part of the key; this one echoes all of it.
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintf(w, `{"error":{"message":"Incorrect API key provided: %s.","type":"invalid_request_error","code":"invalid_api_key"}}`,
				strings.TrimPrefix(got, "Bearer "))
			return
		}
		fmt.Fprintf(w, `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":%q,
			"choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"length"}],
			"usage":{"prompt_tokens":8,"completion_tokens":1,"total_tokens":9}}`, req["model"])
	}))
	t.Cleanup(f.Close)
	return f
}

func TestAPIChannelProbe(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	_, admin := apiTestUser(t, a, "admin", roleAdmin)
	const goodKey = "sk-good-upstream-key-0123456789"
	up := newFakeUpstream(t, goodKey)

	create := func(key, extra string) int64 {
		t.Helper()
		var ch []apiChannel
		mustAPI(t, a, http.MethodPost, "/api/channel/", fmt.Sprintf(`{"type":1,"key":%q,"base_url":%q,"models":"gpt-4o,gpt-4o-mini"%s}`, key, up.URL, extra), admin, &ch)
		return ch[0].ID
	}
	good := create(goodKey, `,"test_model":"gpt-4o-mini","model_mapping":"{\"gpt-4o\":\"gpt-4o-2024-08-06\"}"`)
	plain := create(goodKey, "")
	const badKey = "sk-revoked-upstream-key-9876543210"
	bad := create(badKey, "")

	tests := []struct {
		name      string
		id        int64
		query     string
		wantOK    bool
		wantModel string // model the client is told
		upstream  string // model upstream received
	}{
		{"test model by default", good, "", true, "gpt-4o-mini", "gpt-4o-mini"},
		{"explicit model, mapped", good, "?model=gpt-4o", true, "gpt-4o", "gpt-4o-2024-08-06"},
		{"first model when no test model", plain, "", true, "gpt-4o", "gpt-4o"},
		{"dead key", bad, "", false, "gpt-4o", "gpt-4o"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, r, raw := apiCall(t, a, http.MethodGet, fmt.Sprintf("/api/channel/test/%d%s", tt.id, tt.query), "", admin)
			if r.Success != tt.wantOK || r.Model != tt.wantModel {
				t.Fatalf("= %d %+v", code, r)
			}
			if got := (*up.last.Load())["model"]; got != tt.upstream {
				t.Errorf("upstream got model %v, want %s", got, tt.upstream)
			}
			if mt := (*up.last.Load())["max_tokens"]; mt != float64(1) {
				t.Errorf("max_tokens = %v", mt)
			}
			if strings.Contains(raw, goodKey) || strings.Contains(raw, badKey) {
				t.Errorf("reply carries the key: %s", raw)
			}
			if !tt.wantOK && (code != http.StatusBadGateway || !strings.Contains(r.Message, "Incorrect API key provided")) {
				t.Errorf("failure = %d %q, want 502 with the upstream's message", code, r.Message)
			}
			if !strings.Contains(raw, `"time":`) {
				t.Errorf("reply has no time: %s", raw)
			}
			var tested bool
			if err := a.pool.QueryRow(context.Background(), "SELECT test_time IS NOT NULL FROM channels WHERE id = $1", tt.id).Scan(&tested); err != nil || !tested {
				t.Errorf("test_time not recorded (%v)", err)
			}
		})
	}
	var ch apiChannel
	mustAPI(t, a, http.MethodGet, fmt.Sprintf("/api/channel/%d", good), "", admin, &ch)
	if ch.TestTime == 0 {
		t.Errorf("test_time = 0 after a test")
	}
	if code, _, _ := apiCall(t, a, http.MethodGet, "/api/channel/test/99999", "", admin); code != http.StatusNotFound {
		t.Errorf("test of a missing channel = %d, want 404", code)
	}
}
