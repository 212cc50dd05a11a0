package main

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"oneapi/state"
)

// config is read once at start from flags and the environment, validated, and
// passed down explicitly. Names follow One API where they mean the same thing.
type config struct {
	Command string // serve (default), migrate, import, healthcheck, version

	Host        string // listen address; "" = every interface, as One API
	Port        int
	LogDir      string
	LogLevel    slog.Level
	DatabaseURL string // empty: run a private PostgreSQL under DataDir
	DataDir     string

	SessionSecret   string
	EncryptionKey   []byte // 32 bytes; nil: generated into DataDir (private PostgreSQL only)
	NodeType        string // master or slave
	SyncFrequency   time.Duration
	FrontendBaseURL string
	RelayTimeout    time.Duration // 0: no overall limit
	TrustedProxies  []netip.Prefix

	// Background jobs (River), One API's variables. A frequency of 0 turns
	// the periodic job off.
	ChannelTestFrequency   time.Duration // CHANNEL_TEST_FREQUENCY, minutes
	ChannelUpdateFrequency time.Duration // CHANNEL_UPDATE_FREQUENCY, minutes (balances)
	PollingInterval        time.Duration // POLLING_INTERVAL, seconds between channel requests

	GlobalAPIRateLimit int // requests per IP per 3 minutes on /api; 0 = off
	GlobalWebRateLimit int // requests per IP per 3 minutes on console pages; 0 = off

	InitialRootToken       string
	InitialRootAccessToken string

	// PprofAddr, when set, serves net/http/pprof there (keep it on loopback).
	PprofAddr string
	// MetricsAddr, when set, serves Prometheus metrics at /metrics there.
	MetricsAddr string

	// Pool sizes the database connection pool (One API's SQL_MAX_*).
	Pool poolConfig
	// RelayProxy, when set, carries every upstream call (RELAY_PROXY).
	RelayProxy *url.URL
	// GeminiVersion and GeminiSafety are Gemini channels' defaults
	// (GEMINI_VERSION, GEMINI_SAFETY_SETTING); "" keeps the adaptor's.
	GeminiVersion, GeminiSafety string
	// Metric is One API's ENABLE_METRIC: disable a channel whose recent
	// success rate falls under a threshold.
	Metric metricConfig

	// Import holds the flags of `oneapi import`.
	Import importFlags

	// Warnings are One API settings that were set but are not needed here,
	// one line each, logged at start.
	Warnings []string

	ShowVersion bool
}

// poolConfig is One API's SQL_MAX_OPEN_CONNS, SQL_MAX_IDLE_CONNS and
// SQL_CONN_MAX_LIFETIME (or SQL_MAX_LIFETIME); zero values keep the defaults.
type poolConfig struct {
	MaxConns    int32
	MaxIdle     int32 // -1: unset
	MaxLifetime time.Duration
}

// metricConfig is ENABLE_METRIC, METRIC_QUEUE_SIZE and METRIC_SUCCESS_RATE_THRESHOLD.
type metricConfig struct {
	Enabled   bool
	Window    int
	Threshold float64
}

// importFlags are `oneapi import --from URL [--dry-run] [--logs] [--merge]`.
type importFlags struct {
	From                string
	DryRun, Logs, Merge bool
}

