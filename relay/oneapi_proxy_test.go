package relay

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"oneapi/pricing"
	"oneapi/relay/adaptor"
	"oneapi/state"
)

// proxyCall sends method path with body and the key to the relay.
func (b *bundle) proxyCall(method, path, key, body string, header http.Header) *http.Response {
	b.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, b.srv.URL+path, rd)
	for k, vs := range header {
		req.Header[k] = vs
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	return res
}

// TestOneAPIProxy: /v1/oneapi/proxy/{channel}/... forwards any method to
// the Proxy channel's base URL with its key, for admins only, streams the
// reply back, and bills answered calls per call.
func TestOneAPIProxy(t *testing.T) {
	b := setup(t)
	var mu sync.Mutex
	var seen []string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, fmt.Sprintf("%s %s?%s auth=%q cookie=%q body=%s", r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Get("Authorization"), r.Header.Get("Cookie"), body))
		mu.Unlock()
		switch r.URL.Path {
		case "/base/fail":
			w.WriteHeader(500)
			fmt.Fprint(w, `{"error":"upstream broke"}`)
			return
		case "/base/stream":
			w.Header().Set("Content-Type", "text/event-stream")
			for i := 0; i < 3; i++ {
				fmt.Fprintf(w, "data: %d\n\n", i)
				w.(http.Flusher).Flush()
			}
			return
		}
		w.Header().Set("Set-Cookie", "upstream=1")
		w.Header().Set("X-Upstream", "yes")
		w.WriteHeader(201)
		fmt.Fprintf(w, `{"ok":true,"path":%q}`, r.URL.Path)
	}))
	t.Cleanup(up.Close)
	if _, err := b.pool.Exec(t.Context(), "INSERT INTO options (key, value) VALUES ('ModelRatio', $1) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value", `{"proxy":2}`); err != nil {
		t.Fatal(err)
	}
	chID := b.cnChannel(adaptor.TypeProxy, up.URL+"/base", "", "Bearer sk-proxy-channel-key", "")
	openaiCh := b.channel(up.URL, channelOpts{})
	admin := b.token(tokenOpts{})
	perCall := pricing.PerCall(pricing.Price{Model: 2, Group: 1}, 1)
	if p, _ := b.st.Options().Price("proxy", "default", adaptor.TypeProxy); p.Model != 2 {
		t.Fatalf("proxy price %v not loaded", p.Model)
	}

	res := b.proxyCall(http.MethodPut, fmt.Sprintf("/v1/oneapi/proxy/%d/v2/items/a%%2Fb?x=1&y=2", chID), admin, `{"name":"n"}`, http.Header{"Cookie": {"session=console"}})
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 201 || string(raw) != `{"ok":true,"path":"/base/v2/items/a/b"}` || res.Header.Get("X-Upstream") != "yes" || res.Header.Get("Set-Cookie") != "" {
		t.Fatalf("proxied PUT = %d %s %v", res.StatusCode, raw, res.Header)
	}
	mu.Lock()
	if len(seen) != 1 || seen[0] != `PUT /base/v2/items/a%2Fb?x=1&y=2 auth="Bearer sk-proxy-channel-key" cookie="" body={"name":"n"}` {
		t.Fatalf("upstream saw %q", seen)
	}
	mu.Unlock()

	// A stream passes through as it comes.
	res = b.proxyCall(http.MethodGet, fmt.Sprintf("/v1/oneapi/proxy/%d/stream", chID), admin, "", nil)
	raw, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(raw) != "data: 0\n\ndata: 1\n\ndata: 2\n\n" {
		t.Fatalf("stream = %d %q", res.StatusCode, raw)
	}
	// Dot segments stay under the base URL, on its host.
	res = b.proxyCall(http.MethodGet, fmt.Sprintf("/v1/oneapi/proxy/%d/%%2E%%2E/%%2E%%2E/escape", chID), admin, "", nil)
	raw, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 201 || string(raw) != `{"ok":true,"path":"/base/escape"}` {
		t.Fatalf("dot segments = %d %s", res.StatusCode, raw)
	}
	// An upstream failure is passed on and not billed.
	res = b.proxyCall(http.MethodPost, fmt.Sprintf("/v1/oneapi/proxy/%d/fail", chID), admin, "{}", nil)
	res.Body.Close()
	if res.StatusCode != 500 {
		t.Fatalf("failure = %d", res.StatusCode)
	}

	b.settled(3)
	if n := b.scalar("SELECT count(*) FROM logs WHERE type = 2 AND model_name = 'proxy' AND quota = $1 AND channel_id = $2", perCall, chID); n != 3 {
		t.Errorf("%d proxied calls billed %d, want 3", n, perCall)
	}

	// Refusals, none of which reaches upstream.
	mu.Lock()
	before := len(seen)
	mu.Unlock()
	user := b.user("plain", state.RoleUser, 1_000_000)
	userKey := b.token(tokenOpts{user: &user})
	for _, tt := range []struct {
		name, path, key string
		status          int
		code            string
	}{
		{"not an admin", fmt.Sprintf("/v1/oneapi/proxy/%d/x", chID), userKey, 403, "proxy_not_allowed"},
		{"no key", fmt.Sprintf("/v1/oneapi/proxy/%d/x", chID), "", 401, "missing_api_key"},
		{"not a Proxy channel", fmt.Sprintf("/v1/oneapi/proxy/%d/x", openaiCh), admin, 404, "channel_not_found"},
		{"no such channel", "/v1/oneapi/proxy/99999/x", admin, 404, "channel_not_found"},
		{"no channel id", "/v1/oneapi/proxy/abc/x", admin, 404, "unknown_url"},
	} {
		res := b.proxyCall(http.MethodGet, tt.path, tt.key, "", nil)
		if res.StatusCode != tt.status {
			t.Errorf("%s: status %d, want %d", tt.name, res.StatusCode, tt.status)
		}
		if code := decodeError(t, res); code != tt.code {
			t.Errorf("%s: code %q, want %q", tt.name, code, tt.code)
		}
	}
	mu.Lock()
	if len(seen) != before {
		t.Errorf("refused calls reached upstream: %q", seen[before:])
	}
	mu.Unlock()

	// Upstream gone: 502, refunded.
	up.Close()
	res = b.proxyCall(http.MethodGet, fmt.Sprintf("/v1/oneapi/proxy/%d/x", chID), admin, "", nil)
	if res.StatusCode != http.StatusBadGateway {
		t.Errorf("upstream down: %d", res.StatusCode)
	}
	decodeError(t, res)
	b.settled(3)
	if n := b.scalar("SELECT count(*) FROM logs WHERE type = 2 AND model_name = 'proxy'"); n != 3 {
		t.Errorf("%d proxy log rows, want 3 (failures are not billed)", n)
	}
}
