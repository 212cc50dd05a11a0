package relay

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"oneapi/queries"
)

// limitToken gives the token of key the limits given.
func (b *bundle) limitToken(key string, p queries.TokenSetLimitsParams) int64 {
	b.t.Helper()
	p.ID = b.tokenID(key)
	if _, err := b.q.TokenSetLimits(context.Background(), p); err != nil {
		b.t.Fatal(err)
	}
	b.reload()
	return p.ID
}

// windowUsed is what the database counts against a limit now.
func (b *bundle) windowUsed(scope string, kind limitKind) int64 {
	b.t.Helper()
	width, count := kind.window()
	n, err := b.q.RateWindowUsed(context.Background(), queries.RateWindowUsedParams{Scope: scope, Kind: int16(kind), Span: width * (count + 1)})
	if err != nil {
		b.t.Fatal(err)
	}
	return n
}

func TestRateLimitRPMRefusesAsOpenAI(t *testing.T) {
	b := setup(t)
	up := newUpstream(t, okChat)
	b.channel(up.URL, channelOpts{})
	key := b.token(tokenOpts{})
	b.limitToken(key, queries.TokenSetLimitsParams{RpmLimit: 3})
	for i := 0; i < 3; i++ {
		res := b.post("/v1/chat/completions", key, chatBody)
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("request %d: status %d", i, res.StatusCode)
		}
		if got := res.Header.Get("x-ratelimit-limit-requests"); got != "3" {
			t.Fatalf("x-ratelimit-limit-requests = %q", got)
		}
		if got := res.Header.Get("x-ratelimit-remaining-requests"); got != strconv.Itoa(2-i) {
			t.Fatalf("request %d: x-ratelimit-remaining-requests = %q, want %d", i, got, 2-i)
		}
		if res.Header.Get("x-ratelimit-reset-requests") == "" {
			t.Fatal("no x-ratelimit-reset-requests")
		}
	}
	res := b.post("/v1/chat/completions", key, chatBody)
	if res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("4th request: status %d, want 429", res.StatusCode)
	}
	if code := decodeError(t, res); code != "rate_limit_exceeded" {
		t.Fatalf("code %q", code)
	}
	ra, err := strconv.Atoi(res.Header.Get("Retry-After"))
	if err != nil || ra < 1 || ra > 65 {
		t.Fatalf("Retry-After %q", res.Header.Get("Retry-After"))
	}
	if res.Header.Get("x-ratelimit-remaining-requests") != "0" {
		t.Fatalf("remaining on refusal %q", res.Header.Get("x-ratelimit-remaining-requests"))
	}
	if up.hits.Load() != 3 {
		t.Fatalf("upstream saw %d requests, want 3", up.hits.Load())
	}
	// An unlimited key of the same user is not limited, nor told of limits.
	other := b.token(tokenOpts{})
	res = b.post("/v1/chat/completions", other, chatBody)
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("x-ratelimit-limit-requests") != "" {
		t.Fatalf("unlimited key: %d %q", res.StatusCode, res.Header.Get("x-ratelimit-limit-requests"))
	}
}

