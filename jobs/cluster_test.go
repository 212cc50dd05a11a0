package jobs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/crypto/bcrypt"

	"oneapi/handlers"
	"oneapi/jobs"
	"oneapi/keys"
	"oneapi/queries"
	"oneapi/queries/dbtest"
	"oneapi/relay"
	"oneapi/state"
)

// The tests here run two gateway nodes in one process on one database, each
// with its own connection pool, in-memory state, LISTEN connection, meter,
// River client and HTTP server (handlers.New beside relay.NewServer, as
// main.go wires them).

var (
	clusterCipher, _ = keys.NewCipher(bytes.Repeat([]byte{3}, 32))
	quietLog         = slog.New(slog.NewTextHandler(io.Discard, nil))
)

const (
	rootPassword    = "cluster-root-password"
	rootAccessToken = "cluster-root-access-token-0123456789"
	model           = "gpt-4o-mini"
)

// killSwitch cuts a node off the database the way a crash or a network
// partition does: every connection it dialled is closed and new dials fail.
type killSwitch struct {
	mu    sync.Mutex
	dead  bool
	conns []net.Conn
}

func (k *killSwitch) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.dead {
		return nil, errors.New("node killed")
	}
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err == nil {
		k.conns = append(k.conns, c)
	}
	return c, err
}

func (k *killSwitch) kill() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.dead = true
	for _, c := range k.conns {
		c.Close()
	}
}

// nodeOpts shape a test node.
type nodeOpts struct {
	noRiver    bool
	river      jobs.Deps // merged over the node's own
	httpClient *http.Client
}

type node struct {
	name  string
	pool  *pgxpool.Pool
	st    *state.State
	river *jobs.River
	srv   *httptest.Server
	kill  *killSwitch
}

func startNode(t *testing.T, dsn, name string, o nodeOpts) *node {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	n := &node{name: name, kill: &killSwitch{}}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 12
	cfg.ConnConfig.RuntimeParams["application_name"] = "oneapi-" + name
	cfg.ConnConfig.DialFunc = n.kill.dial
	if n.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if n.st, err = state.New(ctx, n.pool, clusterCipher, quietLog); err != nil {
		t.Fatal(err)
	}
	l := jobs.NewListener(n.pool, n.st, quietLog)
	listenDone := make(chan struct{})
	go func() { l.Run(ctx); close(listenDone) }()

	meter, err := relay.NewMeter(ctx, n.pool, quietLog, name)
	if err != nil {
		t.Fatal(err)
	}
	client := o.httpClient
	if client == nil {
		client = &http.Client{Transport: relay.NewTransport(nil)}
	}
	var jq handlers.JobQueue
	if !o.noRiver {
		d := o.river
		d.State, d.Log, d.HTTPClient, d.Meter, d.NodeID = n.st, quietLog, client, meter, name
		if n.river, err = jobs.NewRiver(n.pool, d); err != nil {
			t.Fatal(err)
		}
		if err := n.river.Start(ctx); err != nil {
			t.Fatal(err)
		}
		jq = n.river
	}
	app, err := handlers.New(handlers.Deps{Pool: n.pool, Log: quietLog, Version: "test", State: n.st, Cipher: clusterCipher, Jobs: jq})
	if err != nil {
		t.Fatal(err)
	}
	rs := relay.NewServer(n.st, meter, client, quietLog, relay.Config{})
	n.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/") {
			rs.ServeHTTP(w, r)
			return
		}
		app.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		n.srv.Close()
		if n.river != nil && !n.kill.dead {
			sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := n.river.Stop(sctx); err != nil {
				t.Errorf("%s: stop river: %v", name, err)
			}
			scancel()
		}
		cancel()
		<-listenDone
		if !n.kill.dead {
			meter.Close()
			n.pool.Close()
		}
	})
	return n
}

// api calls the management API as root (access token) and decodes data.
func (n *node) api(t *testing.T, method, path string, body any, data any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, n.srv.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+rootAccessToken)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var reply struct {
		Success bool            `json:"success"`
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(res.Body).Decode(&reply); err != nil || !reply.Success {
		t.Fatalf("%s %s on %s: HTTP %d %q (%v)", method, path, n.name, res.StatusCode, reply.Message, err)
	}
	if data != nil {
		if err := json.Unmarshal(reply.Data, data); err != nil {
			t.Fatalf("%s %s: data %s: %v", method, path, reply.Data, err)
		}
	}
}

