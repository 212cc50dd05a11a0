package relay

// Tests of the money path, one per way a hostile key holder or an unlucky
// operator could lose money (the money-path issue, items 1 to 15).

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"oneapi/keys"
	"oneapi/pricing"
	"oneapi/queries"
	"oneapi/state"
)

func (b *bundle) tokenID(key string) int64 {
	b.t.Helper()
	return b.scalar("SELECT id FROM tokens WHERE key_hash = $1", keys.Hash(key))
}

func (b *bundle) setOption(key, value string) {
	b.t.Helper()
	if _, err := b.pool.Exec(context.Background(),
		"INSERT INTO options (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value", key, value); err != nil {
		b.t.Fatal(err)
	}
	b.reload()
}

// readAll reads a reply and closes it.
func readAll(t *testing.T, res *http.Response) string {
	t.Helper()
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// anthropicUpstream serves POST /v1/messages with h, checking the key.
func anthropicMessagesUpstream(t *testing.T, h http.HandlerFunc) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("x-api-key") != "sk-upstream-secret-key-000" || r.URL.Path != "/v1/messages" {
			w.WriteHeader(401)
			return
		}
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// Item 1: usage comes from the final event's response.usage only; the
// Responses API echoes the request's tool and text.format schemas, and a
// stream's end is found whatever the key order.
func TestResponsesStreamUsageFromTheFinalEventOnly(t *testing.T) {
	b := setup(t)
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "event: response.created\n"+
			`data: {"sequence_number":0,"type":"response.created","response":{"tools":[{"type":"function","name":"f","parameters":{"type":"object","properties":{"usage":{"input_tokens":1,"output_tokens":1}}}}],"text":{"format":{"type":"json_schema","schema":{"usage":{"input_tokens":1}}}},"usage":null}}`+"\n\n"+
			"event: response.output_text.delta\n"+
			`data: {"sequence_number":1,"type":"response.output_text.delta","delta":"hi"}`+"\n\n"+
			"event: response.completed\n"+
			`data: {"sequence_number":2,"response":{"status":"completed","usage":{"input_tokens":1000,"input_tokens_details":{"cached_tokens":0},"output_tokens":9000}},"type":"response.completed"}`+"\n\n")
	})
	b.channel(up.URL, channelOpts{models: "gpt-4.1"})
	body := readAll(t, b.post("/v1/responses", b.token(tokenOpts{}), `{"model":"gpt-4.1","stream":true,"input":"hi"}`))
	if strings.Contains(body, `"error"`) || !strings.Contains(body, "event: response.completed") {
		t.Errorf("stream as the client got it:\n%s", body)
	}
	b.settled(1)
	if p, c := b.scalar("SELECT prompt_tokens FROM logs WHERE type = 2"), b.scalar("SELECT completion_tokens FROM logs WHERE type = 2"); p != 1000 || c != 9000 {
		t.Errorf("billed %d + %d tokens, want 1000 + 9000", p, c)
	}
	if n := b.scalar("SELECT count(*) FROM logs WHERE usage_counted"); n != 0 {
		t.Error("usage was counted, not taken from upstream")
	}
}

// Item 1: response.failed ends the stream with a Responses error event.
func TestResponsesStreamFailed(t *testing.T) {
	b := setup(t)
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "event: response.created\n"+
			`data: {"type":"response.created","sequence_number":0,"response":{"usage":null}}`+"\n\n"+
			"event: response.failed\n"+
			`data: {"type":"response.failed","sequence_number":1,"response":{"status":"failed","error":{"code":"server_error","message":"The model failed."},"usage":{"input_tokens":7,"output_tokens":0}}}`+"\n\n")
	})
	b.channel(up.URL, channelOpts{models: "gpt-4.1"})
	body := readAll(t, b.post("/v1/responses", b.token(tokenOpts{}), `{"model":"gpt-4.1","stream":true,"input":"hi"}`))
	if !strings.Contains(body, "event: error\n") || !strings.Contains(body, `"type":"error"`) || !strings.Contains(body, `"code":"server_error"`) || !strings.Contains(body, `"sequence_number":1`) ||
		strings.Contains(body, `{"error":`) {
		t.Errorf("a failed response should end with a Responses error event:\n%s", body)
	}
}

