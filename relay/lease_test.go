package relay

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"oneapi/keys"
	"oneapi/queries"
	"oneapi/state"
)

// TestLeaseServesBusyToken: a busy token is served from a lease, and once the
// lease is released every counter is exactly what per-request reservations
// would have left.
func TestLeaseServesBusyToken(t *testing.T) {
	b := setup(t)
	up := newUpstream(t, okChat)
	b.channel(up.URL, channelOpts{})
	const quota = 10_000_000
	key := b.token(tokenOpts{quota: quota})
	const n, workers = 240, 8
	var wg sync.WaitGroup
	jobs := make(chan int)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				body := chatBody
				if i%3 == 0 {
					body = `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Say hello"}]}`
				}
				res := b.post("/v1/chat/completions", key, body)
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != 200 {
					t.Errorf("request %d: status %d", i, res.StatusCode)
				}
			}
		}()
	}
	var leased atomic.Bool
	stop := make(chan struct{})
	go func() { // the lease goes back soon after the traffic: watch for it meanwhile
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
				if b.meter.LeasesHeld() > 0 {
					leased.Store(true)
				}
			}
		}
	}()
	for i := 0; i < n; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	close(stop)
	if !leased.Load() {
		t.Fatal("a token busy with 240 requests got no lease")
	}
	// Idle leases go back to the token after leaseIdle.
	deadline := time.Now().Add(leaseIdle + 5*time.Second)
	for b.scalar("SELECT count(*) FROM quota_leases") > 0 || b.meter.LeasesHeld() > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the idle lease was not released")
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.settled(n)
	hash := keys.Hash(key)
	used := b.scalar("SELECT used_quota FROM tokens WHERE key_hash = $1", hash)
	if want := n * gpt4oMiniQuota(); used != want {
		t.Errorf("token used %d, want %d", used, want)
	}
	if remain := b.scalar("SELECT remain_quota FROM tokens WHERE key_hash = $1", hash); remain != quota-used {
		t.Errorf("token remain %d, want %d", remain, quota-used)
	}
	if q := b.scalar("SELECT quota FROM users WHERE id = $1", b.root.ID); q != 1_000_000_000-used {
		t.Errorf("user quota %d, want %d", q, 1_000_000_000-used)
	}
	if rc := b.scalar("SELECT request_count FROM users WHERE id = $1", b.root.ID); rc != n {
		t.Errorf("request_count %d, want %d", rc, n)
	}
	if rows := b.scalar("SELECT count(*) FROM logs WHERE type = 2 AND quota = $1", gpt4oMiniQuota()); rows != n {
		t.Errorf("%d log rows, want %d", rows, n)
	}
	if int(up.hits.Load()) != n {
		t.Errorf("upstream served %d, want %d", up.hits.Load(), n)
	}
}

// TestNoLeaseWithoutHeadroom: a token or user near the end of its quota is
// reserved request by request, exactly.
func TestNoLeaseWithoutHeadroom(t *testing.T) {
	b := setup(t)
	poor := b.user("poor", state.RoleUser, 100*leaseRequests*leaseHeadroom-1)
	cases := map[string]string{
		"token": b.token(tokenOpts{quota: 100 * leaseRequests * leaseHeadroom / 2}),
		"user":  b.token(tokenOpts{user: &poor, unlimited: true}),
	}
	for name, key := range cases {
		tok, err := b.st.Token(context.Background(), [32]byte(keys.Hash(key)))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 2*leaseHotRequests; i++ {
			tk, err := b.meter.Reserve(context.Background(), Reservation{UserID: tok.UserID, TokenID: tok.ID, Model: "gpt-4o", Quota: 100, RequestID: fmt.Sprintf("%s-%d", name, i), Leasable: true})
			if err != nil {
				t.Fatalf("%s: reserve %d: %v", name, i, err)
			}
			if tk.draw != nil {
				t.Fatalf("%s: request %d drew on a lease without headroom", name, i)
			}
			b.meter.Settle(Settlement{Ticket: tk, Reserved: 100, Quota: 100, UserID: tok.UserID, TokenID: tok.ID, Served: true, RequestID: fmt.Sprintf("%s-%d", name, i)})
		}
	}
	b.settled(4 * leaseHotRequests)
	if n := b.scalar("SELECT count(*) FROM quota_leases"); n != 0 {
		t.Errorf("%d leases taken without headroom", n)
	}
}

