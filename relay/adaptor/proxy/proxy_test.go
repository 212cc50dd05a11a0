package proxy

import (
	"net/http"
	"testing"

	"oneapi/relay/adaptor"
)

func TestTarget(t *testing.T) {
	t.Parallel()
	ch := &adaptor.Channel{BaseURL: "https://upstream.example/api/"}
	for _, tt := range []struct{ rest, query, want string }{
		{"v1/things", "a=1", "https://upstream.example/api/v1/things?a=1"},
		{"", "", "https://upstream.example/api/"},
		{"dir/", "", "https://upstream.example/api/dir/"},
		{"../../etc/passwd", "", "https://upstream.example/api/etc/passwd"},
		{"a/%2E%2E/%2E%2E/secret", "", "https://upstream.example/api/secret"},
		{"//evil.example/x", "", "https://upstream.example/api/evil.example/x"},
		{"@evil.example/x", "", "https://upstream.example/api/@evil.example/x"},
		{"files/a%2Fb", "", "https://upstream.example/api/files/a%2Fb"},
		{"http://evil.example/", "", "https://upstream.example/api/http:/evil.example/"},
	} {
		u, err := Target(ch, tt.rest, tt.query)
		if err != nil || u.String() != tt.want || u.Host != "upstream.example" {
			t.Errorf("Target(%q) = %v, %v; want %s", tt.rest, u, err, tt.want)
		}
	}
	for _, base := range []string{"", "ftp://x", "upstream.example"} {
		if _, err := Target(&adaptor.Channel{BaseURL: base}, "x", ""); err == nil {
			t.Errorf("base %q accepted", base)
		}
	}
	if _, err := Target(ch, "%zz", ""); err == nil {
		t.Error("bad escape accepted")
	}
}

func TestHeaders(t *testing.T) {
	t.Parallel()
	in := http.Header{"Authorization": {"Bearer sk-gateway"}, "Cookie": {"session=1"}, "Connection": {"X-Hop"}, "X-Hop": {"1"},
		"Content-Type": {"application/json"}, "X-Custom": {"a", "b"}, "Accept-Encoding": {"br"}}
	h := RequestHeader(in, "Bearer sk-channel")
	if h.Get("Authorization") != "Bearer sk-channel" || h.Get("Cookie") != "" || h.Get("X-Hop") != "" || h.Get("Connection") != "" ||
		h.Get("Accept-Encoding") != "" || len(h["X-Custom"]) != 2 || h.Get("Content-Type") != "application/json" {
		t.Errorf("request header %v", h)
	}
	if in.Get("Authorization") != "Bearer sk-gateway" {
		t.Error("the client's header was changed")
	}
	dst := http.Header{}
	CopyResponseHeader(dst, http.Header{"Set-Cookie": {"a=1"}, "Transfer-Encoding": {"chunked"}, "Content-Type": {"text/event-stream"}, "X-Ratelimit-Remaining": {"9"}})
	if dst.Get("Set-Cookie") != "" || dst.Get("Transfer-Encoding") != "" || dst.Get("Content-Type") != "text/event-stream" || dst.Get("X-Ratelimit-Remaining") != "9" {
		t.Errorf("response header %v", dst)
	}
}
