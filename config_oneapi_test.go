package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

// TestOneAPISettings covers One API's environment variables: honoured,
// refused with a message, or named in a start-up warning.
func TestOneAPISettings(t *testing.T) {
	key := strings.Repeat("ab", 32)
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr []string // substrings; nil means success
		check   func(t *testing.T, c config)
	}{
		{name: "host from env", env: map[string]string{"HOST": "127.0.0.1"}, check: func(t *testing.T, c config) {
			if c.Host != "127.0.0.1" {
				t.Errorf("host = %q", c.Host)
			}
		}},
		{name: "host flag", args: []string{"--host", "::1"}, check: func(t *testing.T, c config) {
			if c.Host != "::1" {
				t.Errorf("host = %q", c.Host)
			}
		}},
		{name: "host with a port", env: map[string]string{"HOST": "127.0.0.1:3000"}, wantErr: []string{"HOST"}},
		{name: "One API MySQL DSN", env: map[string]string{"SQL_DSN": "root:123456@tcp(localhost:3306)/oneapi?charset=utf8mb4&parseTime=True", "ENCRYPTION_KEY": key},
			wantErr: []string{"MySQL", "oneapi import --from mysql://"}},
		{name: "mysql URL", env: map[string]string{"SQL_DSN": "mysql://root:pw@db:3306/oneapi", "ENCRYPTION_KEY": key}, wantErr: []string{"MySQL", "oneapi import"}},
		{name: "SQLite DSN", env: map[string]string{"SQL_DSN": "/data/one-api.db", "ENCRYPTION_KEY": key}, wantErr: []string{"SQLite", "oneapi import --from sqlite://"}},
		{name: "SQLITE_PATH", env: map[string]string{"SQLITE_PATH": "/data/one-api.db"}, wantErr: []string{"SQLITE_PATH", "oneapi import --from sqlite:///data/one-api.db"}},
		{name: "SQLITE_PATH does not stop the import", args: []string{"import", "--from", "sqlite:///data/one-api.db"}, env: map[string]string{"SQLITE_PATH": "/data/one-api.db"}},
		{name: "LOG_SQL_DSN refused", env: map[string]string{"LOG_SQL_DSN": "postgres://u@h/logs"}, wantErr: []string{"LOG_SQL_DSN is not supported yet"}},
		{name: "slave without SQL_DSN", env: map[string]string{"NODE_TYPE": "slave"}, wantErr: []string{"NODE_TYPE=slave needs SQL_DSN"}},
		{name: "pool", env: map[string]string{"SQL_MAX_OPEN_CONNS": "40", "SQL_MAX_IDLE_CONNS": "20", "SQL_CONN_MAX_LIFETIME": "5"}, check: func(t *testing.T, c config) {
			if c.Pool.MaxConns != 40 || c.Pool.MaxIdle != 20 || c.Pool.MaxLifetime != 5*time.Minute {
				t.Errorf("pool = %+v", c.Pool)
			}
		}},
		{name: "pool unset", check: func(t *testing.T, c config) {
			if c.Pool.MaxConns != 0 || c.Pool.MaxIdle != -1 || c.Pool.MaxLifetime != 0 {
				t.Errorf("pool = %+v", c.Pool)
			}
		}},
		{name: "SQL_MAX_LIFETIME in seconds", env: map[string]string{"SQL_MAX_LIFETIME": "300"}, check: func(t *testing.T, c config) {
			if c.Pool.MaxLifetime != 5*time.Minute {
				t.Errorf("lifetime = %v", c.Pool.MaxLifetime)
			}
		}},
		{name: "lifetimes differ", env: map[string]string{"SQL_MAX_LIFETIME": "60", "SQL_CONN_MAX_LIFETIME": "60"}, wantErr: []string{"both set and differ"}},
		{name: "bad open conns", env: map[string]string{"SQL_MAX_OPEN_CONNS": "0"}, wantErr: []string{"SQL_MAX_OPEN_CONNS"}},
		{name: "relay proxy", env: map[string]string{"RELAY_PROXY": "http://proxy.internal:3128"}, check: func(t *testing.T, c config) {
			if c.RelayProxy == nil || c.RelayProxy.Host != "proxy.internal:3128" {
				t.Errorf("proxy = %v", c.RelayProxy)
			}
		}},
		{name: "bad relay proxy", env: map[string]string{"RELAY_PROXY": "proxy:3128"}, wantErr: []string{"RELAY_PROXY"}},
		{name: "gemini", env: map[string]string{"GEMINI_VERSION": "v1", "GEMINI_SAFETY_SETTING": "block_none"}, check: func(t *testing.T, c config) {
			if c.GeminiVersion != "v1" || c.GeminiSafety != "BLOCK_NONE" {
				t.Errorf("gemini = %q %q", c.GeminiVersion, c.GeminiSafety)
			}
		}},
		{name: "bad gemini version", env: map[string]string{"GEMINI_VERSION": "latest"}, wantErr: []string{"GEMINI_VERSION"}},
		{name: "bad gemini safety", env: map[string]string{"GEMINI_SAFETY_SETTING": "NONE"}, wantErr: []string{"GEMINI_SAFETY_SETTING"}},
		{name: "metric defaults", env: map[string]string{"ENABLE_METRIC": "true"}, check: func(t *testing.T, c config) {
			if !c.Metric.Enabled || c.Metric.Window != 10 || c.Metric.Threshold != 0.8 {
				t.Errorf("metric = %+v", c.Metric)
			}
		}},
		{name: "metric set", env: map[string]string{"ENABLE_METRIC": "true", "METRIC_QUEUE_SIZE": "50", "METRIC_SUCCESS_RATE_THRESHOLD": "0.5"}, check: func(t *testing.T, c config) {
			if c.Metric.Window != 50 || c.Metric.Threshold != 0.5 {
				t.Errorf("metric = %+v", c.Metric)
			}
		}},
		{name: "bad threshold", env: map[string]string{"METRIC_SUCCESS_RATE_THRESHOLD": "80"}, wantErr: []string{"METRIC_SUCCESS_RATE_THRESHOLD"}},
		{name: "warnings name what is not needed", env: map[string]string{"REDIS_CONN_STRING": "redis://r", "MEMORY_CACHE_ENABLED": "true", "TIKTOKEN_CACHE_DIR": "/tmp", "THEME": "berry", "METRIC_QUEUE_SIZE": "20"},
			check: func(t *testing.T, c config) {
				all := strings.Join(c.Warnings, "\n")
				for _, want := range []string{"REDIS_CONN_STRING: not needed: nodes share state through PostgreSQL", "MEMORY_CACHE_ENABLED: always on",
					"TIKTOKEN_CACHE_DIR: not needed: tokenizers ship inside the binary", "THEME:", "METRIC_QUEUE_SIZE: has no effect without ENABLE_METRIC"} {
					if !strings.Contains(all, want) {
						t.Errorf("warnings lack %q:\n%s", want, all)
					}
				}
				if len(c.Warnings) != 5 {
					t.Errorf("%d warnings, want one per variable:\n%s", len(c.Warnings), all)
				}
			}},
		{name: "no warnings by default", check: func(t *testing.T, c config) {
			if len(c.Warnings) != 0 {
				t.Errorf("warnings = %q", c.Warnings)
			}
		}},
		{name: "import flags", args: []string{"--port", "4000", "import", "--from", "sqlite:///x.db", "--dry-run", "--logs", "--merge"}, check: func(t *testing.T, c config) {
			if c.Command != "import" || c.Import != (importFlags{From: "sqlite:///x.db", DryRun: true, Logs: true, Merge: true}) || c.Port != 4000 {
				t.Errorf("config = %q %+v", c.Command, c.Import)
			}
		}},
		{name: "import needs --from", args: []string{"import"}, wantErr: []string{"--from is required"}},
		{name: "import into an external database needs the key", args: []string{"import", "--from", "sqlite:///x.db"}, env: map[string]string{"SQL_DSN": "postgres://u@h/db"}, wantErr: []string{"ENCRYPTION_KEY is required"}},
		{name: "a dry run does not", args: []string{"import", "--from", "sqlite:///x.db", "--dry-run"}, env: map[string]string{"SQL_DSN": "postgres://u@h/db"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseConfig(tt.args, envOf(tt.env), io.Discard)
			if tt.wantErr != nil {
				for _, w := range tt.wantErr {
					if err == nil || !strings.Contains(err.Error(), w) {
						t.Fatalf("err = %v, want it to mention %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}