// chat sends one chat completion with key and returns the HTTP status.
func (n *node) chat(t *testing.T, key string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, n.srv.URL+"/v1/chat/completions",
		strings.NewReader(`{"model":"`+model+`","messages":[{"role":"user","content":"hello"}]}`))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never happened: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// upstream is an OpenAI-compatible upstream for every channel of a test,
// under /c/<channel id>, counting requests per channel.
type upstream struct {
	*httptest.Server
	mu    sync.Mutex
	hits  map[int64]int
	delay time.Duration
}

func newUpstream(t *testing.T, delay time.Duration) *upstream {
	u := &upstream{hits: map[int64]int{}, delay: delay}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest, _ := strings.CutPrefix(r.URL.Path, "/c/")
		idStr, _, _ := strings.Cut(rest, "/")
		id, _ := strconv.ParseInt(idStr, 10, 64)
		u.mu.Lock()
		u.hits[id]++
		u.mu.Unlock()
		if u.delay > 0 {
			time.Sleep(u.delay)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"`+model+`",
			"choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"stop"}],
			"usage":{"prompt_tokens":8,"completion_tokens":1,"total_tokens":9}}`)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) counts() map[int64]int {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make(map[int64]int, len(u.hits))
	for k, v := range u.hits {
		out[k] = v
	}
	return out
}

func (u *upstream) reset() {
	u.mu.Lock()
	u.hits = map[int64]int{}
	u.mu.Unlock()
}

// fixture is the shared database's content: root with an access token and
// two relay keys, and channels pointing at an upstream.
type fixture struct {
	rootID   int64
	keys     []string
	tokenIDs []int64
	channels []int64
}

func seed(t *testing.T, dsn string, u *upstream, channels int) fixture {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	q := queries.New(pool)
	hash, _ := bcrypt.GenerateFromPassword([]byte(rootPassword), bcrypt.MinCost)
	root, err := q.UserCreate(ctx, queries.UserCreateParams{Username: "root", PasswordHash: string(hash), Role: 100, Status: 1, GroupName: "default", Quota: 1 << 50})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.UserSetAccessToken(ctx, queries.UserSetAccessTokenParams{ID: root.ID, AccessTokenHash: keys.Hash(rootAccessToken), AccessTokenPrefix: "cluster"}); err != nil {
		t.Fatal(err)
	}
	f := fixture{rootID: root.ID}
	for i := 0; i < 2; i++ {
		key := fmt.Sprintf("sk-clusterrelaykey%d0123456789abcdef", i)
		tok, err := q.TokenCreate(ctx, queries.TokenCreateParams{UserID: root.ID, Name: "t", KeyHash: keys.Hash(key), KeyPrefix: key[:8], Status: 1, UnlimitedQuota: true})
		if err != nil {
			t.Fatal(err)
		}
		f.keys, f.tokenIDs = append(f.keys, key), append(f.tokenIDs, tok.ID)
	}
	for i := 0; i < channels; i++ {
		ch, err := q.ChannelCreate(ctx, queries.ChannelCreateParams{Type: 1, Name: "c" + strconv.Itoa(i),
			KeyCiphertext: clusterCipher.Seal("sk-upstream-fake"), KeyHint: "fake", Models: model, Groups: "default", Status: 1})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pool.Exec(ctx, "UPDATE channels SET base_url = $2 WHERE id = $1", ch.ID, fmt.Sprintf("%s/c/%d", u.URL, ch.ID)); err != nil {
			t.Fatal(err)
		}
		f.channels = append(f.channels, ch.ID)
	}
	return f
}

// TestClusterInvalidation: what one node changes, the other applies at
// once, whoever made the change (API on the other node, or SQL by hand), and
// it survives losing its LISTEN connection.
func TestClusterInvalidation(t *testing.T) {
	dsn := dbtest.DSN(t)
	u := newUpstream(t, 0)
	f := seed(t, dsn, u, 2)
	a := startNode(t, dsn, "a", nodeOpts{})
	b := startNode(t, dsn, "b", nodeOpts{})
	ch1, ch2 := f.channels[0], f.channels[1]
	sql := func(stmt string, args ...any) {
		t.Helper()
		if _, err := a.pool.Exec(context.Background(), stmt, args...); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("channel disabled on A gets no traffic on B", func(t *testing.T) {
		for i := 0; i < 20; i++ {
			if code := b.chat(t, f.keys[0]); code != http.StatusOK {
				t.Fatalf("chat on B = %d", code)
			}
		}
		if c := u.counts(); c[ch1] == 0 || c[ch2] == 0 {
			t.Fatalf("traffic before: %v, want both channels used", c)
		}
		a.api(t, http.MethodPut, "/api/channel/", map[string]any{"id": ch1, "status": 2}, nil)
		waitUntil(t, "B applies the disable", func() bool { return b.st.Routes().Channel(ch1).Status == 2 })
		u.reset()
		for i := 0; i < 30; i++ {
			if code := b.chat(t, f.keys[0]); code != http.StatusOK {
				t.Fatalf("chat on B = %d", code)
			}
		}
		if c := u.counts(); c[ch1] != 0 || c[ch2] != 30 {
			t.Errorf("traffic after disabling channel %d on A: %v", ch1, c)
		}
	})

	t.Run("manual SQL update propagates", func(t *testing.T) {
		sql("UPDATE channels SET status = 1 WHERE id = $1", ch1)
		waitUntil(t, "B routes to the re-enabled channel again", func() bool {
			b.chat(t, f.keys[0])
			return u.counts()[ch1] > 0
		})
	})

	t.Run("token revoked on A is refused on B", func(t *testing.T) {
		if code := b.chat(t, f.keys[0]); code != http.StatusOK {
			t.Fatalf("chat on B before = %d", code)
		}
		a.api(t, http.MethodPut, "/api/token/?status_only=true", map[string]any{"id": f.tokenIDs[0], "status": 2}, nil)
		waitUntil(t, "B refuses the revoked token", func() bool { return b.chat(t, f.keys[0]) == http.StatusUnauthorized })
	})

	t.Run("option changed on A applies on B", func(t *testing.T) {
		a.api(t, http.MethodPut, "/api/option/", map[string]any{"key": "RetryTimes", "value": "7"}, nil)
		waitUntil(t, "B has the new option", func() bool { return b.st.Options().RetryTimes == 7 })
		a.api(t, http.MethodPut, "/api/option/", map[string]any{"key": jobs.LogRetentionOption, "value": "30"}, nil)
		waitUntil(t, "B has the job option", func() bool { return b.st.Options().Raw()[jobs.LogRetentionOption] == "30" })
	})

	t.Run("killed LISTEN connection: reconnect and full reload", func(t *testing.T) {
		key := f.keys[1]
		if code := b.chat(t, key); code != http.StatusOK {
			t.Fatalf("chat on B = %d", code)
		}
		killListener := func() {
			sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'oneapi-b' AND query = 'LISTEN " + jobs.Topic + "'")
		}
		killListener()
		// This change notifies nobody; only the reload after reconnecting
		// can bring it to B.
		sql("ALTER TABLE tokens DISABLE TRIGGER tokens_notify")
		sql("UPDATE tokens SET status = 2 WHERE id = $1", f.tokenIDs[1])
		sql("ALTER TABLE tokens ENABLE TRIGGER tokens_notify")
		killListener() // in case it came back before the update
		waitUntil(t, "B reloads after reconnecting", func() bool { return b.chat(t, key) == http.StatusUnauthorized })
		// And it listens again.
		sql("UPDATE channels SET name = 'renamed' WHERE id = $1", ch2)
		waitUntil(t, "B listens again", func() bool { return b.st.Routes().Channel(ch2).Name == "renamed" })
	})

	t.Run("session from A works on B", func(t *testing.T) {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar}
		res, err := c.Post(a.srv.URL+"/api/user/login", "application/json",
			strings.NewReader(`{"username":"root","password":"`+rootPassword+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("login on A = %d", res.StatusCode)
		}
		// Same host, other port: the jar sends the cookie to B too.
		res, err = c.Get(b.srv.URL + "/api/user/self")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || !strings.Contains(string(body), `"username":"root"`) {
			t.Errorf("self on B with A's session = %d %s", res.StatusCode, body)
		}
	})

	t.Run("test all on A, results visible on B", func(t *testing.T) {
		u.reset()
		var got struct{ Channels, Enqueued int }
		a.api(t, http.MethodGet, "/api/channel/test?scope=all", nil, &got)
		if got.Channels != 2 || got.Enqueued != 2 {
			t.Fatalf("test all = %+v, want 2 channels enqueued", got)
		}
		var list []struct {
			Kind, State string
			Output      json.RawMessage
		}
		waitUntil(t, "both tests completed", func() bool {
			b.api(t, http.MethodGet, "/api/jobs?kind=channel_probe&state=completed", nil, &list)
			return len(list) == 2
		})
		if c := u.counts(); c[ch1] != 1 || c[ch2] != 1 {
			t.Errorf("upstream hits = %v, want one test per channel", c)
		}
		if !strings.Contains(string(list[0].Output), `"ok":true`) {
			t.Errorf("job output = %s", list[0].Output)
		}
		row, err := queries.New(b.pool).ChannelGetByID(context.Background(), ch1)
		if err != nil || row.TestTime == nil {
			t.Errorf("test_time of channel %d not recorded (%v)", ch1, err)
		}
	})
}