// parseConfig reads flags from args and settings from getenv. A malformed value
// is an error naming the variable, never a silent default.
func parseConfig(args []string, getenv func(string) string, usage io.Writer) (config, error) {
	c := config{Command: "serve"}
	var errs []error
	env := func(name string) string { return strings.TrimSpace(getenv(name)) }
	intVar := func(name string, def int, min int) int {
		s := env(name)
		if s == "" {
			return def
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < min {
			errs = append(errs, fmt.Errorf("%s=%q: want a whole number ≥ %d", name, s, min))
			return def
		}
		return n
	}

	defPort := intVar("PORT", 3000, 1)
	fs := flag.NewFlagSet("oneapi", flag.ContinueOnError)
	fs.SetOutput(usage)
	fs.IntVar(&c.Port, "port", defPort, "HTTP port (env PORT)")
	fs.StringVar(&c.Host, "host", env("HOST"), "listen address, e.g. 127.0.0.1 behind a reverse proxy; empty: every interface (env HOST)")
	fs.StringVar(&c.LogDir, "log-dir", env("LOG_DIR"), "also write logs to oneapi.log in this directory (env LOG_DIR)")
	fs.BoolVar(&c.ShowVersion, "version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(usage, "Usage: oneapi [flags] [serve|migrate|import|healthcheck|version]\n\n"+
			"  serve    run the gateway (default)\n"+
			"  migrate  apply database migrations and exit\n"+
			"  import   --from URL [--dry-run] [--logs] [--merge]: import a One API database (see `oneapi import -h`)\n"+
			"  healthcheck  exit 0 if the server on --port answers /healthz (for container health checks)\n"+
			"  version  print the version and exit\n\nFlags:\n")
		fs.PrintDefaults()
		fmt.Fprintf(usage, "\nConfiguration is read from the environment; see README.md.\n")
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	rest := fs.Args()
	if len(rest) > 0 {
		c.Command, rest = rest[0], rest[1:]
	}
	if c.Command == "import" {
		ifs := flag.NewFlagSet("oneapi import", flag.ContinueOnError)
		ifs.SetOutput(usage)
		ifs.StringVar(&c.Import.From, "from", "", "One API's database: sqlite:///path/one-api.db, mysql://user:pass@host:3306/db or postgres://user:pass@host:5432/db")
		ifs.BoolVar(&c.Import.DryRun, "dry-run", false, "read and check everything, print the report, write nothing")
		ifs.BoolVar(&c.Import.Logs, "logs", false, "import the usage logs too (streamed)")
		ifs.BoolVar(&c.Import.Merge, "merge", false, "import into a database that already holds data, skipping what an earlier import wrote")
		ifs.Usage = func() {
			fmt.Fprintf(usage, "Usage: oneapi import --from URL [--dry-run] [--logs] [--merge]\n\n"+
				"Imports One API's users, tokens, channels, options and redemption codes (and logs with --logs)\n"+
				"into this gateway's database (SQL_DSN, or the private one under DATA_DIR), in one transaction.\n\nFlags:\n")
			ifs.PrintDefaults()
		}
		if err := ifs.Parse(rest); err != nil {
			return c, err
		}
		rest = ifs.Args()
		if c.Import.From == "" {
			errs = append(errs, errors.New("import: --from is required (sqlite:///path/one-api.db, mysql://user:pass@host:3306/db or postgres://...)"))
		}
	}
	if len(rest) > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q", rest))
	}
	switch c.Command {
	case "serve", "migrate", "import", "healthcheck":
	case "version":
		c.ShowVersion = true
	default:
		errs = append(errs, fmt.Errorf("unknown command %q (want serve, migrate, import, healthcheck or version)", c.Command))
	}
	if c.Host != "" && strings.ContainsAny(c.Host, " /:") && net.ParseIP(c.Host) == nil {
		errs = append(errs, fmt.Errorf("HOST/--host=%q: want an address such as 127.0.0.1, ::1 or a host name, without a port", c.Host))
	}
	if c.Port < 1 || c.Port > 65535 {
		errs = append(errs, fmt.Errorf("port %d out of range 1-65535", c.Port))
	}

	switch s := strings.ToLower(env("LOG_LEVEL")); s {
	case "", "info":
		c.LogLevel = slog.LevelInfo
	case "debug":
		c.LogLevel = slog.LevelDebug
	case "warn":
		c.LogLevel = slog.LevelWarn
	case "error":
		c.LogLevel = slog.LevelError
	default:
		errs = append(errs, fmt.Errorf("LOG_LEVEL=%q: want debug, info, warn or error", s))
	}

	c.DatabaseURL = env("SQL_DSN")
	if d := env("DATABASE_URL"); d != "" {
		if c.DatabaseURL != "" && c.DatabaseURL != d {
			errs = append(errs, errors.New("SQL_DSN and DATABASE_URL are both set and differ: set one"))
		}
		c.DatabaseURL = d
	}
	if kind := oneAPIDatabase(c.DatabaseURL); kind != "" {
		errs = append(errs, fmt.Errorf("SQL_DSN/DATABASE_URL is a %s database, One API's: this gateway runs on PostgreSQL. "+
			"Import it once with `oneapi import --from %s`, then set SQL_DSN to a PostgreSQL URL (or leave it empty for a private one)", kind, importURLHint(kind)))
	} else if c.DatabaseURL != "" && !strings.HasPrefix(c.DatabaseURL, "postgres://") &&
		!strings.HasPrefix(c.DatabaseURL, "postgresql://") && !strings.Contains(c.DatabaseURL, "=") {
		errs = append(errs, errors.New("SQL_DSN/DATABASE_URL: want a PostgreSQL URL (postgres://user:pass@host:5432/db) or key=value string"))
	}
	c.DataDir = env("DATA_DIR")
	if c.DataDir == "" {
		c.DataDir = "data"
	}

	c.SessionSecret = env("SESSION_SECRET")
	if c.SessionSecret != "" && len(c.SessionSecret) < 16 {
		errs = append(errs, errors.New("SESSION_SECRET: use at least 16 characters"))
	}
	if s := env("ENCRYPTION_KEY"); s != "" {
		key, err := decodeKey(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("ENCRYPTION_KEY: %w", err))
		}
		c.EncryptionKey = key
	}

	c.NodeType = strings.ToLower(env("NODE_TYPE"))
	switch c.NodeType {
	case "":
		c.NodeType = "master"
	case "master", "slave":
	default:
		errs = append(errs, fmt.Errorf("NODE_TYPE=%q: want master or slave", c.NodeType))
	}
	c.SyncFrequency = time.Duration(intVar("SYNC_FREQUENCY", 60, 1)) * time.Second
	c.RelayTimeout = time.Duration(intVar("RELAY_TIMEOUT", 0, 0)) * time.Second
	c.GlobalAPIRateLimit = intVar("GLOBAL_API_RATE_LIMIT", 480, 0)
	// Capped at a week (frequencies) and an hour (interval): larger values are
	// typos, and River's schedules take a time.Duration.
	c.ChannelTestFrequency = time.Duration(intVar("CHANNEL_TEST_FREQUENCY", 0, 0)) * time.Minute
	c.ChannelUpdateFrequency = time.Duration(intVar("CHANNEL_UPDATE_FREQUENCY", 0, 0)) * time.Minute
	c.PollingInterval = time.Duration(intVar("POLLING_INTERVAL", 0, 0)) * time.Second
	if c.ChannelTestFrequency > 7*24*time.Hour {
		errs = append(errs, errors.New("CHANNEL_TEST_FREQUENCY: at most 10080 minutes (a week)"))
	}
	if c.ChannelUpdateFrequency > 7*24*time.Hour {
		errs = append(errs, errors.New("CHANNEL_UPDATE_FREQUENCY: at most 10080 minutes (a week)"))
	}
	if c.PollingInterval > time.Hour {
		errs = append(errs, errors.New("POLLING_INTERVAL: at most 3600 seconds"))
	}
	c.GlobalWebRateLimit = intVar("GLOBAL_WEB_RATE_LIMIT", 240, 0)

	if s := env("FRONTEND_BASE_URL"); s != "" {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("FRONTEND_BASE_URL=%q: want an absolute http(s) URL", s))
		}
		c.FrontendBaseURL = strings.TrimRight(s, "/")
	}
	if s := env("TRUSTED_PROXIES"); s != "" {
		for _, part := range strings.Split(s, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			p, err := state.ParsePrefix(part)
			if err != nil {
				errs = append(errs, fmt.Errorf("TRUSTED_PROXIES: %q is not an IP or CIDR", part))
				continue
			}
			c.TrustedProxies = append(c.TrustedProxies, p)
		}
	}

	c.PprofAddr = env("PPROF_ADDR")
	c.MetricsAddr = env("METRICS_ADDR")
	for name, v := range map[string]string{"PPROF_ADDR": c.PprofAddr, "METRICS_ADDR": c.MetricsAddr} {
		if v == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(v); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: want host:port, e.g. 127.0.0.1:9090", name, v))
		}
	}
	c.InitialRootToken = env("INITIAL_ROOT_TOKEN")
	c.InitialRootAccessToken = env("INITIAL_ROOT_ACCESS_TOKEN")
	for name, v := range map[string]string{"INITIAL_ROOT_TOKEN": c.InitialRootToken, "INITIAL_ROOT_ACCESS_TOKEN": c.InitialRootAccessToken} {
		if v != "" && len(v) < 16 {
			errs = append(errs, fmt.Errorf("%s: use at least 16 characters", name))
		}
	}
	// sk-KEY-CHANNELID pins a channel, so a key may not contain '-' itself.
	if strings.Contains(strings.TrimPrefix(c.InitialRootToken, "sk-"), "-") {
		errs = append(errs, errors.New("INITIAL_ROOT_TOKEN: must not contain '-' (after an optional sk- prefix): 'sk-KEY-ID' pins channel ID"))
	}
	errs = append(errs, parseOneAPISettings(&c, env)...)
	if c.DatabaseURL != "" && c.EncryptionKey == nil && (c.Command == "serve" || (c.Command == "import" && !c.Import.DryRun)) {
		errs = append(errs, errors.New("ENCRYPTION_KEY is required with an external database (it encrypts upstream keys at rest): "+
			"set it to 32 random bytes in hex or base64, e.g. `openssl rand -hex 32`, the same on every node"))
	}
	return c, errors.Join(errs...)
}

// decodeKey accepts 32 bytes as 64 hex digits or base64.
func decodeKey(s string) ([]byte, error) {
	if b, err := hex.DecodeString(s); err == nil && len(b) == 32 {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == 32 {
			return b, nil
		}
	}
	return nil, errors.New("want 32 bytes as 64 hex digits or base64 (openssl rand -hex 32)")
}
