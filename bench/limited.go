package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// chat-limited:N is chat:N with a key that has RPM and TPM limits set high
// enough never to refuse: what the gateway's cluster-wide rate limits
// (relay/ratelimit.go) cost per request, against chat:N.

// provisionLimitedKey creates the limited key of chat-limited scenarios.
func (g *gateway) provisionLimitedKey() error {
	data, err := g.api(http.MethodPost, "/api/token/", map[string]any{
		"name": "bench-limited", "remain_quota": 0, "unlimited_quota": true, "expired_time": -1,
		"rpm_limit": 1_000_000_000, "tpm_limit": 1_000_000_000_000,
	})
	if err != nil {
		return fmt.Errorf("create limited token: %w", err)
	}
	var tok struct {
		Key string `json:"key"`
	}
	if err := json.Unmarshal(data, &tok); err != nil || tok.Key == "" {
		return fmt.Errorf("create limited token: no data.key in reply %.200s", data)
	}
	if !strings.HasPrefix(tok.Key, "sk-") {
		tok.Key = "sk-" + tok.Key
	}
	g.limitedKey = tok.Key
	return nil
}

// limitedTargets has the gateway (c) use the limited key; a and b have no
// limits to apply and run as in chat:N.
func limitedTargets(targets []*target) []*target {
	out := make([]*target, 0, len(targets))
	for _, t := range targets {
		cp := *t
		if t.name == "c" && t.limitedKey != "" {
			cp.key = t.limitedKey
		}
		out = append(out, &cp)
	}
	return out
}