// TestLeaseCrashAndSweep: a node that stops renewing its lease (dead, or cut
// off from the database) has the lease returned by the sweeper; a request
// drawn from it that ran long enough to be journaled is billed at its
// estimate once; the node's late settlements never bill twice; nothing is
// lost or created.
func TestLeaseCrashAndSweep(t *testing.T) {
	b := setup(t)
	const quota = 1_000_000
	key := b.token(tokenOpts{quota: quota})
	tok, _ := b.st.Token(context.Background(), [32]byte(keys.Hash(key)))
	ctx := context.Background()
	reserve := func(id string) Ticket {
		tk, err := b.meter.Reserve(ctx, Reservation{UserID: tok.UserID, TokenID: tok.ID, Model: "gpt-4o-mini", Quota: 100, RequestID: id, Leasable: true})
		if err != nil {
			t.Fatal(err)
		}
		return tk
	}
	settle := func(tk Ticket, id string) {
		b.meter.Settle(Settlement{Ticket: tk, Reserved: 100, Quota: 40, UserID: tok.UserID, TokenID: tok.ID, Served: true, RequestID: id})
	}
	for i := 0; i < leaseHotRequests+2; i++ {
		id := fmt.Sprintf("done-%d", i)
		settle(reserve(id), id)
	}
	long := reserve("long") // runs past journalAfter: gets a reservation row
	mid := reserve("mid")   // journaled too, then settles normally
	if long.draw == nil || mid.draw == nil {
		t.Fatal("a busy token drew no lease")
	}
	deadline := time.Now().Add(5 * time.Second)
	for b.scalar("SELECT count(*) FROM reservations WHERE request_id IN ('long', 'mid') AND lease_id IS NOT NULL") != 2 {
		if time.Now().After(deadline) {
			t.Fatal("the long requests were not journaled")
		}
		time.Sleep(20 * time.Millisecond)
	}
	settle(mid, "mid")
	b.settledExcept(leaseHotRequests+3, 1)
	young := reserve("young")
	if young.draw == nil {
		t.Fatal("second draw missing")
	}
	// The sweeper takes the lease as if this node had died; its row lock may
	// be held by a flush for a moment (SKIP LOCKED), so sweep until both go.
	swept := 0
	for deadline := time.Now().Add(5 * time.Second); swept < 2; {
		n, err := b.meter.SweepStale(ctx, -time.Second)
		if err != nil {
			t.Fatal(err)
		}
		swept += n
		if time.Now().After(deadline) {
			t.Fatalf("swept %d of the lease and its journaled request", swept)
		}
		time.Sleep(10 * time.Millisecond)
	}
	settle(long, "long")   // late: the sweeper billed it
	settle(young, "young") // its lease is gone: billed to the token directly
	done := leaseHotRequests + 3
	b.settled(done + 2)
	for deadline := time.Now().Add(5 * time.Second); b.meter.LeasesHeld() > 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the swept lease is still held")
		}
	}

	if n := b.scalar("SELECT count(*) FROM logs WHERE request_id = 'long' AND quota = 100 AND content LIKE '%sweeper%'"); n != 1 {
		t.Errorf("%d sweeper rows for the long request", n)
	}
	if n := b.scalar("SELECT count(*) FROM logs WHERE request_id = 'young' AND quota = 40"); n != 1 {
		t.Errorf("%d rows for the young request", n)
	}
	if n := b.scalar("SELECT count(*) FROM logs WHERE type = $1 AND content LIKE '%quota lease%'", LogTypeSystem); n != 1 {
		t.Errorf("%d system rows for the swept lease", n)
	}
	want := int64(done*40 + 100 + 40)
	used := b.scalar("SELECT used_quota FROM tokens WHERE id = $1", tok.ID)
	remain := b.scalar("SELECT remain_quota FROM tokens WHERE id = $1", tok.ID)
	userQuota := b.scalar("SELECT quota FROM users WHERE id = $1", tok.UserID)
	if used != want || remain != quota-want || userQuota != 1_000_000_000-want {
		t.Errorf("used %d remain %d user quota %d; want used %d", used, remain, userQuota, want)
	}

	// The token gets a new lease and goes on.
	for i := 0; i < leaseHotRequests+1; i++ {
		id := fmt.Sprintf("after-%d", i)
		tk := reserve(id)
		if i == leaseHotRequests && tk.draw == nil {
			t.Error("no new lease after the sweep")
		}
		settle(tk, id)
	}
	b.meter.Close()
	if n := b.scalar("SELECT count(*) FROM quota_leases"); n != 0 {
		t.Errorf("%d leases left after Close", n)
	}
	want += (leaseHotRequests + 1) * 40
	if remain := b.scalar("SELECT remain_quota FROM tokens WHERE id = $1", tok.ID); remain != quota-want {
		t.Errorf("remain %d after Close, want %d", remain, quota-want)
	}
	if s := b.scalar("SELECT count(*) FROM logs WHERE content LIKE '%quota lease was taken back%'"); s != 1 {
		t.Errorf("%d rows note a lost lease", s)
	}
}

