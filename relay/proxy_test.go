package relay

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
)

// TestRelayProxy covers RELAY_PROXY: with a proxy set, upstream calls go
// through it, even to a host this machine cannot resolve.
func TestRelayProxy(t *testing.T) {
	b := setup(t)
	var proxied atomic.Int64
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A forward proxy gets the absolute URL of the upstream.
		if r.URL.Host != "upstream.invalid" || r.URL.Path != "/v1/chat/completions" {
			http.Error(w, "unexpected "+r.URL.String(), http.StatusBadGateway)
			return
		}
		proxied.Add(1)
		body, _ := io.ReadAll(r.Body)
		okChat(w, r, body)
	}))
	t.Cleanup(proxy.Close)
	pu, _ := url.Parse(proxy.URL)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := httptest.NewServer(NewServer(b.st, b.meter, NewClient(pu), log, Config{}))
	t.Cleanup(srv.Close)
	b.channel("http://upstream.invalid", channelOpts{})
	key := b.token(tokenOpts{})
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/chat/completions", strings.NewReader(chatBody))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || proxied.Load() != 1 {
		t.Fatalf("status %d, %d requests through the proxy: %s", res.StatusCode, proxied.Load(), body)
	}
}