// TestClusterProbeJobsRunOnce: 200 channel tests enqueued on the two nodes
// are worked by both River clients, each exactly once.
func TestClusterProbeJobsRunOnce(t *testing.T) {
	const channels = 200
	dsn := dbtest.DSN(t)
	u := newUpstream(t, 3*time.Millisecond)
	f := seed(t, dsn, u, channels)
	a := startNode(t, dsn, "a", nodeOpts{})
	b := startNode(t, dsn, "b", nodeOpts{})
	ctx := context.Background()
	// Half enqueued on each node, all at once.
	var wg sync.WaitGroup
	for i, nd := range []*node{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids := f.channels[i*channels/2 : (i+1)*channels/2]
			if n, err := nd.river.EnqueueChannelProbes(ctx, ids); err != nil || n != len(ids) {
				t.Errorf("%s enqueued %d (%v), want %d", nd.name, n, err, len(ids))
			}
		}()
	}
	wg.Wait()
	q := queries.New(a.pool)
	waitUntil(t, "every test job completed", func() bool {
		var done int
		_ = a.pool.QueryRow(ctx, "SELECT count(*) FROM river_job WHERE kind = 'channel_probe' AND state = 'completed'").Scan(&done)
		var open int
		_ = a.pool.QueryRow(ctx, "SELECT count(*) FROM river_job WHERE kind = 'channel_probe' AND finalized_at IS NULL").Scan(&open)
		return done >= channels && open == 0
	})
	hits := u.counts()
	for _, id := range f.channels {
		if hits[id] != 1 {
			t.Errorf("channel %d tested %d times, want exactly 1", id, hits[id])
		}
	}
	rows, err := q.JobListRecent(ctx, queries.JobListRecentParams{Kind: "channel_probe", MaxRows: 1000})
	if err != nil {
		t.Fatal(err)
	}
	byNode := map[string]int{}
	perChannel := map[string]int{}
	for _, r := range rows {
		if r.State != "completed" || r.Attempt != 1 || len(r.AttemptedBy) != 1 {
			t.Errorf("job %d: state %s, attempt %d, attempted by %v", r.ID, r.State, r.Attempt, r.AttemptedBy)
			continue
		}
		byNode[r.AttemptedBy[0]]++
		perChannel[string(r.Args)]++
	}
	for args, c := range perChannel {
		if c != 1 {
			t.Errorf("%d completed jobs for %s", c, args)
		}
	}
	if len(perChannel) != channels || byNode["a"] == 0 || byNode["b"] == 0 {
		t.Errorf("%d channels tested; jobs per node %v, want both nodes working", len(perChannel), byNode)
	}
	t.Logf("jobs per node: %v", byNode)
}