// TestLeaseConservationUnderChaos: two nodes serve one busy token while the
// sweeper takes everything it can and quota edits revoke leases at random.
// Whatever interleaving happens, no quota is created or lost: the token's and
// the user's balance plus what they used stay what they were, and every used
// unit has its log row.
func TestLeaseConservationUnderChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos run")
	}
	b := setup(t)
	ctx := context.Background()
	const quota = 10_000_000
	key := b.token(tokenOpts{quota: quota})
	tok, _ := b.st.Token(ctx, [32]byte(keys.Hash(key)))
	other, err := NewMeter(ctx, b.pool, slog.New(slog.NewTextHandler(io.Discard, nil)), "node-2")
	if err != nil {
		t.Fatal(err)
	}
	meters := []*Meter{b.meter, other}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var served, refused atomic.Int64
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				m := meters[rng.IntN(2)]
				id := fmt.Sprintf("w%d-%d", w, i)
				est := int64(50 + rng.IntN(100))
				tk, err := m.Reserve(ctx, Reservation{UserID: tok.UserID, TokenID: tok.ID, Model: "gpt-4o-mini", Quota: est, RequestID: id, Leasable: true})
				if err != nil {
					refused.Add(1)
					continue
				}
				if rng.IntN(40) == 0 {
					time.Sleep(journalAfter + 30*time.Millisecond) // long enough to be journaled
				} else {
					time.Sleep(time.Duration(rng.IntN(2000)) * time.Microsecond)
				}
				ok := rng.IntN(10) > 0
				cost := int64(0)
				if ok {
					cost = int64(rng.IntN(200)) // may exceed the estimate
					served.Add(1)
				}
				m.Settle(Settlement{Ticket: tk, Reserved: est, Quota: cost, UserID: tok.UserID, TokenID: tok.ID, Served: ok, RequestID: id})
			}
		}(w)
	}
	chaos := func(every time.Duration, f func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				case <-time.After(every):
					f()
				}
			}
		}()
	}
	chaos(700*time.Millisecond, func() { // the sweeper, as if every node had died
		if _, err := b.meter.SweepStale(ctx, -time.Second); err != nil {
			t.Error(err)
		}
	})
	chaos(150*time.Millisecond, func() { // an admin setting the token's quota takes its leases back
		if _, err := b.q.LeaseRevoke(ctx, queries.LeaseRevokeParams{UserID: tok.UserID, TokenID: pgtype.Int8{Int64: tok.ID, Valid: true}}); err != nil {
			t.Error(err)
		}
	})
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
	other.Close()
	b.meter.Close()
	// What a node left (a lease holding an unsettled draw, say) is the sweeper's.
	sweeper, err := NewMeter(ctx, b.pool, slog.New(slog.NewTextHandler(io.Discard, nil)), "sweeper")
	if err != nil {
		t.Fatal(err)
	}
	defer sweeper.Close()
	if _, err := sweeper.SweepStale(ctx, -time.Second); err != nil {
		t.Fatal(err)
	}

	if n := b.scalar("SELECT (SELECT count(*) FROM quota_leases) + (SELECT count(*) FROM reservations)"); n != 0 {
		t.Errorf("%d leases and reservations left", n)
	}
	used := b.scalar("SELECT used_quota FROM tokens WHERE id = $1", tok.ID)
	if remain := b.scalar("SELECT remain_quota FROM tokens WHERE id = $1", tok.ID); remain+used != quota {
		t.Errorf("token: remain %d + used %d = %d, want %d", remain, used, remain+used, quota)
	}
	if q, u := b.scalar("SELECT quota FROM users WHERE id = $1", tok.UserID), b.scalar("SELECT used_quota FROM users WHERE id = $1", tok.UserID); q+u != 1_000_000_000 || u != used {
		t.Errorf("user: quota %d + used %d, token used %d", q, u, used)
	}
	if logged := b.scalar("SELECT coalesce(sum(quota), 0)::bigint FROM logs WHERE type = 2"); logged != used {
		t.Errorf("log rows bill %d, used %d", logged, used)
	}
	if rows, rc := b.scalar("SELECT count(*) FROM logs WHERE type = 2"), b.scalar("SELECT request_count FROM users WHERE id = $1", tok.UserID); rows != rc || rows < served.Load()/2 {
		t.Errorf("%d log rows, request_count %d, %d served", rows, rc, served.Load())
	}
	leases := b.scalar("SELECT count(*) FROM logs WHERE type = $1", LogTypeSystem)
	t.Logf("served %d, refused %d, used %d, swept leases %d", served.Load(), refused.Load(), used, leases)
}

