package handlers

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"oneapi/relay/adaptor"
	"oneapi/state"
)

// TestAPIMultiKeyChannel: with multi_key the key lines make one channel
// whose keys rotate; without it, one channel each, as in One API. The keys
// API shows hints only, a disabled key's reason, and enables it again.
func TestAPIMultiKeyChannel(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	_, admin := apiTestUser(t, a, "admin", roleAdmin)
	keys := []string{"sk-key-one-0000000000000000aaaa", "sk-key-two-0000000000000000bbbb", "sk-key-three-00000000000000cccc"}

	var created []apiChannel
	mustAPI(t, a, http.MethodPost, "/api/channel/", `{"type":1,"name":"pool","key":"`+strings.Join(keys, `\n`)+`",
		"models":"gpt-4o-mini","config":{"multi_key":"true","timeout":"45","headers":"X-Team: ml\nX-Env: prod"}}`, admin, &created)
	if len(created) != 1 {
		t.Fatalf("multi_key created %d channels, want 1", len(created))
	}
	id := created[0].ID
	ch := a.state.Routes().Channel(id)
	if ch == nil || ch.Keys == nil || ch.Keys.Len() != 3 || ch.Options.Timeout.Seconds() != 45 || ch.Options.Headers.Get("X-Env") != "prod" {
		t.Fatalf("state channel = %+v", ch)
	}
	seen := map[string]bool{}
	for range 6 {
		seen[ch.Keys.Next()] = true
	}
	if len(seen) != 3 {
		t.Errorf("rotation used %d keys, want 3", len(seen))
	}

	var statuses []state.KeyStatus
	raw := mustAPI(t, a, http.MethodGet, fmt.Sprintf("/api/channel/keys/%d", id), "", admin, &statuses)
	if len(statuses) != 3 || statuses[1].Hint != "…bbbb" || !statuses[1].Enabled {
		t.Errorf("keys = %+v", statuses)
	}
	for _, k := range keys {
		if strings.Contains(raw, k) {
			t.Errorf("keys API shows a key: %s", raw)
		}
	}

	// A key fails: disabled alone, with its reason, on every node's state.
	whole, err := ch.Keys.Disable(context.Background(), keys[1], "Incorrect API key provided")
	if err != nil || whole {
		t.Fatalf("Disable = %v, %v", whole, err)
	}
	mustAPI(t, a, http.MethodGet, fmt.Sprintf("/api/channel/keys/%d", id), "", admin, &statuses)
	if statuses[1].Enabled || statuses[1].Reason != "Incorrect API key provided" || statuses[1].DisabledAt == nil || !statuses[0].Enabled {
		t.Errorf("after disabling key 2: %+v", statuses)
	}
	ch = a.state.Routes().Channel(id)
	for range 6 {
		if ch.Keys.Next() == keys[1] {
			t.Fatal("a disabled key is still in rotation")
		}
	}
	if n := countRows(t, a, "logs WHERE type = 4 AND content LIKE '%key …bbbb disabled automatically (2 of 3 keys left)%'"); n != 1 {
		t.Errorf("%d system log rows for the key", n)
	}

	var n int64
	mustAPI(t, a, http.MethodPost, fmt.Sprintf("/api/channel/keys/%d/enable", id), `{"hint":"…bbbb"}`, admin, &n)
	if ch = a.state.Routes().Channel(id); n != 1 || ch.Keys.Usable() != 3 {
		t.Errorf("enable: %d, usable %d", n, ch.Keys.Usable())
	}

	// The last key going disables the channel and forgets its disabled keys.
	for i, k := range keys {
		ch = a.state.Routes().Channel(id)
		whole, err := ch.Keys.Disable(context.Background(), k, "dead")
		if err != nil || whole != (i == 2) {
			t.Fatalf("Disable key %d = %v, %v", i, whole, err)
		}
	}
	if ch = a.state.Routes().Channel(id); ch.Status != state.StatusAutoDisabled || ch.Keys.Usable() != 3 {
		t.Errorf("after every key failed: status %d, usable %d", ch.Status, ch.Keys.Usable())
	}

	// Without multi_key, three lines are three channels.
	mustAPI(t, a, http.MethodPost, "/api/channel/", `{"type":1,"name":"split","key":"`+strings.Join(keys, `\n`)+`","models":"m"}`, admin, &created)
	if len(created) != 3 {
		t.Errorf("without multi_key: %d channels, want 3", len(created))
	}
	// An update may replace a multi-key channel's keys, not a plain one's with several.
	code, r, _ := apiCall(t, a, http.MethodPut, "/api/channel/", fmt.Sprintf(`{"id":%d,"key":"a-long-key-number-1\nanother-long-key-2"}`, created[0].ID), admin)
	if code != http.StatusUnprocessableEntity || !strings.Contains(r.Message, "multi_key") {
		t.Errorf("several keys on a plain channel = %d %q", code, r.Message)
	}
	mustAPI(t, a, http.MethodPut, "/api/channel/", fmt.Sprintf(`{"id":%d,"key":"a-long-key-number-1\nanother-long-key-2"}`, id), admin, nil)
	if ch = a.state.Routes().Channel(id); ch.Keys.Len() != 2 {
		t.Errorf("after the update: %d keys", ch.Keys.Len())
	}
}

