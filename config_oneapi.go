package main

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// One API's environment variables (its README and common/config) that are
// not plain counterparts of ours: the ones honoured here with a meaning of
// their own, the ones refused, and the ones not needed, which get one
// warning line at start so that nothing an operator set is silently ignored.

// oneAPIUnneeded are One API variables this gateway does without, and why.
var oneAPIUnneeded = []struct{ name, why string }{
	{"REDIS_CONN_STRING", "not needed: nodes share state through PostgreSQL (LISTEN/NOTIFY), no Redis"},
	{"REDIS_PASSWORD", "not needed: nodes share state through PostgreSQL, no Redis"},
	{"REDIS_MASTER_NAME", "not needed: nodes share state through PostgreSQL, no Redis"},
	{"MEMORY_CACHE_ENABLED", "always on: tokens, users, channels and options are held in memory and refreshed on every change"},
	{"BATCH_UPDATE_ENABLED", "always on: quota settlements are batched off the request path"},
	{"BATCH_UPDATE_INTERVAL", "not needed: settlement batches are flushed continuously, and on shutdown"},
	{"TIKTOKEN_CACHE_DIR", "not needed: tokenizers ship inside the binary"},
	{"DATA_GYM_CACHE_DIR", "not needed: tokenizers ship inside the binary"},
	{"THEME", "not needed: this gateway has one console"},
	{"SQLITE_BUSY_TIMEOUT", "not needed: this gateway runs on PostgreSQL only"},
	{"USER_CONTENT_REQUEST_PROXY", "not needed: the gateway never downloads what a client links to (image URLs go upstream as they are)"},
	{"USER_CONTENT_REQUEST_TIMEOUT", "not needed: the gateway never downloads what a client links to"},
	{"ENFORCE_INCLUDE_USAGE", "not needed: usage is always requested from OpenAI-type upstreams; a client that asks (stream_options.include_usage) gets it"},
	{"TEST_PROMPT", "not used: channel tests send a fixed request with one output token"},
	{"METRIC_SUCCESS_CHAN_SIZE", "not needed: request outcomes are counted directly, with no queue to size"},
	{"METRIC_FAIL_CHAN_SIZE", "not needed: request outcomes are counted directly, with no queue to size"},
	{"ONLY_ONE_LOG_FILE", "not needed: --log-dir writes one file, oneapi.log"},
	{"DEBUG", "not used: set LOG_LEVEL=debug"},
	{"DEBUG_SQL", "not used: PostgreSQL's log_statement shows the statements"},
	{"GIN_MODE", "not used: this gateway is not built on gin"},
}

