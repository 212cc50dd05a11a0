package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestExpectedQuota(t *testing.T) {
	cases := []struct {
		mr, cr, gr float64
		want       int64
	}{
		{0.075, 4, 1, 7},     // (12 + 80) × 0.075 = 6.9 → 7
		{0.075, 1, 1, 3},     // 32 × 0.075 = 2.4 → 3
		{15, 1, 1, 480},      // exact
		{0.001, 1, 1, 1},     // rounds up to at least 1
		{0, 1, 1, 0},         // free model
		{0.075, 4, 0.5, 4},   // 92 × 0.0375 = 3.45 → 4
		{2.5, 4, 1, 230},     // 92 × 2.5
		{0.25, 2, 1, 13},     // 52 × 0.25 = 13
		{1, 1, 1.5, 48},      // 32 × 1.5
		{0.0001, 0, 1e-9, 1}, // tiny but non-zero
	}
	for _, c := range cases {
		if got := expectedQuota(12, 20, c.mr, c.cr, c.gr); got != c.want {
			t.Errorf("expectedQuota(12,20,%g,%g,%g) = %d, want %d", c.mr, c.cr, c.gr, got, c.want)
		}
	}
}

func TestParseProcStat(t *testing.T) {
	line := "1234 (my (odd) proc) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 12 3 20 0 9 0 100 1000 50"
	s, err := parseProcStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if s.ppid != 1 || s.utime != 250 || s.stime != 75 || s.cutime != 12 || s.cstime != 3 {
		t.Fatalf("got %+v", s)
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i))
	}
	if p := percentile(d, 0.5); p != 50 {
		t.Errorf("p50 = %d", p)
	}
	if p := percentile(d, 0.99); p != 99 {
		t.Errorf("p99 = %d", p)
	}
	if p := percentile(d[:1], 0.99); p != 1 {
		t.Errorf("p99 of one = %d", p)
	}
}

func TestParseScenarios(t *testing.T) {
	s, err := parseScenarios("chat:16, stream:128, chat-prompt:16")
	if err != nil || len(s) != 3 || s[0].stream || s[0].conc != 16 || !s[1].stream || s[1].conc != 128 || !s[2].prompt || s[2].stream {
		t.Fatalf("got %+v, %v", s, err)
	}
	for _, bad := range []string{"", "chat", "chat:0", "foo:1", "stream:x"} {
		if _, err := parseScenarios(bad); err == nil {
			t.Errorf("parseScenarios(%q) accepted", bad)
		}
	}
}

func TestMockStream(t *testing.T) {
	m := newMockServer()
	srv := httptest.NewServer(m)
	defer srv.Close()
	post := func(body, key string) string {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/chat/completions", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	plain := post(string(chatBody(true)), directKey)
	if n := strings.Count(plain, "data: {"); n != mockStreamEvents {
		t.Errorf("stream without usage: %d events, want %d", n, mockStreamEvents)
	}
	if strings.Contains(plain, `"usage"`) || !strings.HasSuffix(plain, "data: [DONE]\n\n") {
		t.Errorf("unexpected stream: %q", plain[len(plain)-120:])
	}
	withUsage := post(`{"model":"gpt-4o-mini","stream": true,"stream_options":{"include_usage":true}}`, "sk-upstream-fake")
	if n := strings.Count(withUsage, "data: {"); n != mockStreamEvents+1 {
		t.Errorf("stream with usage: %d events", n)
	}
	if !strings.Contains(withUsage, `"choices":[],`) || !strings.Contains(withUsage, `"completion_tokens":20`) {
		t.Errorf("no usage chunk")
	}
	chat := post(string(chatBody(false)), proxyKey)
	if !strings.Contains(chat, `"prompt_tokens":12`) {
		t.Errorf("chat: %s", chat)
	}
	c, err := readMockCounts(srv.URL)
	if err != nil || c.Direct != 1 || c.Other != 1 || c.Proxy != 1 {
		t.Fatalf("counts %+v %v", c, err)
	}
}

func TestDoOneStreamTail(t *testing.T) {
	srv := httptest.NewServer(newMockServer())
	defer srv.Close()
	tg := &target{url: srv.URL + "/v1/chat/completions", key: directKey, client: newLoadClient()}
	for _, bufSize := range []int{7, 64, 32 << 10} {
		if err := doOne(tg, chatBody(true), true, make([]byte, bufSize)); err != nil {
			t.Errorf("buf %d: %v", bufSize, err)
		}
	}
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(w, bytes.NewReader([]byte("data: {}\n\n")))
	}))
	defer bad.Close()
	tg.url = bad.URL
	if err := doOne(tg, chatBody(true), true, make([]byte, 64)); err == nil {
		t.Errorf("stream without [DONE] accepted")
	}
}

// TestMockTGI: the mock's TGI stream has the token events and ends with the
// counts the gateway bills, which the load generator's marker finds, and
// the direct and proxied TGI requests are counted as such.
func TestMockTGI(t *testing.T) {
	srv := httptest.NewServer(newMockServer())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/info")
	if err != nil {
		t.Fatal(err)
	}
	info, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(info), `"version":"1.3.4"`) {
		t.Errorf("/info = %s", info)
	}
	ts := targetsFor(scenario{tgi: true}, []*target{{name: "a", url: srv.URL + "/v1/chat/completions", key: directKey, client: newLoadClient()}})
	if ts[0].url != srv.URL+"/generate_stream" {
		t.Fatalf("tgi target url = %s", ts[0].url)
	}
	for _, bufSize := range []int{7, 64, 32 << 10} {
		if err := doOne(ts[0], ts[0].body, true, make([]byte, bufSize)); err != nil {
			t.Errorf("buf %d: %v", bufSize, err)
		}
	}
	events := tgiEvents()
	last := string(events[len(events)-1])
	if len(events) != mockStreamEvents || !strings.Contains(last, `"generated_tokens":20`) || !strings.Contains(last, `"input_length":12`) {
		t.Errorf("last event %s of %d", last, len(events))
	}
	if c, err := readMockCounts(srv.URL); err != nil || c.Direct != 3 {
		t.Errorf("counts %+v %v", c, err)
	}
}
