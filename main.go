// Command oneapi is a self-hosted LLM API gateway: one OpenAI-compatible API
// in front of many upstream provider keys, with per-key quota metering and a
// web console.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"oneapi/embeddedpg"
	"oneapi/handlers"
	"oneapi/jobs"
	"oneapi/keys"
	"oneapi/logbuf"
	"oneapi/migrations"
	"oneapi/oneapiimport"
	"oneapi/queries"
	"oneapi/relay"
	"oneapi/relay/adaptor/gemini"
	"oneapi/relay/adaptor/vertex"
	"oneapi/relay/tokenizer"
	"oneapi/state"
	"oneapi/successrate"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	cfg, err := parseConfig(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "oneapi: configuration error:\n%v\n", err)
		os.Exit(2)
	}
	if cfg.ShowVersion {
		fmt.Println("oneapi", version)
		return
	}
	if cfg.Command == "healthcheck" {
		os.Exit(healthcheck(cfg.Host, cfg.Port))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "oneapi: %v\n", err)
		os.Exit(1)
	}
}

// run starts everything cfg asks for and blocks until ctx is cancelled (serve)
// or the work is done (migrate).
func run(ctx context.Context, cfg config, stdout io.Writer) error {
	logOut := stdout
	if cfg.LogDir != "" {
		if err := os.MkdirAll(cfg.LogDir, 0o755); err != nil {
			return fmt.Errorf("log dir: %w", err)
		}
		f, err := os.OpenFile(filepath.Join(cfg.LogDir, "oneapi.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
		if err != nil {
			return fmt.Errorf("log file: %w", err)
		}
		defer f.Close()
		logOut = io.MultiWriter(stdout, f)
	}
	// Buffered: a line per request would otherwise cost a write system call each.
	logBuf := logbuf.New(logOut, 200*time.Millisecond)
	defer logBuf.Close()
	log := slog.New(slog.NewTextHandler(logBuf, &slog.HandlerOptions{Level: cfg.LogLevel}))
	for _, w := range cfg.Warnings {
		log.Warn("One API setting ignored: " + w)
	}

	dsn := cfg.DatabaseURL
	if dsn == "" {
		pgDir := filepath.Join(cfg.DataDir, "postgres")
		log.Info("no DATABASE_URL/SQL_DSN: starting a private PostgreSQL", "dir", pgDir)
		srv, err := embeddedpg.Start(ctx, pgDir, embeddedpg.Options{})
		if err != nil {
			return err
		}
		defer func() {
			if err := srv.Stop(); err != nil {
				log.Error("stop postgres", "err", err)
			}
		}()
		if err := srv.CreateDatabase(ctx, "oneapi"); err != nil {
			return fmt.Errorf("create database: %w", err)
		}
		dsn = srv.DSN("oneapi")
		if cfg.EncryptionKey == nil {
			key, err := loadOrCreateKey(filepath.Join(cfg.DataDir, "encryption.key"))
			if err != nil {
				return err
			}
			cfg.EncryptionKey = key
		}
	}

	pool, err := openPool(ctx, dsn, cfg.Pool)
	if err != nil {
		return err
	}
	defer pool.Close()

	if cfg.NodeType == "slave" && cfg.Command == "serve" {
		if err := waitForSchema(ctx, pool, log); err != nil {
			return err
		}
	} else {
		if err := migrations.Up(ctx, pool); err != nil {
			return err
		}
		log.Info("database migrated")
	}
	if cfg.Command == "migrate" {
		return nil
	}
	if cfg.Command == "import" {
		_ = logBuf.Flush() // the report goes to stdout, after the log lines
		return runImport(ctx, pool, cfg, stdout)
	}

	q := queries.New(pool)
	if err := bootstrap(ctx, q, pool, cfg, log); err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}

	cipher, err := keys.NewCipher(cfg.EncryptionKey)
	if err != nil {
		return err
	}
	st, err := state.New(ctx, pool, cipher, log)
	if err != nil {
		return fmt.Errorf("load state: %w", err)
	}
	bg, stopBackground := context.WithCancel(context.Background())
	defer stopBackground()
	go jobs.NewListener(pool, st, log).Run(bg)     // changes from any node, at once
	go st.RunPeriodicReload(bg, cfg.SyncFrequency) // the safety net
	go tokenizer.Warm()                            // build the BPE tables before the first request needs them

	// One upstream client for the relay, the jobs and the console's channel
	// tests, through RELAY_PROXY when set.
	upstream := relay.NewClient(cfg.RelayProxy)
	vertex.SetTokenTransport(upstream.Transport) // Vertex's token exchange goes the way upstream calls go (RELAY_PROXY)
	gemini.SetDefaults(cfg.GeminiVersion, cfg.GeminiSafety)

	node := nodeID()
	meter, err := relay.NewMeter(ctx, pool, log, node)
	if err != nil {
		return err
	}
	// Background jobs on River: every node works them, the elected leader
	// alone enqueues the periodic ones (channel tests, balances, the
	// reservation sweeper, log retention).
	riverJobs, err := jobs.NewRiver(pool, jobs.Deps{
		State:      st,
		Log:        log,
		HTTPClient: upstream,
		Meter:      meter,
		// A reservation is abandoned once it is older than the longest a
		// request may run.
		NodeDeadAfter:          relay.NodeDeadAfter,
		NodeID:                 node,
		ChannelTestFrequency:   cfg.ChannelTestFrequency,
		ChannelUpdateFrequency: cfg.ChannelUpdateFrequency,
		PollingInterval:        cfg.PollingInterval,
		NotifyFunc:             handlers.RootNotifier(pool, cipher),
	})
	if err != nil {
		return err
	}
	if err := riverJobs.Start(bg); err != nil { // not ctx: a signal must not cut jobs off before Stop
		return fmt.Errorf("start jobs: %w", err)
	}
	rcfg := relay.Config{
		TrustedProxies: cfg.TrustedProxies,
		Timeout:        cfg.RelayTimeout,
	}
	if cfg.Metric.Enabled {
		rcfg.SuccessRate = successrate.New(cfg.Metric.Window, cfg.Metric.Threshold)
		log.Info("ENABLE_METRIC: channels whose success rate falls under the threshold are disabled",
			"threshold", cfg.Metric.Threshold, "window", cfg.Metric.Window)
	}
	relaySrv := relay.NewServer(st, meter, upstream, log, rcfg)

	deps := handlers.Deps{
		Pool:            pool,
		Log:             log,
		Version:         version,
		State:           st,
		Cipher:          cipher,
		SessionSecret:   cfg.SessionSecret,
		FrontendBaseURL: cfg.FrontendBaseURL,
		TrustedProxies:  cfg.TrustedProxies,
		APIRateLimit:    cfg.GlobalAPIRateLimit,
		WebRateLimit:    cfg.GlobalWebRateLimit,
		Jobs:            riverJobs,
		Balances:        riverJobs,
		UpstreamClient:  upstream,
		Relay:           relaySrv,
	}
	if cfg.NodeType == "slave" {
		// As One API: a slave with FRONTEND_BASE_URL leaves its console to
		// the master (the URL is only used for links on a master).
		deps.ConsoleRedirectURL = cfg.FrontendBaseURL
	}
	app, err := handlers.New(deps)
	if err != nil {
		return err
	}

	if cfg.PprofAddr != "" {
		go func() {
			// The blank import of net/http/pprof registers on the default mux, served only here.
			log.Warn("profiling endpoints stopped", "addr", cfg.PprofAddr, "err", http.ListenAndServe(cfg.PprofAddr, nil))
		}()
	}
	if cfg.MetricsAddr != "" {
		// A listener of its own: Prometheus scrapes it on the internal network,
		// and nothing on the public port exposes it.
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.Handler())
		go func() {
			log.Warn("metrics endpoint stopped", "addr", cfg.MetricsAddr, "err", http.ListenAndServe(cfg.MetricsAddr, mux))
		}()
	}

	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)))
	if err != nil {
		return err
	}
	httpSrv := &http.Server{
		Handler:           routeByPrefix(relaySrv, app),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- httpSrv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String(), "version", version)

	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: draining in-flight requests")
	// Shutdown waits for active requests, streams included, to finish.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := httpSrv.Shutdown(shutdownCtx); err != nil {
		log.Warn("drain incomplete", "err", err)
	}
	// Running jobs get a while to finish; one cut off is retried by another
	// node. River stops before the meter: the sweeper job uses it.
	jobsCtx, cancelJobs := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancelJobs()
	if err := riverJobs.Stop(jobsCtx); err != nil {
		log.Warn("jobs did not stop cleanly", "err", err)
	}
	stopBackground()
	meter.Close() // settle everything the drained requests used
	log.Info("stopped")
	return nil
}