// Item 2: with no max_tokens, concurrent requests cannot take a balance far
// below zero: each is reserved for all it may write, or limited upstream to
// what its grant pays for.
func TestNoMaxTokensCannotOverdraw(t *testing.T) {
	b := setup(t)
	var sawLimit atomic.Int64
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		var req struct {
			MaxTokens *int `json:"max_tokens"`
		}
		_ = json.Unmarshal(body, &req)
		out := 100_000 // a model that writes all it may
		if req.MaxTokens != nil {
			out = *req.MaxTokens
			sawLimit.Add(1)
		}
		time.Sleep(50 * time.Millisecond) // all six in flight together
		fmt.Fprintf(w, `{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"..."},"finish_reason":"length"}],"usage":{"prompt_tokens":9,"completion_tokens":%d}}`, out)
	})
	b.channel(up.URL, channelOpts{})
	poor := b.user("poor", state.RoleUser, 2000)
	key := b.token(tokenOpts{user: &poor})
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			readAll(t, b.post("/v1/chat/completions", key, chatBody))
		}()
	}
	wg.Wait()
	served := int(up.hits.Load())
	b.settled(served)
	q := b.scalar("SELECT quota FROM users WHERE id = $1", poor.ID)
	used := b.scalar("SELECT used_quota FROM users WHERE id = $1", poor.ID)
	// The only excess a request can have is its prompt beyond the estimate.
	if q < -10 || q+used != 2000 || served == 0 || int(sawLimit.Load()) != served {
		t.Errorf("balance %d, used %d, %d served (%d with a limit sent)", q, used, served, sawLimit.Load())
	}
}

// Item 2: an absurd max_tokens is not refused for what it cannot cost: it
// is served within the balance, limited upstream.
func TestAbsurdMaxTokensIsLimitedToTheBalance(t *testing.T) {
	b := setup(t)
	up := newUpstream(t, okChat)
	b.channel(up.URL, channelOpts{})
	key := b.token(tokenOpts{quota: 1_000_000})
	res := b.post("/v1/chat/completions", key, `{"model":"gpt-4o-mini","max_tokens":9000000000000000000,"messages":[{"role":"user","content":"x"}]}`)
	readAll(t, res)
	if res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
	mt, _ := up.lastBody()["max_tokens"].(float64)
	if mt <= 0 || mt > 1_000_000/(0.075*4) {
		t.Errorf("max_tokens sent upstream = %v, want what 1 000 000 quota pays for", mt)
	}
}

// Item 2: refunds this node owes count for admission: finished requests do
// not hold a balance back until the next flush.
func TestFinishedRequestsFreeTheirReservationAtOnce(t *testing.T) {
	b := setup(t)
	up := newUpstream(t, okChat)
	b.channel(up.URL, channelOpts{})
	u := b.user("u", state.RoleUser, 70_000)
	key := b.token(tokenOpts{user: &u})
	body := `{"model":"gpt-4o-mini","max_tokens":10000,"messages":[{"role":"user","content":"Say hello"}]}` // ~3000 reserved, 7 spent
	var refused atomic.Int64
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < 200; i += 16 {
				res := b.post("/v1/chat/completions", key, body)
				readAll(t, res)
				if res.StatusCode != 200 {
					if refused.Add(1) == 1 {
						t.Logf("first refusal: status %d", res.StatusCode)
					}
				}
			}
		}()
	}
	wg.Wait()
	if n := refused.Load(); n != 0 {
		t.Errorf("%d of 200 refused with ~%d quota in flight at most", n, 16*3000)
	}
	b.settled(200)
	if q, used := b.scalar("SELECT quota FROM users WHERE id = $1", u.ID), b.scalar("SELECT used_quota FROM users WHERE id = $1", u.ID); q+used != 70_000 {
		t.Errorf("quota %d + used %d != 70000", q, used)
	}
}

// Item 3: a key with no quota left is refused before its large prompt is
// counted (the tokenizer's own tests show counting is linear).
func TestNoQuotaRefusedBeforeCounting(t *testing.T) {
	b := setup(t)
	up := newUpstream(t, okChat)
	b.channel(up.URL, channelOpts{})
	broke := b.user("broke", state.RoleUser, 0)
	word := strings.Repeat("a", 64<<10)
	res := b.post("/v1/chat/completions", b.token(tokenOpts{user: &broke}), `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"`+word+`"}]}`)
	if res.StatusCode != 403 || decodeError(t, res) != "insufficient_quota" {
		t.Errorf("status %d", res.StatusCode)
	}
}