func TestAPIChannelOptionsValidation(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	_, admin := apiTestUser(t, a, "admin", roleAdmin)
	for _, tt := range []struct{ config, want string }{
		{`{"proxy":"ftp://proxy.example"}`, "proxy"},
		{`{"timeout":"soon"}`, "timeout"},
		{`{"timeout":"-3"}`, "timeout"},
		{`{"headers":"no colon here"}`, "headers"},
		{`{"headers":"Host: evil.example"}`, "Host"},
		{`{"headers":"X-A: b\rX-Injected: 1"}`, "control character"},
		{`{"multi_key":"yes"}`, "multi_key"},
	} {
		code, r, _ := apiCall(t, a, http.MethodPost, "/api/channel/", `{"type":1,"name":"c","key":"k-0123456789","models":"m","config":`+tt.config+`}`, admin)
		if code != http.StatusUnprocessableEntity || !strings.Contains(r.Message, tt.want) {
			t.Errorf("config %s = %d %q, want 422 about %s", tt.config, code, r.Message, tt.want)
		}
	}
}

// TestAPIChannelFetchModels lists a channel's models from its upstream, with
// the channel's key and extra headers; a refused key is a 502 that never
// shows it.
func TestAPIChannelFetchModels(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	_, admin := apiTestUser(t, a, "admin", roleAdmin)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/models" || r.Header.Get("Authorization") != "Bearer sk-vllm-key-0123456789" || r.Header.Get("X-Team") != "ml" {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintf(w, `{"error":{"message":"bad key %s","code":"invalid_api_key"}}`, strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
			return
		}
		w.Write([]byte(`{"object":"list","data":[{"id":"Qwen/Qwen3-8B"},{"id":"BAAI/bge-m3"}]}`))
	}))
	defer up.Close()
	var created []apiChannel
	mustAPI(t, a, http.MethodPost, "/api/channel/", fmt.Sprintf(`{"type":%d,"name":"v","key":"sk-vllm-key-0123456789","base_url":%q,"models":"x","config":{"headers":"X-Team: ml"}}`,
		adaptor.TypeVLLM, up.URL), admin, &created)
	var models []string
	mustAPI(t, a, http.MethodGet, fmt.Sprintf("/api/channel/fetch_models/%d", created[0].ID), "", admin, &models)
	if strings.Join(models, ",") != "Qwen/Qwen3-8B,BAAI/bge-m3" {
		t.Errorf("models = %v", models)
	}
	mustAPI(t, a, http.MethodPost, "/api/channel/", fmt.Sprintf(`{"type":%d,"name":"w","key":"sk-wrong-key-0123456789","base_url":%q,"models":"x"}`,
		adaptor.TypeVLLM, up.URL), admin, &created)
	code, r, raw := apiCall(t, a, http.MethodGet, fmt.Sprintf("/api/channel/fetch_models/%d", created[0].ID), "", admin)
	if code != http.StatusBadGateway || r.Success || strings.Contains(raw, "sk-wrong-key-0123456789") {
		t.Errorf("wrong key = %d %s", code, raw)
	}
}
