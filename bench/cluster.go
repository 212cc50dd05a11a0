package main

// `go run ./bench cluster` (make bench-cluster): two gateway processes on one
// PostgreSQL. It measures
//
//  1. database work per relayed request with one node and with two, at the
//     same load per node (pg_stat_database transactions; pg_stat_statements
//     calls when the library is installed), minus the nodes' idle background;
//  2. invalidation latency: a token disabled or enabled through node A's
//     management API (its reply means the change is committed) until node B
//     answers accordingly on /v1/models, over -changes changes;
//  3. channel-test jobs: "test all" on A over -jobs channels, worked by both
//     nodes' River clients, counting the requests each channel's upstream
//     received (duplicates and lost tests).

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"oneapi/embeddedpg"
)

// statsIdleFlush is how long to wait before reading pg_stat_database: an idle
// backend reports its transaction counts up to 10 s late (PostgreSQL 15's
// PGSTAT_IDLE_INTERVAL).
const statsIdleFlush = 11 * time.Second

func clusterMain(args []string) int {
	fs := flag.NewFlagSet("cluster", flag.ContinueOnError)
	var (
		changes  = fs.Int("changes", 500, "invalidation changes to time (≥ 500 for the target)")
		jobCount = fs.Int("jobs", 1000, "channels tested by one \"test all\" (one River job each)")
		duration = fs.Duration("duration", 4*time.Second, "relay load per database-work measurement")
		rateFlag = fs.String("rate", "100,400", "requests per second per node in the database-work measurement")
		phases   = fs.String("phases", "work,invalidation,jobs", "what to measure")
		binFlag  = fs.String("bin", "", "prebuilt gateway binary (default: go build the repo root)")
		keep     = fs.Bool("keep", false, "keep the temp dir (database, gateway logs)")
		strict   = fs.Bool("strict", false, "exit 1 if a target FAILs")
	)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var rates []int
	for _, s := range strings.Split(*rateFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			logf("-rate: %q is not a number ≥ 1", s)
			return 2
		}
		rates = append(rates, n)
	}

	var cleanups []func()
	var cleanOnce sync.Once
	cleanup := func() {
		cleanOnce.Do(func() {
			for i := len(cleanups) - 1; i >= 0; i-- {
				cleanups[i]()
			}
		})
	}
	defer cleanup()
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sigc
		logf("got %v, cleaning up", s)
		cleanup()
		os.Exit(130)
	}()

	tmp, err := os.MkdirTemp("", "oneapi-cluster-")
	if err != nil {
		logf("%v", err)
		return 1
	}
	_ = os.Chmod(tmp, 0o755)
	failed := false
	cleanups = append(cleanups, func() {
		if *keep || failed {
			logf("kept %s", tmp)
			return
		}
		_ = os.RemoveAll(tmp)
	})
	fail := func(format string, args ...any) int {
		failed = true
		logf(format, args...)
		return 1
	}
	ctx := context.Background()

	// One PostgreSQL for both nodes, with pg_stat_statements when installed.
	pgLog, _ := os.Create(filepath.Join(tmp, "postgres.log"))
	pgDir := filepath.Join(tmp, "pg")
	pg, err := embeddedpg.Start(ctx, pgDir, embeddedpg.Options{Log: pgLog})
	if err != nil {
		return fail("start postgres: %v", err)
	}
	cleanups = append(cleanups, func() { _ = pg.Stop() })
	if pg, err = enableStatements(ctx, pg, pgDir, pgLog); err != nil {
		return fail("%v", err)
	}
	if err := pg.CreateDatabase(ctx, "oneapi"); err != nil {
		return fail("create database: %v", err)
	}
	dsn := pg.DSN("oneapi")
	db, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fail("connect: %v", err)
	}
	cleanups = append(cleanups, func() { db.Close(context.Background()) })
	statements := false
	if _, err := db.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"); err == nil {
		_, err = db.Exec(ctx, "SELECT pg_stat_statements_reset()")
		statements = err == nil
	}

	bin := *binFlag
	if bin == "" {
		bin = filepath.Join(tmp, "oneapi")
		logf("building gateway → %s", bin)
		if err := buildGateway(bin); err != nil {
			return fail("build gateway: %v", err)
		}
	}
	mock, err := startChild("mock", "-addr", "127.0.0.1:0")
	if err != nil {
		return fail("start mock: %v", err)
	}
	cleanups = append(cleanups, mock.stop)
	mockURL := "http://" + mock.addr

	shared := []string{
		"SQL_DSN=" + dsn,
		"ENCRYPTION_KEY=" + randomHex(32),
		"SESSION_SECRET=" + randomHex(16),
		"INITIAL_ROOT_ACCESS_TOKEN=" + randomHex(16),
		"LOG_LEVEL=warn",
		"GLOBAL_API_RATE_LIMIT=0", // the bench calls /api far more than a person does
	}
	accessToken := strings.TrimPrefix(shared[3], "INITIAL_ROOT_ACCESS_TOKEN=")
	a, err := startNodeProcess(bin, tmp, "a", append(shared, "NODE_TYPE=master"))
	if a != nil {
		cleanups = append(cleanups, a.stop)
	}
	if err != nil {
		return fail("start node a: %v", err)
	}
	a.accessToken = accessToken
	logf("node a at %s (pid %d)", a.base, a.pid)
	if err := a.provision(mockURL); err != nil {
		return fail("provision: %v\n%s", err, tailFile(a.logPath, 20))
	}
	if err := waitRelay(a); err != nil {
		return fail("%v", err)
	}

	want := map[string]bool{}
	for _, p := range strings.Split(*phases, ",") {
		want[strings.TrimSpace(p)] = true
	}
	fmt.Printf("One API cluster bench: two gateway processes on one PostgreSQL; %d CPUs, load average %s\n\n", runtime.NumCPU(), loadAverage())
	meter := &dbMeter{db: db, statements: statements}

	// 1. Database work per relayed request, one node (b is not started yet).
	var one, two []workResult
	if want["work"] {
		logf("database work with one node")
		if one, err = meter.perRequest([]*gateway{a}, rates, *duration); err != nil {
			return fail("%v", err)
		}
	}
	b, err := startNodeProcess(bin, tmp, "b", append(shared, "NODE_TYPE=slave"))
	if b != nil {
		cleanups = append(cleanups, b.stop)
	}
	if err != nil {
		return fail("start node b: %v", err)
	}
	b.accessToken, b.key = accessToken, a.key
	logf("node b at %s (pid %d)", b.base, b.pid)
	if err := waitRelay(b); err != nil {
		return fail("%v", err)
	}
	if want["work"] {
		logf("database work with two nodes")
		if two, err = meter.perRequest([]*gateway{a, b}, rates, *duration); err != nil {
			return fail("%v", err)
		}
		fmt.Println("database work per relayed request, idle background subtracted (the same load per node: a second node must add no work per request):")
		fmt.Printf("  %-6s %-14s %10s %10s %16s %10s\n", "nodes", "req/s per node", "requests", "xact/req", "statements/req", "req/s")
		for i, c := range rates {
			for _, r := range []workResult{one[i], two[i]} {
				st := "n/a"
				if r.statements >= 0 {
					st = fmt.Sprintf("%.3f", r.statements)
				}
				fmt.Printf("  %-6d %-14d %10d %10.3f %16s %10.0f\n", r.nodes, c, r.requests, r.xact, st, r.rps)
			}
		}
		fmt.Printf("  idle background subtracted: %.1f xact/s, %.1f statements/s with one node; %.1f and %.1f with two\n",
			one[0].idleXact, one[0].idleStatements, two[0].idleXact, two[0].idleStatements)
		if statements {
			fmt.Println("  statements per request by query, two nodes at the highest rate:")
			for _, q := range two[len(two)-1].top {
				fmt.Printf("    %6.3f  %s\n", q.perReq, q.query)
			}
		}
		fmt.Println()
	}

	// 2. Invalidation latency.
	var lat, latUpper []time.Duration
	if want["invalidation"] {
		logf("invalidation: %d changes on a, observed on b", *changes)
		if lat, latUpper, err = invalidationLatency(ctx, db, a, b, *changes); err != nil {
			return fail("invalidation: %v", err)
		}
		fmt.Printf("invalidation latency over %d changes (token disabled/enabled through a's API until b answers /v1/models accordingly):\n", len(lat))
		for _, l := range []struct {
			what string
			d    []time.Duration
		}{{"from a's reply (the change committed before it)", lat}, {"from sending the change to a (upper bound)", latUpper}} {
			sort.Slice(l.d, func(i, j int) bool { return l.d[i] < l.d[j] })
			fmt.Printf("  %-50s p50 %6.2f ms  p90 %6.2f ms  p99 %6.2f ms  max %6.2f ms\n", l.what,
				ms(percentile(l.d, 0.50)), ms(percentile(l.d, 0.90)), ms(percentile(l.d, 0.99)), ms(l.d[len(l.d)-1]))
		}
		fmt.Println()
	}

	// 3. Channel-test jobs.
	var jr jobsResult
	if want["jobs"] {
		logf("channel tests: %d channels", *jobCount)
		if jr, err = runProbeJobs(ctx, db, a, *jobCount, map[int]string{a.pid: "a", b.pid: "b"}); err != nil {
			return fail("jobs: %v", err)
		}
		fmt.Printf("channel-test jobs: %d channels, %d enqueued by \"test all\" on a, all finished in %.1f s; "+
			"per node %v; %d duplicates, %d lost, %d failed jobs\n\n",
			jr.channels, jr.enqueued, jr.elapsed.Seconds(), jr.perNode, jr.duplicates, jr.lost, jr.failed)
	}

	fails := 0
	line := func(ok bool, what, got string) {
		v := "PASS"
		if !ok {
			v, fails = "FAIL", fails+1
		}
		fmt.Printf("  %-4s  %-62s %s\n", v, what, got)
	}
	fmt.Println("targets:")
	if want["invalidation"] {
		p99 := percentile(latUpper, 0.99) // the upper bound: no flattering
		line(len(lat) >= 500 && p99 < 100*time.Millisecond, "invalidation p99 < 100 ms over ≥ 500 changes", fmt.Sprintf("%.2f ms over %d", ms(p99), len(lat)))
	}
	if want["work"] {
		for i, c := range rates {
			// Equal within measurement noise (River's background is
			// subtracted as measured while idle, which is not exact).
			x1, x2 := one[i].xact, two[i].xact
			line(x2 <= x1*1.05+0.02, fmt.Sprintf("DB transactions per request, 2 nodes = 1 node (%d req/s per node)", c),
				fmt.Sprintf("%.3f vs %.3f", x2, x1))
			if one[i].statements >= 0 {
				s1, s2 := one[i].statements, two[i].statements
				line(s2 <= s1*1.05+0.02, fmt.Sprintf("DB statements per request, 2 nodes = 1 node (%d req/s per node)", c),
					fmt.Sprintf("%.3f vs %.3f", s2, s1))
			}
		}
	}
	if want["jobs"] {
		line(jr.duplicates == 0 && jr.lost == 0 && jr.failed == 0 && jr.channels >= 1000,
			fmt.Sprintf("0 duplicates / 0 lost across ≥ 1000 channel-test jobs (%d)", jr.channels),
			fmt.Sprintf("%d duplicates, %d lost, %d failed", jr.duplicates, jr.lost, jr.failed))
	}
	if *strict && fails > 0 {
		return 1
	}
	return 0
}