func TestTPMSettlesToRealUsage(t *testing.T) {
	b := setup(t)
	up := newUpstream(t, okChat)
	b.channel(up.URL, channelOpts{})
	key := b.token(tokenOpts{})
	id := b.limitToken(key, queries.TokenSetLimitsParams{TpmLimit: 1_000_000})
	const n = 20
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := b.post("/v1/chat/completions", key, `{"model":"gpt-4o-mini","max_tokens":5000,"messages":[{"role":"user","content":"Say hello"}]}`)
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != 200 {
				t.Errorf("status %d", res.StatusCode)
			}
		}()
	}
	wg.Wait()
	want := int64(n * (usagePrompt + usageCompletion))
	scope := "t:" + strconv.FormatInt(id, 10)
	deadline := time.Now().Add(3 * time.Second)
	for {
		got := b.windowUsed(scope, kindTPM)
		if got == want {
			break
		}
		if time.Now().After(deadline) {
			rows, _ := b.pool.Query(context.Background(), "SELECT scope, kind, bucket, node_id, granted, extract(epoch from now())::bigint FROM rate_grants")
			for rows.Next() {
				var sc, nd string
				var k int16
				var bk, g, nw int64
				_ = rows.Scan(&sc, &k, &bk, &nd, &g, &nw)
				t.Log(sc, k, bk, nd, g, nw)
			}
			t.Fatalf("TPM counts %d tokens, want the %d really used", got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A TPM limit below one request's estimate refuses it before upstream.
	b.limitToken(key, queries.TokenSetLimitsParams{TpmLimit: 1000})
	res := b.post("/v1/chat/completions", key, `{"model":"gpt-4o-mini","max_tokens":5000,"messages":[{"role":"user","content":"Say hello"}]}`)
	if res.StatusCode != 429 || decodeError(t, res) != "rate_limit_exceeded" {
		t.Fatalf("over TPM: status %d", res.StatusCode)
	}
	if res.Header.Get("x-ratelimit-limit-tokens") != "1000" {
		t.Fatalf("x-ratelimit-limit-tokens %q", res.Header.Get("x-ratelimit-limit-tokens"))
	}
}

func TestMaxConcurrency(t *testing.T) {
	b := setup(t)
	release := make(chan struct{})
	entered := make(chan struct{}, 8)
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		entered <- struct{}{}
		<-release
		okChat(w, r, body)
	})
	b.channel(up.URL, channelOpts{})
	key := b.token(tokenOpts{})
	id := b.limitToken(key, queries.TokenSetLimitsParams{MaxConcurrency: 2})
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := b.post("/v1/chat/completions", key, chatBody)
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != 200 {
				t.Errorf("status %d", res.StatusCode)
			}
		}()
	}
	<-entered
	<-entered
	res := b.post("/v1/chat/completions", key, chatBody)
	if res.StatusCode != 429 || decodeError(t, res) != "rate_limit_exceeded" {
		t.Fatalf("third in flight: status %d", res.StatusCode)
	}
	close(release)
	wg.Wait()
	res = b.post("/v1/chat/completions", key, chatBody)
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("after the others finished: status %d", res.StatusCode)
	}
	// Idle, every slot goes back to the database.
	scope := "t:" + strconv.FormatInt(id, 10)
	deadline := time.Now().Add(3 * time.Second)
	for b.windowUsed(scope, kindConcurrency) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("slots still held: %d", b.windowUsed(scope, kindConcurrency))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestGroupAndModelLimits: a group's default limits apply to its users,
// per model too, and a token's per-model limit applies to that model only.
func TestGroupAndModelLimits(t *testing.T) {
	b := setup(t)
	up := newUpstream(t, okChat)
	b.channel(up.URL, channelOpts{models: "gpt-4o-mini,gpt-4o"})
	b.setOption("GroupRateLimits", `{"default": {"models": {"gpt-4o-mini": {"rpm": 2}}}}`)
	status := func(key, model string) int {
		res := b.post("/v1/chat/completions", key, `{"model":"`+model+`","messages":[{"role":"user","content":"hi"}]}`)
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	k1, k2 := b.token(tokenOpts{}), b.token(tokenOpts{})
	if status(k1, "gpt-4o-mini") != 200 || status(k2, "gpt-4o-mini") != 200 {
		t.Fatal("first two requests of the user refused")
	}
	if s := status(k1, "gpt-4o-mini"); s != 429 {
		t.Fatalf("third gpt-4o-mini request of the group's user: %d, want 429", s)
	}
	if s := status(k1, "gpt-4o"); s != 200 {
		t.Fatalf("another model: %d", s)
	}
	b.limitToken(k2, queries.TokenSetLimitsParams{ModelLimits: `{"gpt-4o": {"rpm": 1}}`})
	if status(k2, "gpt-4o") != 200 {
		t.Fatal("first gpt-4o request of the token refused")
	}
	if s := status(k2, "gpt-4o"); s != 429 {
		t.Fatalf("second gpt-4o request over the token's model limit: %d", s)
	}
}

// TestSweeperFreesSlotsOfStoppedNodes: concurrency slots a node held when
// it stopped go back once its heartbeat is older than the cutoff; a live
// node's stay.
func TestSweeperFreesSlotsOfStoppedNodes(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	if _, err := b.pool.Exec(ctx, `INSERT INTO meter_nodes (node_id, heartbeat_at) VALUES ('gone', now() - interval '1 hour');
		INSERT INTO rate_grants (scope, kind, bucket, node_id, granted) VALUES ('t:1', 4, 0, 'gone', 3), ('t:1', 4, 0, 'test-node', 2),
		('t:1', 1, extract(epoch FROM now())::bigint / 5 * 5, 'gone', 7)`); err != nil {
		t.Fatal(err)
	}
	if _, err := b.meter.SweepStale(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	if got := b.windowUsed("t:1", kindConcurrency); got != 2 {
		t.Fatalf("slots held after the sweep: %d, want the live node's 2", got)
	}
	if got := b.windowUsed("t:1", kindRPM); got != 7 {
		t.Fatalf("RPM count after the sweep: %d, want 7 (requests a stopped node admitted still count)", got)
	}
}