// freezingTransport hangs the first request it sees, whatever its context
// says, as a process that was killed (or froze) mid-request would: the job
// neither finishes nor fails.
type freezingTransport struct {
	once    sync.Once
	started chan struct{}
	next    http.RoundTripper
}

func (f *freezingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	frozen := false
	f.once.Do(func() { frozen = true })
	if frozen {
		close(f.started)
		select {} // never returns: the node is gone
	}
	return f.next.RoundTrip(r)
}

// TestClusterKilledNodeJobRetried: node A takes a channel test and dies
// mid-request; River's rescuer, on the leader, hands the job to node B,
// which tests the channel.
func TestClusterKilledNodeJobRetried(t *testing.T) {
	dsn := dbtest.DSN(t)
	u := newUpstream(t, 0)
	f := seed(t, dsn, u, 1)
	ctx := context.Background()
	ch := f.channels[0]
	short := jobs.Deps{RescueStuckJobsAfter: 2 * time.Second, JobTimeout: time.Second}

	// A third process holds River's leadership while A runs, so the node
	// that dies is an ordinary worker, the common case (a dead leader is
	// replaced after its 15 s lease, which the test does not wait for).
	admin, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec(ctx, "INSERT INTO river_leader (elected_at, expires_at, leader_id) VALUES (now(), now() + interval '1 hour', 'elsewhere')"); err != nil {
		t.Fatal(err)
	}

	freeze := &freezingTransport{started: make(chan struct{}), next: relay.NewTransport(nil)}
	a := startNode(t, dsn, "a", nodeOpts{river: short, httpClient: &http.Client{Transport: freeze}})
	if n, err := a.river.EnqueueChannelProbes(ctx, []int64{ch}); err != nil || n != 1 {
		t.Fatalf("enqueue: %d %v", n, err)
	}
	select {
	case <-freeze.started:
	case <-time.After(10 * time.Second):
		t.Fatal("node A never started the test")
	}
	a.kill.kill() // A's connections drop; it never writes again

	// The job stays running in the database, owned by the dead node.
	var attemptedAt time.Time
	if err := admin.QueryRow(ctx, "SELECT attempted_at FROM river_job WHERE kind = 'channel_probe' AND state = 'running'").Scan(&attemptedAt); err != nil {
		t.Fatalf("running job of the dead node: %v", err)
	}
	// The leader elsewhere steps down; B starts once the job is stuck long
	// enough for the rescuer's first pass to take it.
	if _, err := admin.Exec(ctx, "DELETE FROM river_leader"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(attemptedAt.Add(short.RescueStuckJobsAfter + 200*time.Millisecond)))
	startNode(t, dsn, "b", nodeOpts{river: short})

	deadline := time.Now().Add(30 * time.Second)
	for {
		var state string
		var attempt int
		var by []string
		var errs [][]byte
		err := admin.QueryRow(ctx, "SELECT state, attempt, attempted_by, errors FROM river_job WHERE kind = 'channel_probe'").Scan(&state, &attempt, &by, &errs)
		if err != nil {
			t.Fatal(err)
		}
		if state == "completed" {
			if attempt != 2 || len(by) != 2 || by[0] != "a" || by[1] != "b" {
				t.Errorf("completed at attempt %d by %v, want attempt 2 by [a b]", attempt, by)
			}
			if len(errs) != 1 || !strings.Contains(string(errs[0]), "Stuck job rescued") {
				t.Errorf("errors = %s", bytes.Join(errs, []byte(", ")))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job not retried: state %s, attempt %d, by %v", state, attempt, by)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if hits := u.counts()[ch]; hits != 1 {
		t.Errorf("upstream got %d tests from B, want 1", hits)
	}
}

// TestClusterPeriodicJobsOncePerCluster: both nodes schedule the same
// periodic jobs, yet each runs once per period for the whole cluster (River's
// leader enqueues them, uniquely per period). The reservation sweeper, which
// replaced a goroutine on every node, settles a dead node's reservation.
func TestClusterPeriodicJobsOncePerCluster(t *testing.T) {
	dsn := dbtest.DSN(t)
	u := newUpstream(t, 0)
	f := seed(t, dsn, u, 1)
	ctx := context.Background()
	admin, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	// A reservation an hour old from a node that no longer exists.
	if _, err := admin.Exec(ctx, `INSERT INTO reservations (created_at, node_id, user_id, token_id, channel_id, model_name, quota, is_stream, request_id)
		VALUES (now() - interval '1 hour', 'dead-node', $1, $2, $3, $4, 1000, false, 'req-dead')`, f.rootID, f.tokenIDs[0], f.channels[0], model); err != nil {
		t.Fatal(err)
	}
	startNode(t, dsn, "a", nodeOpts{})
	startNode(t, dsn, "b", nodeOpts{})
	count := func(kind string) (all, done int) {
		t.Helper()
		if err := admin.QueryRow(ctx, "SELECT count(*), count(*) FILTER (WHERE state = 'completed') FROM river_job WHERE kind = $1", kind).Scan(&all, &done); err != nil {
			t.Fatal(err)
		}
		return all, done
	}
	waitUntil(t, "the start-up runs completed", func() bool {
		_, sweeps := count("reservation_sweep")
		_, retention := count("log_retention")
		return sweeps >= 1 && retention >= 1
	})
	time.Sleep(time.Second) // room for a second node's duplicate, if there were one
	for _, kind := range []string{"reservation_sweep", "log_retention"} {
		if all, _ := count(kind); all != 1 {
			t.Errorf("%d %s jobs for two nodes, want 1", all, kind)
		}
	}
	var settled int
	if err := admin.QueryRow(ctx, "SELECT count(*) FROM logs WHERE request_id = 'req-dead' AND type = 2 AND quota = 1000").Scan(&settled); err != nil || settled != 1 {
		t.Errorf("stale reservation settled %d times (%v), want 1", settled, err)
	}
}