func openPool(ctx context.Context, dsn string, pc poolConfig) (*pgxpool.Pool, error) {
	pcfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("database URL: %w", err)
	}
	if pcfg.MaxConns < 16 {
		pcfg.MaxConns = 16
	}
	if pc.MaxConns > 0 { // SQL_MAX_OPEN_CONNS: the operator's number, even below 16
		pcfg.MaxConns = pc.MaxConns
	}
	if pc.MaxLifetime > 0 {
		pcfg.MaxConnLifetime = pc.MaxLifetime
	}
	var pool *pgxpool.Pool
	if pc.MaxIdle >= 0 && pc.MaxIdle < pcfg.MaxConns {
		// SQL_MAX_IDLE_CONNS: a connection coming back to a pool that already
		// has that many idle is closed, as database/sql's SetMaxIdleConns
		// does. (pgx otherwise keeps idle connections for MaxConnIdleTime.)
		maxIdle := pc.MaxIdle
		pcfg.AfterRelease = func(*pgx.Conn) bool { return pool.Stat().IdleConns() < maxIdle }
	}
	pool, err = pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, err
	}
	pingCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	return pool, nil
}

// routeByPrefix sends /v1, /v1beta (Gemini's entrance) and One API's
// key-authenticated /dashboard/billing/* to the relay and everything else to the console and
// management API: the relay's hot path skips the console's middleware.
func routeByPrefix(relayHandler, app http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/") || strings.HasPrefix(r.URL.Path, "/v1beta/") || strings.HasPrefix(r.URL.Path, "/dashboard/billing/") {
			relayHandler.ServeHTTP(w, r)
			return
		}
		app.ServeHTTP(w, r)
	})
}

