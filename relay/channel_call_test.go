package relay

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"oneapi/relay/adaptor"
	"oneapi/state"
)

// keyedUpstream answers OpenAI chat for the keys in good and refuses any
// other as OpenAI does an invalid key, counting the calls per key.
func keyedUpstream(t *testing.T, good ...string) (*httptest.Server, *sync.Map) {
	var calls sync.Map // key -> *atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		n, _ := calls.LoadOrStore(key, new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
		for _, g := range good {
			if key == g {
				body, _ := io.ReadAll(r.Body)
				okChat(w, r, body)
				return
			}
		}
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, `{"error":{"message":"Incorrect API key provided: %s","type":"invalid_request_error","code":"invalid_api_key"}}`, key)
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func callsOf(m *sync.Map, key string) int64 {
	if n, ok := m.Load(key); ok {
		return n.(*atomic.Int64).Load()
	}
	return 0
}

// TestMultiKeyChannel: a key the upstream refuses is disabled alone, with
// the upstream's reason (the key itself redacted), and the same request is
// served with the channel's next key; the good keys share the traffic; when
// every key is refused the channel is disabled and the client told 502.
func TestMultiKeyChannel(t *testing.T) {
	b := setup(t)
	const dead, good1, good2 = "sk-dead-key-00000000000000000001", "sk-good-key-00000000000000000002", "sk-good-key-00000000000000000003"
	up, calls := keyedUpstream(t, good1, good2)
	id := b.nativeChannel(adaptor.TypeOpenAI, up.URL, "gpt-4o-mini", `{"multi_key":"true"}`, dead+"\n"+good1+"\n"+good2)
	key := b.token(tokenOpts{})
	for i := range 8 {
		res := b.post("/v1/chat/completions", key, chatBody)
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("request %d = %d %s", i, res.StatusCode, raw)
		}
	}
	if n := callsOf(calls, dead); n != 1 {
		t.Errorf("the dead key was tried %d times, want once", n)
	}
	if g1, g2 := callsOf(calls, good1), callsOf(calls, good2); g1+g2 != 8 || g1 < 2 || g2 < 2 {
		t.Errorf("good keys served %d and %d of 8", g1, g2)
	}
	ch := b.st.Routes().Channel(id)
	if ch.Status != state.StatusEnabled || ch.Keys.Usable() != 2 {
		t.Fatalf("channel status %d, %d usable keys", ch.Status, ch.Keys.Usable())
	}
	st := ch.Keys.Statuses()
	if st[0].Enabled || !strings.Contains(st[0].Reason, "Incorrect API key provided") || strings.Contains(st[0].Reason, dead) || !st[1].Enabled {
		t.Errorf("key statuses = %+v", st)
	}
	b.settled(8)

	// Every key refused: the channel goes, the client hears 502.
	up2, _ := keyedUpstream(t)
	id2 := b.nativeChannel(adaptor.TypeOpenAI, up2.URL, "gpt-x", `{"multi_key":"true"}`, "sk-dead-aaaaaaaaaaaaaaaa\nsk-dead-bbbbbbbbbbbbbbbb")
	res := b.post("/v1/chat/completions", key, `{"model":"gpt-x","messages":[{"role":"user","content":"hi"}]}`)
	if res.StatusCode != http.StatusBadGateway {
		t.Errorf("all keys dead = %d", res.StatusCode)
	}
	decodeError(t, res)
	if s := b.scalar("SELECT status FROM channels WHERE id = $1", id2); s != state.StatusAutoDisabled {
		t.Errorf("channel with every key dead: status %d", s)
	}
	if n := b.scalar("SELECT count(*) FROM channel_disabled_keys WHERE channel_id = $1", id2); n != 0 {
		t.Errorf("%d disabled keys kept for a disabled channel (enabling it should give each a try)", n)
	}
	if n := b.scalar("SELECT count(*) FROM logs WHERE type = 4 AND channel_id = $1 AND content LIKE '%every key failed%'", id2); n != 1 {
		t.Errorf("system log rows for the channel: %d", n)
	}

	// AutomaticDisableChannelEnabled off: keys are not disabled either.
	if _, err := b.pool.Exec(t.Context(), "INSERT INTO options (key, value) VALUES ('AutomaticDisableChannelEnabled', 'false') ON CONFLICT (key) DO UPDATE SET value = 'false'"); err != nil {
		t.Fatal(err)
	}
	b.reload()
	up3, calls3 := keyedUpstream(t, good1)
	id3 := b.nativeChannel(adaptor.TypeOpenAI, up3.URL, "gpt-y", `{"multi_key":"true"}`, dead+"\n"+good1)
	for range 4 {
		res := b.post("/v1/chat/completions", key, `{"model":"gpt-y","messages":[{"role":"user","content":"hi"}]}`)
		res.Body.Close()
	}
	if n := callsOf(calls3, dead); n != 2 {
		t.Errorf("with auto-disable off the dead key was tried %d times of 4, want 2", n)
	}
	if n := b.scalar("SELECT count(*) FROM channel_disabled_keys WHERE channel_id = $1", id3); n != 0 {
		t.Errorf("a key was disabled with AutomaticDisableChannelEnabled off")
	}
}

// TestChannelOptions: extra headers reach the upstream (relayed calls and
// channel tests), a proxy carries the channel's calls, and a timeout that
// runs out fails over to another channel.
func TestChannelOptions(t *testing.T) {
	b := setup(t)
	var gotTeam atomic.Value
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		gotTeam.Store(r.Header.Get("X-Team"))
		okChat(w, r, body)
	})
	var proxied atomic.Int64
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxied.Add(1)
		r.RequestURI = ""
		resp, err := http.DefaultTransport.RoundTrip(r)
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	t.Cleanup(proxy.Close)
	id := b.nativeChannel(adaptor.TypeOpenAI, up.URL, "gpt-4o-mini", fmt.Sprintf(`{"headers":"X-Team: ml","proxy":%q}`, proxy.URL), "")
	key := b.token(tokenOpts{})
	res := b.post("/v1/chat/completions", key, chatBody)
	res.Body.Close()
	if res.StatusCode != 200 || gotTeam.Load() != "ml" || proxied.Load() != 1 {
		t.Errorf("status %d, X-Team %v, proxied %d", res.StatusCode, gotTeam.Load(), proxied.Load())
	}
	if _, err := Probe(t.Context(), NewClient(nil), b.st.Routes().Channel(id), ""); err != nil || proxied.Load() != 2 {
		t.Errorf("channel test: %v, proxied %d", err, proxied.Load())
	}

	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)
	b.nativeChannel(adaptor.TypeOpenAI, slow.URL, "gpt-slow", `{"timeout":"0.3"}`, "")
	fast := newUpstream(t, okChat)
	b.channel(fast.URL, channelOpts{models: "gpt-slow", priority: -1})
	start := time.Now()
	res = b.post("/v1/chat/completions", key, `{"model":"gpt-slow","messages":[{"role":"user","content":"hi"}]}`)
	res.Body.Close()
	if res.StatusCode != 200 || fast.hits.Load() != 1 || time.Since(start) > 2*time.Second {
		t.Errorf("timed-out channel: %d after %s, other channel hit %d", res.StatusCode, time.Since(start), fast.hits.Load())
	}
}