// loadAverage is the machine's 1-minute load: figures taken on a busy
// machine say so.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "unknown"
	}
	return f[0]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// enableStatements restarts the server with pg_stat_statements preloaded
// when the library is installed; otherwise it leaves it as it is.
func enableStatements(ctx context.Context, pg *embeddedpg.Server, dir string, log io.Writer) (*embeddedpg.Server, error) {
	conn, err := pgx.Connect(ctx, pg.DSN("postgres"))
	if err != nil {
		return pg, err
	}
	var libdir string
	err = conn.QueryRow(ctx, "SELECT setting FROM pg_config WHERE name = 'PKGLIBDIR'").Scan(&libdir)
	if err == nil {
		if _, serr := os.Stat(filepath.Join(libdir, "pg_stat_statements.so")); serr != nil {
			err = serr
		}
	}
	if err == nil {
		_, err = conn.Exec(ctx, "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
	}
	conn.Close(ctx)
	if err != nil {
		warnf("pg_stat_statements not available (%v): statements per request not measured", err)
		return pg, nil
	}
	if err := pg.Stop(); err != nil {
		return pg, err
	}
	return embeddedpg.Start(ctx, dir, embeddedpg.Options{Log: log})
}

// startNodeProcess starts the gateway binary on an external database.
func startNodeProcess(bin, tmp, name string, env []string) (*gateway, error) {
	port, err := freeLoopbackPort()
	if err != nil {
		return nil, err
	}
	g := &gateway{
		base:    fmt.Sprintf("http://127.0.0.1:%d", port),
		dataDir: filepath.Join(tmp, name),
		logPath: filepath.Join(tmp, "gateway-"+name+".log"),
		done:    make(chan error, 1),
	}
	if err := os.MkdirAll(g.dataDir, 0o755); err != nil {
		return nil, err
	}
	lf, err := os.Create(g.logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin)
	cmd.Dir = tmp
	cmd.Env = append(append(os.Environ(), env...), "DATA_DIR="+g.dataDir, "PORT="+strconv.Itoa(port))
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, err
	}
	g.cmd, g.pid = cmd, cmd.Process.Pid
	go func() { g.done <- cmd.Wait(); lf.Close() }()
	deadline := time.Now().Add(90 * time.Second)
	for {
		select {
		case err := <-g.done:
			g.done <- err
			return g, fmt.Errorf("exited before ready (%v)\n%s", err, tailFile(g.logPath, 30))
		default:
		}
		if resp, err := apiClient.Get(g.base + "/readyz"); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return g, nil
			}
		}
		if time.Now().After(deadline) {
			return g, fmt.Errorf("not ready after 90 s\n%s", tailFile(g.logPath, 30))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitRelay waits until g relays a chat completion (its state has the
// channel and the token).
func waitRelay(g *gateway) error {
	t := &target{name: "c", url: g.base + "/v1/chat/completions", key: g.key, client: newLoadClient()}
	buf := make([]byte, 32<<10)
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := doOne(t, chatBody(false), false, buf)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s never relayed a request: %v", g.base, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// dbMeter reads the database's transaction and statement counters.
type dbMeter struct {
	db         *pgx.Conn
	statements bool
}

type dbCounters struct {
	xact  int64
	calls map[string]int64 // by query text
}

func (m *dbMeter) read(ctx context.Context) (dbCounters, error) {
	c := dbCounters{calls: map[string]int64{}}
	if err := m.db.QueryRow(ctx, "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()").Scan(&c.xact); err != nil {
		return c, err
	}
	if !m.statements {
		return c, nil
	}
	rows, err := m.db.Query(ctx, `SELECT query, calls FROM pg_stat_statements
		WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND query NOT ILIKE '%pg_stat%'`)
	if err != nil {
		return c, err
	}
	defer rows.Close()
	for rows.Next() {
		var q string
		var n int64
		if err := rows.Scan(&q, &n); err != nil {
			return c, err
		}
		c.calls[q] += n
	}
	return c, rows.Err()
}

type queryRate struct {
	query  string
	perReq float64
}

type workResult struct {
	nodes, requests int
	xact            float64 // per request
	statements      float64 // per request; -1 unknown
	rps             float64
	top             []queryRate
	// idle background of the nodes, per second
	idleXact, idleStatements float64
}

// perRequest relays chat completions through each node at each rate (the
// same load per node, so batching is the same with one node and with two)
// and returns the database work per request, minus the background the nodes
// make while idle (River's polling and leader election, the listener's
// keepalive) measured over a window of the same length.
func (m *dbMeter) perRequest(nodes []*gateway, rates []int, dur time.Duration) ([]workResult, error) {
	ctx := context.Background()
	window := dur + statsIdleFlush
	time.Sleep(statsIdleFlush) // earlier activity reported
	i0, err := m.read(ctx)
	if err != nil {
		return nil, err
	}
	time.Sleep(window)
	i1, err := m.read(ctx)
	if err != nil {
		return nil, err
	}
	idleX := float64(i1.xact - i0.xact)
	idleS := float64(sumCalls(i1.calls) - sumCalls(i0.calls))

	var out []workResult
	body := chatBody(false)
	for _, rate := range rates {
		s0, err := m.read(ctx)
		if err != nil {
			return nil, err
		}
		var wg sync.WaitGroup
		aggs := make([]*agg, len(nodes))
		for i, g := range nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				t := &target{name: "c", url: g.base + "/v1/chat/completions", key: g.key, client: newLoadClient()}
				aggs[i] = runPaced(t, body, rate, dur)
			}()
		}
		wg.Wait()
		time.Sleep(window - dur)
		s1, err := m.read(ctx)
		if err != nil {
			return nil, err
		}
		total := &agg{}
		for _, a := range aggs {
			total.ok += a.ok
			total.errs += a.errs
			total.elapsed = max(total.elapsed, a.elapsed)
		}
		if total.ok == 0 || total.errs > 0 {
			return nil, fmt.Errorf("relay load: %d ok, %d errors", total.ok, total.errs)
		}
		n := float64(total.ok)
		r := workResult{nodes: len(nodes), requests: total.ok, statements: -1, rps: n / total.elapsed.Seconds(),
			xact: (float64(s1.xact-s0.xact) - idleX) / n, idleXact: idleX / window.Seconds(), idleStatements: idleS / window.Seconds()}
		if m.statements {
			r.statements = (float64(sumCalls(s1.calls)-sumCalls(s0.calls)) - idleS) / n
			for q, c := range s1.calls {
				if d := float64(c - s0.calls[q]); d/n >= 0.01 {
					r.top = append(r.top, queryRate{oneLineQuery(q), d / n})
				}
			}
			sort.Slice(r.top, func(i, j int) bool { return r.top[i].perReq > r.top[j].perReq })
			if len(r.top) > 8 {
				r.top = r.top[:8]
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// runPaced sends rate requests per second to t for dur (open loop, at most
// 64 in flight) and counts them as runLoad does.
func runPaced(t *target, body []byte, rate int, dur time.Duration) *agg {
	n := int(float64(rate) * dur.Seconds())
	due := make(chan time.Time, n)
	start := time.Now()
	for i := 0; i < n; i++ {
		due <- start.Add(time.Duration(i) * time.Second / time.Duration(rate))
	}
	close(due)
	var mu sync.Mutex
	total := &agg{}
	var wg sync.WaitGroup
	for w := 0; w < 64; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &agg{}
			buf := make([]byte, 32<<10)
			for at := range due {
				time.Sleep(time.Until(at))
				t0 := time.Now()
				if err := doOne(t, body, false, buf); err != nil {
					r.errs++
					if r.errKinds == nil {
						r.errKinds = map[string]int{}
					}
					addErrKind(r.errKinds, err.Error(), 1)
					continue
				}
				r.ok++
				r.lat = append(r.lat, time.Since(t0))
			}
			mu.Lock()
			total.add(r)
			mu.Unlock()
		}()
	}
	wg.Wait()
	total.elapsed = time.Since(start)
	return total
}

func sumCalls(m map[string]int64) int64 {
	var s int64
	for _, v := range m {
		s += v
	}
	return s
}

func oneLineQuery(q string) string {
	q = strings.Join(strings.Fields(q), " ")
	if len(q) > 90 {
		q = q[:90] + "…"
	}
	return q
}

// invalidationLatency disables and enables a token through a's API, n times
// in all, and times each until b answers /v1/models accordingly (401 for a
// disabled token, 200 for an enabled one). fromReply starts the clock when
// a's reply arrives (the change committed before a answered, so this is at
// most a's post-commit work short); fromSend when the change is sent.
func invalidationLatency(ctx context.Context, db *pgx.Conn, a, b *gateway, n int) (fromReply, fromSend []time.Duration, err error) {
	data, err := a.api(http.MethodPost, "/api/token/", map[string]any{"name": "invalidation", "unlimited_quota": true, "expired_time": -1})
	if err != nil {
		return nil, nil, err
	}
	var tok struct {
		Key string `json:"key"`
	}
	if err := json.Unmarshal(data, &tok); err != nil || tok.Key == "" {
		return nil, nil, fmt.Errorf("create token: %s", data)
	}
	if !strings.HasPrefix(tok.Key, "sk-") {
		tok.Key = "sk-" + tok.Key
	}
	var id int64
	if err := db.QueryRow(ctx, "SELECT id FROM tokens WHERE name = 'invalidation'").Scan(&id); err != nil {
		return nil, nil, err
	}
	client := newLoadClient()
	models := func() (int, error) {
		req, _ := http.NewRequest(http.MethodGet, b.base+"/v1/models", nil)
		req.Header.Set("Authorization", "Bearer "+tok.Key)
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	deadline := time.Now().Add(10 * time.Second)
	for code, _ := models(); code != http.StatusOK; code, _ = models() {
		if time.Now().After(deadline) {
			return nil, nil, errors.New("b never accepted the new token")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for i := 0; i < n; i++ {
		status, want := 2, http.StatusUnauthorized
		if i%2 == 1 {
			status, want = 1, http.StatusOK
		}
		sent := time.Now()
		if _, err := a.api(http.MethodPut, "/api/token/?status_only=true", map[string]any{"id": id, "status": status}); err != nil {
			return nil, nil, err
		}
		start := time.Now()
		for {
			code, err := models()
			if err != nil {
				return nil, nil, err
			}
			if code == want {
				break
			}
			if time.Since(start) > 5*time.Second {
				return nil, nil, fmt.Errorf("change %d not applied on b after 5 s (HTTP %d)", i, code)
			}
			// Polling flat out would take a CPU from the nodes being measured.
			time.Sleep(200 * time.Microsecond)
		}
		done := time.Now()
		fromReply, fromSend = append(fromReply, done.Sub(start)), append(fromSend, done.Sub(sent))
	}
	return fromReply, fromSend, nil
}

type jobsResult struct {
	channels, enqueued, duplicates, lost, failed int
	elapsed                                      time.Duration
	perNode                                      map[string]int
}

// runProbeJobs creates n channels whose upstream (in this process) counts
// requests per channel key, runs "test all" on a and waits for every job.
func runProbeJobs(ctx context.Context, db *pgx.Conn, a *gateway, n int, names map[int]string) (jobsResult, error) {
	r := jobsResult{channels: n, perNode: map[string]int{}}
	var mu sync.Mutex
	hits := map[string]int{}
	var other atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return r, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		key := strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer ")
		if strings.HasPrefix(key, "sk-probe-") {
			mu.Lock()
			hits[key]++
			mu.Unlock()
		} else {
			other.Add(1)
		}
		_, _ = io.Copy(io.Discard, req.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"chatcmpl-probe","object":"chat.completion","created":1,"model":"cluster-probe",`+
			`"choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"length"}],`+
			`"usage":{"prompt_tokens":8,"completion_tokens":1,"total_tokens":9}}`)
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	keyList := make([]string, n)
	for i := range keyList {
		keyList[i] = fmt.Sprintf("sk-probe-%05d", i)
	}
	// One API creates a channel per line of the key field.
	if _, err := a.api(http.MethodPost, "/api/channel/", map[string]any{
		"type": 1, "name": "probe", "key": strings.Join(keyList, "\n"), "base_url": "http://" + ln.Addr().String(),
		"models": "cluster-probe", "group": "probe-only",
	}); err != nil {
		return r, fmt.Errorf("create channels: %w", err)
	}
	var since time.Time
	if err := db.QueryRow(ctx, "SELECT now()").Scan(&since); err != nil {
		return r, err
	}
	start := time.Now()
	data, err := a.api(http.MethodGet, "/api/channel/test?scope=all", nil)
	if err != nil {
		return r, err
	}
	var got struct {
		Enqueued int `json:"enqueued"`
	}
	_ = json.Unmarshal(data, &got)
	r.enqueued = got.Enqueued
	deadline := time.Now().Add(5 * time.Minute)
	for {
		var open, done int
		if err := db.QueryRow(ctx, `SELECT count(*) FILTER (WHERE finalized_at IS NULL), count(*) FILTER (WHERE finalized_at IS NOT NULL)
			FROM river_job WHERE kind = 'channel_probe' AND created_at >= $1`, since).Scan(&open, &done); err != nil {
			return r, err
		}
		if open == 0 && done >= r.enqueued {
			break
		}
		if time.Now().After(deadline) {
			return r, fmt.Errorf("%d jobs still open after 5 minutes", open)
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.elapsed = time.Since(start)
	rows, err := db.Query(ctx, `SELECT coalesce(attempted_by[array_upper(attempted_by, 1)], '?'), state::text, count(*)
		FROM river_job WHERE kind = 'channel_probe' AND created_at >= $1 GROUP BY 1, 2`, since)
	if err != nil {
		return r, err
	}
	for rows.Next() {
		var node, state string
		var c int
		if err := rows.Scan(&node, &state, &c); err != nil {
			return r, err
		}
		// River's client id is the gateway's node id, host:pid:random.
		if f := strings.Split(node, ":"); len(f) == 3 {
			if pid, err := strconv.Atoi(f[1]); err == nil && names[pid] != "" {
				node = names[pid]
			}
		}
		r.perNode[node] += c
		if state != "completed" {
			r.failed += c
		}
	}
	if err := rows.Err(); err != nil {
		return r, err
	}
	mu.Lock()
	defer mu.Unlock()
	for _, k := range keyList {
		switch c := hits[k]; {
		case c == 0:
			r.lost++
		case c > 1:
			r.duplicates += c - 1
		}
	}
	return r, nil
}