// Item 4: a 400 that echoes the client's content is the client's: not
// retried, no channel disabled.
func TestEchoedContentNeverDisablesChannels(t *testing.T) {
	b := setup(t)
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(400)
		fmt.Fprint(w, `{"error":{"message":"Invalid value: 'credit'. Supported values are: 'system', 'assistant', 'user' (invalid api key balance).","type":"invalid_request_error","param":"messages[0].role","code":"invalid_value"}}`)
	})
	for range 3 {
		b.channel(up.URL, channelOpts{})
	}
	res := b.post("/v1/chat/completions", b.token(tokenOpts{}), `{"model":"gpt-4o-mini","messages":[{"role":"credit","content":"x"}]}`)
	if res.StatusCode != 400 {
		t.Errorf("status %d, want the upstream's 400", res.StatusCode)
	}
	readAll(t, res)
	if n := up.hits.Load(); n != 1 {
		t.Errorf("the client's error was tried on %d channels", n)
	}
	if n := b.scalar("SELECT count(*) FROM channels WHERE status <> 1"); n != 0 {
		t.Errorf("%d channels disabled by a client's request", n)
	}
}

// Item 5: an Anthropic stream cut before message_delta is billed for what
// was streamed, counted, plus the prompt upstream reported.
func TestCutAnthropicStreamBillsWhatWasStreamed(t *testing.T) {
	b := setup(t)
	srv := anthropicMessagesUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"model\":\"claude-sonnet-4-5\",\"usage\":{\"input_tokens\":50,\"output_tokens\":1}}}\n\n")
		fmt.Fprint(w, "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n")
		for range 10 {
			fmt.Fprint(w, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"many words were streamed here \"}}\n\n")
		}
		// The connection breaks: no message_delta, no message_stop.
	})
	b.channel(srv.URL, channelOpts{typ: 14, models: "claude-sonnet-4-5"})
	readAll(t, b.post("/v1/chat/completions", b.token(tokenOpts{}), `{"model":"claude-sonnet-4-5","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	b.settled(1)
	var prompt, completion int
	var counted bool
	if err := b.pool.QueryRow(context.Background(), "SELECT prompt_tokens, completion_tokens, usage_counted FROM logs WHERE type = 2").Scan(&prompt, &completion, &counted); err != nil {
		t.Fatal(err)
	}
	if prompt != 50 || completion < 30 || !counted {
		t.Errorf("billed %d + %d (counted %v), want 50 + the ~50 tokens streamed", prompt, completion, counted)
	}
}

// Item 6: the sweeper settles the reservations of dead nodes, never those of
// a live node, however old.
func TestSweeperKeysOnNodeLiveness(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	key := b.token(tokenOpts{})
	tok := b.tokenID(key)
	if _, err := b.meter.Reserve(ctx, Reservation{UserID: b.root.ID, TokenID: tok, Model: "gpt-4o", Quota: 500, RequestID: "long-1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.pool.Exec(ctx, "UPDATE reservations SET created_at = now() - interval '3 hours'"); err != nil {
		t.Fatal(err)
	}
	if n, err := b.meter.SweepStale(ctx, NodeDeadAfter); err != nil || n != 0 {
		t.Fatalf("a live node's long request was swept: %d %v", n, err)
	}
	// A node that stopped beating two minutes ago.
	if _, err := b.pool.Exec(ctx, `INSERT INTO meter_nodes (node_id, heartbeat_at) VALUES ('dead', now() - interval '2 minutes')`); err != nil {
		t.Fatal(err)
	}
	if _, err := b.pool.Exec(ctx, `INSERT INTO reservations (node_id, user_id, token_id, channel_id, model_name, quota, is_stream, request_id)
		VALUES ('dead', $1, $2, 0, 'gpt-4o', 300, false, 'dead-1')`, b.root.ID, tok); err != nil {
		t.Fatal(err)
	}
	if n, err := b.meter.SweepStale(ctx, NodeDeadAfter); err != nil || n != 1 {
		t.Fatalf("swept %d, %v; want the dead node's one", n, err)
	}
	if n := b.scalar("SELECT count(*) FROM reservations WHERE request_id = 'long-1'"); n != 1 {
		t.Error("the live node's reservation is gone")
	}
}

// Item 7: an absolute quota edit is not undone by the refund of a request
// that was in flight.
func TestAbsoluteQuotaEditSticks(t *testing.T) {
	for _, target := range []string{"token", "user"} {
		t.Run(target, func(t *testing.T) {
			b := setup(t)
			ctx := context.Background()
			inFlight := make(chan struct{})
			release := make(chan struct{})
			up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
				close(inFlight)
				<-release
				okChat(w, r, body)
			})
			b.channel(up.URL, channelOpts{})
			u := b.user("u", state.RoleUser, 300_000)
			key := b.token(tokenOpts{user: &u, quota: 300_000})
			tok := b.tokenID(key)
			done := make(chan int)
			go func() {
				res := b.post("/v1/chat/completions", key, chatBody)
				readAll(t, res)
				done <- res.StatusCode
			}()
			<-inFlight
			// What the console and the API do for an absolute edit.
			err := queries.InTx(ctx, b.pool, func(q *queries.Queries) error {
				if target == "token" {
					if _, err := q.LeaseRevoke(ctx, queries.LeaseRevokeParams{UserID: u.ID, TokenID: pgtype.Int8{Int64: tok, Valid: true}}); err != nil {
						return err
					}
					cur, err := q.TokenGetForUserForUpdate(ctx, queries.TokenGetForUserForUpdateParams{ID: tok, UserID: u.ID})
					if err != nil {
						return err
					}
					_, err = q.TokenUpdate(ctx, queries.TokenUpdateParams{ID: tok, UserID: u.ID, Name: cur.Name, Status: cur.Status, RemainQuota: 0, Models: cur.Models, Subnet: cur.Subnet})
					return err
				}
				if _, err := q.LeaseRevoke(ctx, queries.LeaseRevokeParams{UserID: u.ID}); err != nil {
					return err
				}
				if _, err := q.UserLockQuota(ctx, u.ID); err != nil {
					return err
				}
				_, err := q.UserUpdate(ctx, queries.UserUpdateParams{ID: u.ID, Username: u.Username, GroupName: u.GroupName, Quota: 0, Role: u.Role, Status: u.Status})
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			close(release)
			if code := <-done; code != 200 {
				t.Fatalf("status %d", code)
			}
			b.settled(1)
			sql := "SELECT remain_quota FROM tokens WHERE id = $1"
			id := tok
			if target == "user" {
				sql, id = "SELECT quota FROM users WHERE id = $1", u.ID
			}
			if got := b.scalar(sql, id); got != 0 {
				t.Errorf("%s quota set to 0 ended at %d", target, got)
			}
		})
	}
}

// Item 8: reservations, settlements and lease revocations take row locks in
// one order: PostgreSQL never has to break a deadlock.
func TestNoDeadlocksUnderConcurrency(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	other, err := NewMeter(ctx, b.pool, b.meter.log, "node-2")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	type pair struct{ user, token int64 }
	var pairs []pair
	for i := range 6 {
		u := b.user(fmt.Sprintf("u%d", i), state.RoleUser, 1_000_000_000)
		for range 2 {
			k := b.token(tokenOpts{user: &u, quota: 1_000_000_000})
			pairs = append(pairs, pair{u.ID, b.tokenID(k)})
		}
	}
	deadlocks := func() int64 {
		return b.scalar("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
	}
	before := deadlocks()
	var wg sync.WaitGroup
	var seq atomic.Int64
	stop := time.Now().Add(2 * time.Second)
	for g := range 16 {
		m := b.meter
		if g%2 == 1 {
			m = other
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(stop); i++ {
				p := pairs[(g*7+i)%len(pairs)]
				id := fmt.Sprintf("r%d", seq.Add(1))
				tk, err := m.Reserve(ctx, Reservation{UserID: p.user, TokenID: p.token, Model: "gpt-4o", Quota: 100, RequestID: id, Leasable: i%3 == 0})
				if err != nil {
					t.Error(err)
					return
				}
				m.Settle(Settlement{Ticket: tk, Reserved: tk.Granted, Quota: 10, UserID: p.user, TokenID: p.token, Served: true, RequestID: id})
				if i%50 == 0 {
					_ = queries.InTx(ctx, b.pool, func(q *queries.Queries) error {
						_, err := q.LeaseRevoke(ctx, queries.LeaseRevokeParams{UserID: p.user})
						return err
					})
				}
			}
		}()
	}
	wg.Wait()
	// pg_stat counters are sent when a backend ends a transaction; give them a moment.
	time.Sleep(700 * time.Millisecond)
	if d := deadlocks() - before; d != 0 {
		t.Errorf("%d deadlocks broken by PostgreSQL", d)
	}
}

// Item 9: a non-stream request whose client hangs up is billed what the
// upstream served: the call is not cut, and its usage is taken.
func TestNonStreamClientHangUpIsBilled(t *testing.T) {
	b := setup(t)
	arrived := make(chan struct{}, 1)
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		arrived <- struct{}{}
		time.Sleep(300 * time.Millisecond)
		okChat(w, r, body)
	})
	b.channel(up.URL, channelOpts{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-arrived // the call is upstream: now the client hangs up
		cancel()
	}()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, b.srv.URL+"/v1/chat/completions", strings.NewReader(chatBody))
	req.Header.Set("Authorization", "Bearer "+b.token(tokenOpts{}))
	if res, err := http.DefaultClient.Do(req); err == nil {
		res.Body.Close()
		t.Fatal("the client should have given up")
	}
	b.settled(1)
	if q := b.scalar("SELECT quota FROM logs WHERE type = 2"); q != gpt4oMiniQuota() {
		t.Errorf("billed %d, want what upstream reported (%d)", q, gpt4oMiniQuota())
	}
}

// Item 10: an error in a stream's first event fails over to another
// channel, and the failed attempt costs nothing.
func TestErrorInTheFirstStreamEventFailsOver(t *testing.T) {
	b := setup(t)
	bad := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, `data: {"error":{"message":"The server is overloaded.","type":"server_error","code":"server_error"}}`+"\n\n")
	})
	good := newUpstream(t, okChat)
	b.channel(bad.URL, channelOpts{priority: 10})
	goodID := b.channel(good.URL, channelOpts{})
	body := readAll(t, b.post("/v1/chat/completions", b.token(tokenOpts{}), `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	if strings.Contains(body, "overloaded") || !strings.HasSuffix(body, "data: [DONE]\n\n") || strings.Count(body, "chat.completion.chunk") != 20 {
		t.Errorf("client got:\n%s", body)
	}
	b.settled(1)
	if n := b.scalar("SELECT count(*) FROM logs WHERE type = 2 AND channel_id = $1", goodID); n != 1 {
		t.Error("not served by the second channel")
	}
	if n := b.scalar("SELECT count(*) FROM logs WHERE type = 2"); n != 1 {
		t.Errorf("%d log rows, want 1", n)
	}
}

// Item 12: cache reads are billed at their own ratio.
func TestCacheReadsBilledAtTheirPrice(t *testing.T) {
	b := setup(t)
	srv := anthropicMessagesUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":"m","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"ok"}],"stop_reason":"end_turn",`+
			`"usage":{"input_tokens":100,"cache_read_input_tokens":2000,"cache_creation_input_tokens":0,"output_tokens":10}}`)
	})
	b.channel(srv.URL, channelOpts{typ: 14, models: "claude-sonnet-4-5"})
	readAll(t, b.post("/v1/chat/completions", b.token(tokenOpts{}), `{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"hi"}]}`))
	b.settled(1)
	opts := b.st.Options()
	p, _ := opts.Price("claude-sonnet-4-5", "default", 14)
	want := pricing.Cost(p, pricing.Usage{Input: 2100, CacheRead: 2000, Output: 10})
	if want >= pricing.Cost(p, pricing.Usage{Input: 2100, Output: 10})/3 {
		t.Fatalf("cache reads not cheaper in the defaults: %+v", p)
	}
	if q, c := b.scalar("SELECT quota FROM logs WHERE type = 2"), b.scalar("SELECT cache_read_tokens FROM logs WHERE type = 2"); q != want || c != 2000 {
		t.Errorf("billed %d with %d cache reads logged, want %d", q, c, want)
	}
}

// Item 13: a model reached through a mapping is billed as the model that
// served it, and the log names both.
func TestMappedModelBilledAsServed(t *testing.T) {
	b := setup(t)
	up := newUpstream(t, okChat)
	b.channel(up.URL, channelOpts{models: "my-alias", mapping: `{"my-alias":"gpt-4o-mini"}`})
	readAll(t, b.post("/v1/chat/completions", b.token(tokenOpts{}), `{"model":"my-alias","messages":[{"role":"user","content":"hi"}]}`))
	b.settled(1)
	var model, upstreamModel string
	var quota int64
	if err := b.pool.QueryRow(context.Background(), "SELECT model_name, upstream_model, quota FROM logs WHERE type = 2").Scan(&model, &upstreamModel, &quota); err != nil {
		t.Fatal(err)
	}
	if model != "my-alias" || upstreamModel != "gpt-4o-mini" || quota != gpt4oMiniQuota() {
		t.Errorf("logged %q → %q at %d, want my-alias → gpt-4o-mini at %d", model, upstreamModel, quota, gpt4oMiniQuota())
	}
}

// Item 15: a reservation batch whose reply was lost is not reserved again.
func TestLostReservationReplyIsNotReservedTwice(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	key := b.token(tokenOpts{quota: 10_000})
	tok := b.tokenID(key)
	var lost atomic.Bool
	b.meter.loseReserveReply = func() bool { return lost.CompareAndSwap(false, true) }
	tk, err := b.meter.Reserve(ctx, Reservation{UserID: b.root.ID, TokenID: tok, Model: "gpt-4o", Quota: 700, RequestID: "lost-reply"})
	if err != nil || tk.ReservationID <= 0 || tk.Granted != 700 {
		t.Fatalf("reserve after a lost reply: %+v %v", tk, err)
	}
	if n := b.scalar("SELECT count(*) FROM reservations"); n != 1 {
		t.Errorf("%d reservations, want 1", n)
	}
	if r := b.scalar("SELECT remain_quota FROM tokens WHERE id = $1", tok); r != 10_000-700 {
		t.Errorf("token quota %d, want one reservation taken", r)
	}
}

// Item 15: RELAY_TIMEOUT bounds the whole request, every attempt included.
func TestRelayTimeoutBoundsTheWholeRequest(t *testing.T) {
	b := setup(t)
	slow := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		select {
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
		}
		w.WriteHeader(500)
	})
	for range 3 {
		b.channel(slow.URL, channelOpts{})
	}
	srv := httptest.NewServer(NewServer(b.st, b.meter, NewClient(nil), b.meter.log, Config{Timeout: time.Second}))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/chat/completions", strings.NewReader(chatBody))
	req.Header.Set("Authorization", "Bearer "+b.token(tokenOpts{}))
	start := time.Now()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, res)
	if d := time.Since(start); d > 2500*time.Millisecond || res.StatusCode != 504 {
		t.Errorf("status %d after %v; want 504 at the one-second limit, not one per attempt", res.StatusCode, d)
	}
}

// Item 15: a 429 with Retry-After cools its channel down; with nothing else
// to serve, the client is told when to come back, without another call.
func TestRetryAfterCoolsTheChannelDown(t *testing.T) {
	b := setup(t)
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(429)
		fmt.Fprint(w, `{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}`)
	})
	b.channel(up.URL, channelOpts{})
	key := b.token(tokenOpts{})
	for i := range 2 {
		res := b.post("/v1/chat/completions", key, chatBody)
		readAll(t, res)
		ra := res.Header.Get("Retry-After")
		if res.StatusCode != 429 || ra == "" || ra > "30" || len(ra) > 2 {
			t.Errorf("request %d: status %d, Retry-After %q", i, res.StatusCode, ra)
		}
	}
	if n := up.hits.Load(); n != 1 {
		t.Errorf("the cooling channel was called %d times", n)
	}
}

// Item 15: a silent stream gets SSE keep-alive comments.
func TestKeepAliveWhileUpstreamIsSilent(t *testing.T) {
	b := setup(t)
	old := keepAliveEvery
	keepAliveEvery = 100 * time.Millisecond
	defer func() { keepAliveEvery = old }()
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: {\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"thinking\"}}]}\n\n")
		w.(http.Flusher).Flush()
		time.Sleep(350 * time.Millisecond)
		fmt.Fprint(w, "data: [DONE]\n\n")
	})
	b.channel(up.URL, channelOpts{})
	body := readAll(t, b.post("/v1/chat/completions", b.token(tokenOpts{}), `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	if !strings.Contains(body, ": keep-alive\n\n") || !strings.HasSuffix(body, "data: [DONE]\n\n") {
		t.Errorf("stream:\n%s", body)
	}
}

// Item 15: multi-line data and bare-CR line endings from upstream reach the
// client as valid SSE.
func TestMultiLineDataAndBareCR(t *testing.T) {
	b := setup(t)
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: {\"object\":\"chat.completion.chunk\",\rdata: \"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\r\rdata: [DONE]\r\r")
	})
	b.channel(up.URL, channelOpts{})
	res := b.post("/v1/chat/completions", b.token(tokenOpts{}), `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	var data []string
	var cur strings.Builder
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "data: "):
			if cur.Len() > 0 {
				cur.WriteByte('\n')
			}
			cur.WriteString(strings.TrimPrefix(line, "data: "))
		case line == "" && cur.Len() > 0:
			data = append(data, cur.String())
			cur.Reset()
		}
	}
	res.Body.Close()
	if len(data) != 2 || data[1] != "[DONE]" || !json.Valid([]byte(data[0])) {
		t.Errorf("events = %q", data)
	}
}
