package relay

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"oneapi/queries"
	"oneapi/state"
)

// TestRelayChaos: two nodes serve concurrent clients with and without
// max_tokens, plain and streamed, on an OpenAI-type and an Anthropic channel
// whose streams are cut at random; then one node is killed mid-stream (its
// queued settlements never written) and the sweeper settles what it left.
// Afterwards no quota was created or lost for any token or user (balance +
// used is what it was), no request is billed twice, and every answer a
// client got has its log row. (An upstream that resets its connection before
// any event reached the gateway is failed over and not billed.)
func TestRelayChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos run")
	}
	b := setup(t)
	ctx := context.Background()
	b.setOption("QuotaLeaseEnabled", "false") // leases have their own chaos test, and a known crash window

	cut := func(w http.ResponseWriter, n int, line func(i int) string) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range n {
			fmt.Fprint(w, line(i))
			w.(http.Flusher).Flush()
			time.Sleep(time.Duration(rand.IntN(3)) * time.Millisecond)
		}
		panic(http.ErrAbortHandler) // the connection breaks
	}
	var openaiHits, claudeHits atomic.Int64
	oa := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		openaiHits.Add(1)
		if strings.Contains(string(body), "cut-me") && strings.Contains(string(body), `"stream":true`) {
			cut(w, 3+rand.IntN(5), func(i int) string {
				return fmt.Sprintf("data: {\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"part %d \"}}]}\n\n", i)
			})
		}
		okChat(w, r, body)
	})
	claude := anthropicMessagesUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		claudeHits.Add(1)
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"model\":\"claude-sonnet-4-5\",\"usage\":{\"input_tokens\":40,\"output_tokens\":1}}}\n\n")
		fmt.Fprint(w, "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n")
		for range 4 {
			fmt.Fprint(w, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"some text \"}}\n\n")
		}
		w.(http.Flusher).Flush()
		if rand.IntN(3) == 0 {
			panic(http.ErrAbortHandler)
		}
		fmt.Fprint(w, "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":12}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
	})
	b.channel(oa.URL, channelOpts{})
	b.channel(claude.URL, channelOpts{typ: 14, models: "claude-sonnet-4-5"})

	type account struct {
		user        queries.User
		key         string
		tokenQuota  int64
		userInitial int64
	}
	var accounts []account
	for i := range 3 {
		u := b.user(fmt.Sprintf("chaos%d", i), state.RoleUser, 3_000_000)
		for j := range 2 {
			q := int64(1_000_000 + j*500_000)
			accounts = append(accounts, account{user: u, key: b.token(tokenOpts{user: &u, quota: q}), tokenQuota: q, userInitial: 3_000_000})
		}
	}

	// Node B, on the same database, killed half-way.
	nodeB, err := NewMeter(ctx, b.pool, b.meter.log, "node-b")
	if err != nil {
		t.Fatal(err)
	}
	srvB := httptest.NewServer(NewServer(b.st, nodeB, NewClient(nil), b.meter.log, Config{MaxBodyBytes: 1 << 20}))
	var killed atomic.Bool

	var statusMu sync.Mutex
	statuses := map[string]int{}
	var wg sync.WaitGroup
	stop := time.Now().Add(2500 * time.Millisecond)
	for w := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 99))
			client := &http.Client{Timeout: 5 * time.Second}
			for time.Now().Before(stop) {
				a := accounts[rng.IntN(len(accounts))]
				model, content := "gpt-4o-mini", "hi"
				if rng.IntN(3) == 0 {
					model = "claude-sonnet-4-5"
				}
				if rng.IntN(3) == 0 {
					content = "cut-me"
				}
				limit := ""
				if rng.IntN(2) == 0 {
					limit = fmt.Sprintf(`"max_tokens":%d,`, 20+rng.IntN(500))
				}
				body := fmt.Sprintf(`{"model":%q,%s"stream":%v,"messages":[{"role":"user","content":%q}]}`, model, limit, rng.IntN(2) == 0, content)
				base := b.srv.URL
				if w%2 == 1 && !killed.Load() {
					base = srvB.URL
				}
				req, _ := http.NewRequest(http.MethodPost, base+"/v1/chat/completions", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+a.key)
				res, err := client.Do(req)
				if err == nil {
					statusMu.Lock()
					statuses[fmt.Sprintf("%v %d", base == srvB.URL, res.StatusCode)]++
					statusMu.Unlock()
					_, _ = readAllQuiet(res)
				}
			}
		}()
	}
	time.Sleep(1200 * time.Millisecond)
	killed.Store(true)
	close(nodeB.die)              // node B stops writing anything
	srvB.CloseClientConnections() // and its clients see it go, mid-stream
	wg.Wait()
	srvB.Close() // its handlers have finished (what they settled is lost with the node)
	nodeB.Close()

	// The sweeper settles what node B left once it is seen dead.
	if _, err := b.pool.Exec(ctx, "UPDATE meter_nodes SET heartbeat_at = now() - interval '2 minutes' WHERE node_id = 'node-b'"); err != nil {
		t.Fatal(err)
	}
	left := b.scalar("SELECT count(*) FROM reservations WHERE node_id = 'node-b'")
	if _, err := b.meter.SweepStale(ctx, NodeDeadAfter); err != nil {
		t.Fatal(err)
	}
	b.settledExcept(0, 0)
	time.Sleep(3 * settleEvery)
	b.settledExcept(0, 0)

	for _, a := range accounts {
		id := b.tokenID(a.key)
		if r, u := b.scalar("SELECT remain_quota FROM tokens WHERE id = $1", id), b.scalar("SELECT used_quota FROM tokens WHERE id = $1", id); r+u != a.tokenQuota {
			t.Errorf("token %d: remain %d + used %d != %d", id, r, u, a.tokenQuota)
		}
	}
	for i := 0; i < len(accounts); i += 2 {
		u := accounts[i].user
		if q, used := b.scalar("SELECT quota FROM users WHERE id = $1", u.ID), b.scalar("SELECT used_quota FROM users WHERE id = $1", u.ID); q+used != u.Quota {
			t.Errorf("user %s: quota %d + used %d != %d", u.Username, q, used, u.Quota)
		}
	}
	rows := b.scalar("SELECT count(*) FROM logs WHERE type = 2")
	if distinct := b.scalar("SELECT count(DISTINCT request_id) FROM logs WHERE type = 2"); distinct != rows {
		t.Errorf("%d log rows for %d requests: some billed twice", rows, distinct)
	}
	// Every answer a client got is billed once; beyond those, only requests
	// node B had in flight when it died (billed at their estimate).
	served := int64(statuses["false 200"] + statuses["true 200"])
	if rows < served || rows > served+12 {
		t.Errorf("%d log rows for %d answers", rows, served)
	}
	hits := openaiHits.Load() + claudeHits.Load()
	if logged, used := b.scalar("SELECT coalesce(sum(quota), 0)::bigint FROM logs WHERE type = 2"), b.scalar("SELECT sum(used_quota)::bigint FROM users WHERE username LIKE 'chaos%'"); logged != used {
		t.Errorf("log rows bill %d, users used %d", logged, used)
	}
	swept := b.scalar("SELECT count(*) FROM logs WHERE type = 2 AND content LIKE '%sweeper%'")
	counted := b.scalar("SELECT count(*) FROM logs WHERE type = 2 AND usage_counted")
	t.Logf("statuses (node B?, status): %v", statuses)
	t.Logf("%d upstream requests, %d log rows (%d reservations left by the killed node, %d swept, %d counted)", hits, rows, left, swept, counted)
}

func readAllQuiet(res *http.Response) (int, error) {
	defer res.Body.Close()
	n := 0
	buf := make([]byte, 4096)
	for {
		k, err := res.Body.Read(buf)
		n += k
		if err != nil {
			return n, err
		}
	}
}
