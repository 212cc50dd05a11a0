package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestParseConfig(t *testing.T) {
	key := strings.Repeat("ab", 32)
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string // substring; "" means success
		check   func(t *testing.T, c config)
	}{
		{name: "defaults", check: func(t *testing.T, c config) {
			if c.Port != 3000 || c.Command != "serve" || c.NodeType != "master" || c.DataDir != "data" || c.SyncFrequency != time.Minute {
				t.Errorf("defaults = %+v", c)
			}
		}},
		{name: "port from env", env: map[string]string{"PORT": "8080"}, check: func(t *testing.T, c config) {
			if c.Port != 8080 {
				t.Errorf("port = %d", c.Port)
			}
		}},
		{name: "flag beats env", args: []string{"--port", "9000"}, env: map[string]string{"PORT": "8080"}, check: func(t *testing.T, c config) {
			if c.Port != 9000 {
				t.Errorf("port = %d", c.Port)
			}
		}},
		{name: "migrate command", args: []string{"migrate"}, check: func(t *testing.T, c config) {
			if c.Command != "migrate" {
				t.Errorf("command = %q", c.Command)
			}
		}},
		{name: "SQL_DSN alias", env: map[string]string{"DATABASE_URL": "postgres://u@h/db", "ENCRYPTION_KEY": key}, check: func(t *testing.T, c config) {
			if c.DatabaseURL != "postgres://u@h/db" || len(c.EncryptionKey) != 32 {
				t.Errorf("db = %q key %d", c.DatabaseURL, len(c.EncryptionKey))
			}
		}},
		{name: "all the knobs", env: map[string]string{
			"SQL_DSN": "host=/tmp dbname=x", "ENCRYPTION_KEY": key, "NODE_TYPE": "slave", "SYNC_FREQUENCY": "5",
			"RELAY_TIMEOUT": "30", "FRONTEND_BASE_URL": "https://console.example.com/", "TRUSTED_PROXIES": "10.0.0.0/8, 127.0.0.1",
			"GLOBAL_API_RATE_LIMIT": "0", "SESSION_SECRET": "0123456789abcdef0123",
		}, check: func(t *testing.T, c config) {
			if c.NodeType != "slave" || c.SyncFrequency != 5*time.Second || c.RelayTimeout != 30*time.Second ||
				c.FrontendBaseURL != "https://console.example.com" || len(c.TrustedProxies) != 2 || c.GlobalAPIRateLimit != 0 {
				t.Errorf("config = %+v", c)
			}
		}},
		{name: "job schedules", env: map[string]string{"CHANNEL_TEST_FREQUENCY": "30", "CHANNEL_UPDATE_FREQUENCY": "1440", "POLLING_INTERVAL": "2"}, check: func(t *testing.T, c config) {
			if c.ChannelTestFrequency != 30*time.Minute || c.ChannelUpdateFrequency != 24*time.Hour || c.PollingInterval != 2*time.Second {
				t.Errorf("job schedules = %v %v %v", c.ChannelTestFrequency, c.ChannelUpdateFrequency, c.PollingInterval)
			}
		}},
		{name: "job schedules off by default", check: func(t *testing.T, c config) {
			if c.ChannelTestFrequency != 0 || c.ChannelUpdateFrequency != 0 || c.PollingInterval != 0 {
				t.Errorf("job schedules = %v %v %v", c.ChannelTestFrequency, c.ChannelUpdateFrequency, c.PollingInterval)
			}
		}},
		{name: "bad test frequency", env: map[string]string{"CHANNEL_TEST_FREQUENCY": "often"}, wantErr: "CHANNEL_TEST_FREQUENCY"},
		{name: "negative update frequency", env: map[string]string{"CHANNEL_UPDATE_FREQUENCY": "-5"}, wantErr: "CHANNEL_UPDATE_FREQUENCY"},
		{name: "test frequency too large", env: map[string]string{"CHANNEL_TEST_FREQUENCY": "20000"}, wantErr: "CHANNEL_TEST_FREQUENCY"},
		{name: "bad polling interval", env: map[string]string{"POLLING_INTERVAL": "1.5"}, wantErr: "POLLING_INTERVAL"},
		{name: "polling interval too large", env: map[string]string{"POLLING_INTERVAL": "7200"}, wantErr: "POLLING_INTERVAL"},
		{name: "bad port", env: map[string]string{"PORT": "eighty"}, wantErr: "PORT"},
		{name: "port out of range", args: []string{"--port", "70000"}, wantErr: "out of range"},
		{name: "bad node type", env: map[string]string{"NODE_TYPE": "primary"}, wantErr: "NODE_TYPE"},
		{name: "negative sync", env: map[string]string{"SYNC_FREQUENCY": "-1"}, wantErr: "SYNC_FREQUENCY"},
		{name: "bad frontend url", env: map[string]string{"FRONTEND_BASE_URL": "console.example.com"}, wantErr: "FRONTEND_BASE_URL"},
		{name: "bad proxy", env: map[string]string{"TRUSTED_PROXIES": "10.0.0.0/99"}, wantErr: "TRUSTED_PROXIES"},
		{name: "short key", env: map[string]string{"ENCRYPTION_KEY": "abc"}, wantErr: "ENCRYPTION_KEY"},
		{name: "external db needs key", env: map[string]string{"SQL_DSN": "postgres://u@h/db"}, wantErr: "ENCRYPTION_KEY is required"},
		{name: "migrate needs no key", args: []string{"migrate"}, env: map[string]string{"SQL_DSN": "postgres://u@h/db"}},
		{name: "conflicting dsns", env: map[string]string{"SQL_DSN": "postgres://a/x", "DATABASE_URL": "postgres://b/y", "ENCRYPTION_KEY": key}, wantErr: "both set"},
		{name: "not a dsn", env: map[string]string{"SQL_DSN": "mysql", "ENCRYPTION_KEY": key}, wantErr: "SQL_DSN"},
		{name: "unknown command", args: []string{"launch"}, wantErr: "unknown command"},
		{name: "short session secret", env: map[string]string{"SESSION_SECRET": "abc"}, wantErr: "SESSION_SECRET"},
		{name: "short root token", env: map[string]string{"INITIAL_ROOT_TOKEN": "abc"}, wantErr: "INITIAL_ROOT_TOKEN"},
		{name: "root token with a dash", env: map[string]string{"INITIAL_ROOT_TOKEN": "sk-abcdefgh-12345678"}, wantErr: "must not contain '-'"},
		{name: "bad metrics address", env: map[string]string{"METRICS_ADDR": "9090"}, wantErr: "METRICS_ADDR"},
		{name: "bad log level", env: map[string]string{"LOG_LEVEL": "loud"}, wantErr: "LOG_LEVEL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseConfig(tt.args, envOf(tt.env), io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tt.wantErr)
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
