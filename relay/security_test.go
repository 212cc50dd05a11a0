package relay

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestUpstreamRedirectNotFollowed: an upstream that answers with a redirect
// does not get the request (and the key) forwarded to wherever it points.
func TestUpstreamRedirectNotFollowed(t *testing.T) {
	b := setup(t)
	var elsewhere atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(target.Close)
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		http.Redirect(w, r, target.URL+"/v1/chat/completions", http.StatusTemporaryRedirect)
	})
	b.channel(up.URL, channelOpts{})
	res := b.post("/v1/chat/completions", b.token(tokenOpts{}), chatBody)
	if code := decodeError(t, res); res.StatusCode != http.StatusBadGateway {
		t.Errorf("status = %d (%s), want 502", res.StatusCode, code)
	}
	if up.hits.Load() != 1 || elsewhere.Load() != 0 {
		t.Errorf("upstream hits %d, redirect target hits %d: the redirect was followed", up.hits.Load(), elsewhere.Load())
	}
}

// TestTokenSubnets: a token's subnets hold against the socket peer (here
// 127.0.0.1), in any spelling of it, and a forged X-Forwarded-For does not
// move the client into an allowed range.
func TestTokenSubnets(t *testing.T) {
	b := setup(t)
	up := newUpstream(t, okChat)
	b.channel(up.URL, channelOpts{})
	tests := []struct {
		subnet, xff string
		allowed     bool
	}{
		{"127.0.0.1", "", true},
		{"127.0.0.0/8", "", true},
		{"::ffff:127.0.0.1", "", true},     // IPv4-mapped address
		{"::ffff:127.0.0.0/104", "", true}, // IPv4-mapped range
		{"::1", "", false},
		{"10.0.0.0/8", "10.1.2.3", false}, // forged header, no trusted proxy
		{"192.168.0.0/16, 127.0.0.1", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.subnet+" xff="+tt.xff, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, b.srv.URL+"/v1/chat/completions", strings.NewReader(chatBody))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+b.token(tokenOpts{subnet: tt.subnet}))
			if tt.xff != "" {
				req.Header.Set("X-Forwarded-For", tt.xff)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			if tt.allowed {
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					t.Errorf("status = %d, want 200", res.StatusCode)
				}
				return
			}
			if code := decodeError(t, res); res.StatusCode != http.StatusForbidden || code != "ip_not_allowed" {
				t.Errorf("= %d %s, want 403 ip_not_allowed", res.StatusCode, code)
			}
		})
	}
}

func TestClientIP(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	tests := []struct {
		name, remote, xff string
		trusted           []netip.Prefix
		want              string
	}{
		{"peer", "203.0.113.5:1", "", proxies, "203.0.113.5"},
		{"forged from the internet", "203.0.113.5:1", "10.1.1.1", proxies, "203.0.113.5"},
		{"forged, no proxies configured", "10.0.0.1:1", "198.51.100.7", nil, "10.0.0.1"},
		{"trusted proxy", "10.0.0.1:1", "198.51.100.7", proxies, "198.51.100.7"},
		{"client's own XFF entry is not believed", "10.0.0.1:1", "1.2.3.4, 198.51.100.7", proxies, "198.51.100.7"},
		{"proxy chain", "10.0.0.1:1", "198.51.100.7, 10.0.0.2", proxies, "198.51.100.7"},
		{"IPv4-mapped peer", "[::ffff:203.0.113.5]:1", "", proxies, "203.0.113.5"},
		{"IPv4-mapped proxy", "[::ffff:10.0.0.1]:1", "198.51.100.7", proxies, "198.51.100.7"},
		{"IPv6 proxy", "[fd00::1]:1", "2001:db8::9", proxies, "2001:db8::9"},
		{"garbage hop", "10.0.0.1:1", "198.51.100.7, not-an-ip", proxies, "10.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/v1/models", nil)
			r.RemoteAddr = tt.remote
			if tt.xff != "" {
				r.Header.Set("X-Forwarded-For", tt.xff)
			}
			if got := ClientIP(r, tt.trusted); got.String() != tt.want {
				t.Errorf("ClientIP = %s, want %s", got, tt.want)
			}
		})
	}
}

// TestSlowBodyTimesOut: a client that sends its headers and then trickles
// (or stops sending) its body is cut off after BodyReadTimeout instead of
// holding the connection for ever.
func TestSlowBodyTimesOut(t *testing.T) {
	b := setup(t)
	up := newUpstream(t, okChat)
	b.channel(up.URL, channelOpts{})
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := httptest.NewServer(NewServer(b.st, b.meter, NewClient(nil), log, Config{BodyReadTimeout: 300 * time.Millisecond}))
	t.Cleanup(srv.Close)

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	head := "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
		"Authorization: Bearer " + b.token(tokenOpts{}) + "\r\nContent-Length: 1000\r\n\r\n{\"model\":"
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestTimeout {
		t.Errorf("status = %d, want 408", res.StatusCode)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("answered after %v", d)
	}
	if up.hits.Load() != 0 {
		t.Error("a request without its body went upstream")
	}
	// The deadline is lifted after the body: a normal request on the same
	// server still works, including an answer slower than the deadline.
	slow := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		time.Sleep(600 * time.Millisecond)
		okChat(w, r, body)
	})
	b.channel(slow.URL, channelOpts{models: "slow-model"})
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, srv.URL+"/v1/chat/completions",
		strings.NewReader(`{"model":"slow-model","messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Authorization", "Bearer "+b.token(tokenOpts{}))
	req.Header.Set("Content-Type", "application/json")
	ok, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	ok.Body.Close()
	if ok.StatusCode != http.StatusOK {
		t.Errorf("slow answer after a timely body = %d, want 200", ok.StatusCode)
	}
}