// nodeID names this process in reservations, so a stale one says whose it was.
func nodeID() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s:%d:%s", host, os.Getpid(), keys.Random(4))
}

// waitForSchema lets a slave node start only once a master has migrated.
func waitForSchema(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	p, db, err := migrations.NewProvider(pool)
	if err != nil {
		return err
	}
	defer db.Close()
	for {
		pending, err := p.HasPending(ctx)
		if err == nil && !pending {
			return nil
		}
		log.Info("slave node: waiting for the master to migrate the database", "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

// loadOrCreateKey keeps the private database's encryption key beside it.
func loadOrCreateKey(path string) ([]byte, error) {
	if b, err := os.ReadFile(path); err == nil {
		return decodeKey(strings.TrimSpace(string(b)))
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write encryption key: %w", err)
	}
	return key, nil
}

// healthcheck asks the local server whether it is up; distroless images have no curl.
func healthcheck(host string, port int) int {
	client := http.Client{Timeout: 3 * time.Second}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	res, err := client.Get("http://" + net.JoinHostPort(host, strconv.Itoa(port)) + "/healthz")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return 1
	}
	return 0
}

// runImport is `oneapi import`: One API's database into this one, in one
// transaction, with the report on stdout.
func runImport(ctx context.Context, pool *pgxpool.Pool, cfg config, stdout io.Writer) error {
	key := cfg.EncryptionKey
	if key == nil { // a dry run on an external database encrypts nothing it keeps
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return err
		}
	}
	cipher, err := keys.NewCipher(key)
	if err != nil {
		return err
	}
	rep, err := oneapiimport.Run(ctx, pool, oneapiimport.Options{
		From: cfg.Import.From, DryRun: cfg.Import.DryRun, Logs: cfg.Import.Logs, Merge: cfg.Import.Merge,
		Cipher: cipher, Progress: os.Stderr,
	})
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	_, err = rep.WriteTo(stdout)
	return err
}