// TestLeasesOff: with QuotaLeaseEnabled off, a busy token's requests are
// each reserved in the database.
func TestLeasesOff(t *testing.T) {
	b := setup(t)
	up := newUpstream(t, okChat)
	b.channel(up.URL, channelOpts{})
	if _, err := b.pool.Exec(context.Background(), "INSERT INTO options (key, value) VALUES ('QuotaLeaseEnabled', 'false')"); err != nil {
		t.Fatal(err)
	}
	b.reload()
	key := b.token(tokenOpts{})
	for i := 0; i < 3*leaseHotRequests; i++ {
		res := b.post("/v1/chat/completions", key, chatBody)
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || b.meter.LeasesHeld() != 0 {
			t.Fatalf("request %d: status %d, %d leases held", i, res.StatusCode, b.meter.LeasesHeld())
		}
	}
}

// TestFlushRetryAfterLostCommitReply: a settlement flush that committed but
// whose reply was lost is not written again: its requests are billed once.
func TestFlushRetryAfterLostCommitReply(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	key := b.token(tokenOpts{quota: 10_000_000})
	tok, _ := b.st.Token(ctx, [32]byte(keys.Hash(key)))
	var lost atomic.Int32
	b.meter.smu.Lock()
	b.meter.loseCommitReply = func() bool { return lost.Add(1) <= 1 } // the first flush
	b.meter.smu.Unlock()
	const n = 3 * leaseHotRequests
	drew := 0
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("r%d", i)
		tk, err := b.meter.Reserve(ctx, Reservation{UserID: tok.UserID, TokenID: tok.ID, Model: "gpt-4o-mini", Quota: 100, RequestID: id, Leasable: true})
		if err != nil {
			t.Fatal(err)
		}
		if tk.draw != nil {
			drew++
		}
		b.meter.Settle(Settlement{Ticket: tk, Reserved: 100, Quota: 40, UserID: tok.UserID, TokenID: tok.ID, Served: true, RequestID: id})
	}
	if drew == 0 {
		t.Fatal("no request drew on a lease")
	}
	time.Sleep(6 * settleEvery) // a flush while serving, then its retry
	b.meter.Close()             // the final flush returns the lease
	if lost.Load() < 2 {
		t.Fatal("no flush after the one that lost its reply")
	}
	if rows := b.scalar("SELECT count(*) FROM logs WHERE type = 2"); rows != n {
		t.Errorf("%d log rows, want %d", rows, n)
	}
	used := b.scalar("SELECT used_quota FROM tokens WHERE id = $1", tok.ID)
	remain := b.scalar("SELECT remain_quota FROM tokens WHERE id = $1", tok.ID)
	if used != n*40 || remain != 10_000_000-n*40 {
		t.Errorf("used %d, remain %d; want %d, %d", used, remain, n*40, 10_000_000-n*40)
	}
}