// parseOneAPISettings reads One API's variables into c and returns the
// errors; warnings go to c.Warnings.
func parseOneAPISettings(c *config, env func(string) string) []error {
	var errs []error
	for _, v := range oneAPIUnneeded {
		if env(v.name) != "" {
			c.Warnings = append(c.Warnings, v.name+": "+v.why)
		}
	}
	if env("LOG_SQL_DSN") != "" {
		errs = append(errs, errors.New("LOG_SQL_DSN is not supported yet: logs live in the main database. Unset it to start (a separate log database is planned)"))
	}
	if p := env("SQLITE_PATH"); p != "" && c.Command != "import" {
		errs = append(errs, fmt.Errorf("SQLITE_PATH=%q is One API's SQLite database, which this gateway does not run on: import it once with `oneapi import --from sqlite://%s`, then unset SQLITE_PATH", p, p))
	}
	if c.NodeType == "slave" && c.DatabaseURL == "" && c.Command == "serve" {
		errs = append(errs, errors.New("NODE_TYPE=slave needs SQL_DSN: a slave serves from the master's PostgreSQL, and without SQL_DSN it would start a private database that no master migrates"))
	}

	// The connection pool.
	num := func(name string, min int64) (int64, bool) {
		s := env(name)
		if s == "" {
			return 0, false
		}
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil || n < min {
			errs = append(errs, fmt.Errorf("%s=%q: want a whole number ≥ %d", name, s, min))
			return 0, false
		}
		return n, true
	}
	c.Pool.MaxIdle = -1
	if n, ok := num("SQL_MAX_OPEN_CONNS", 1); ok {
		c.Pool.MaxConns = int32(n)
	}
	if n, ok := num("SQL_MAX_IDLE_CONNS", 0); ok {
		c.Pool.MaxIdle = int32(n)
	}
	// One API's README says SQL_CONN_MAX_LIFETIME in minutes; its code
	// reads SQL_MAX_LIFETIME in seconds. Both are honoured.
	minutes, okMin := num("SQL_CONN_MAX_LIFETIME", 0)
	seconds, okSec := num("SQL_MAX_LIFETIME", 0)
	switch {
	case okMin && okSec && time.Duration(minutes)*time.Minute != time.Duration(seconds)*time.Second:
		errs = append(errs, errors.New("SQL_CONN_MAX_LIFETIME (minutes) and SQL_MAX_LIFETIME (seconds) are both set and differ: set one"))
	case okMin:
		c.Pool.MaxLifetime = time.Duration(minutes) * time.Minute
	case okSec:
		c.Pool.MaxLifetime = time.Duration(seconds) * time.Second
	}

	if s := env("RELAY_PROXY"); s != "" {
		u, err := url.Parse(s)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "socks5" && u.Scheme != "socks5h") {
			errs = append(errs, errors.New("RELAY_PROXY: want a proxy URL such as http://proxy:3128 or socks5://proxy:1080"))
		} else {
			c.RelayProxy = u
		}
	}

	c.GeminiVersion = env("GEMINI_VERSION")
	if c.GeminiVersion != "" && !geminiVersion.MatchString(c.GeminiVersion) {
		errs = append(errs, fmt.Errorf("GEMINI_VERSION=%q: want an API version such as v1 or v1beta", c.GeminiVersion))
	}
	c.GeminiSafety = strings.ToUpper(env("GEMINI_SAFETY_SETTING"))
	switch c.GeminiSafety {
	case "", "BLOCK_NONE", "BLOCK_ONLY_HIGH", "BLOCK_MEDIUM_AND_ABOVE", "BLOCK_LOW_AND_ABOVE", "HARM_BLOCK_THRESHOLD_UNSPECIFIED", "OFF":
	default:
		errs = append(errs, fmt.Errorf("GEMINI_SAFETY_SETTING=%q: want BLOCK_NONE, BLOCK_ONLY_HIGH, BLOCK_MEDIUM_AND_ABOVE, BLOCK_LOW_AND_ABOVE or OFF", c.GeminiSafety))
	}

	// ENABLE_METRIC, with One API's defaults.
	switch s := strings.ToLower(env("ENABLE_METRIC")); s {
	case "", "false", "0":
	case "true", "1":
		c.Metric.Enabled = true
	default:
		errs = append(errs, fmt.Errorf("ENABLE_METRIC=%q: want true or false", s))
	}
	c.Metric.Window, c.Metric.Threshold = 10, 0.8
	if n, ok := num("METRIC_QUEUE_SIZE", 1); ok {
		c.Metric.Window = int(n)
	}
	if s := env("METRIC_SUCCESS_RATE_THRESHOLD"); s != "" {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || !(f > 0 && f <= 1) {
			errs = append(errs, fmt.Errorf("METRIC_SUCCESS_RATE_THRESHOLD=%q: want a rate above 0 and at most 1, e.g. 0.8", s))
		} else {
			c.Metric.Threshold = f
		}
	}
	if !c.Metric.Enabled {
		for _, name := range []string{"METRIC_QUEUE_SIZE", "METRIC_SUCCESS_RATE_THRESHOLD"} {
			if env(name) != "" {
				c.Warnings = append(c.Warnings, name+": has no effect without ENABLE_METRIC=true")
			}
		}
	}
	return errs
}

var geminiVersion = regexp.MustCompile(`^v[0-9]+(alpha|beta)?[0-9]*$`)

// oneAPIDatabase names the kind of a One API SQL_DSN that is not
// PostgreSQL's: One API's MySQL form (user:pass@tcp(host:3306)/db), a
// mysql:// URL, or a SQLite file. "" for anything else.
func oneAPIDatabase(dsn string) string {
	l := strings.ToLower(dsn)
	switch {
	case l == "":
		return ""
	case strings.HasPrefix(l, "mysql://") || strings.Contains(l, "@tcp(") || strings.Contains(l, "@unix("):
		return "MySQL"
	case strings.HasPrefix(l, "sqlite") || strings.HasPrefix(l, "file:") || strings.HasSuffix(l, ".db") || strings.HasSuffix(l, ".sqlite"):
		return "SQLite"
	}
	return ""
}

func importURLHint(kind string) string {
	if kind == "MySQL" {
		return "mysql://user:pass@host:3306/oneapi"
	}
	return "sqlite:///path/to/one-api.db"
}
