package state

import (
	"encoding/base64"
	"encoding/json"
	"sort"
	"strings"

	"oneapi/keys"
)

// Some channel config values are credentials: Bedrock's secret key and
// session token, Vertex AI's service account, extra headers (often an
// Authorization) and a proxy URL (often with a password). They are stored
// sealed under ENCRYPTION_KEY, as keys are, and never sent back: the console
// and /api/channel/ show RedactedConfigValue in their place, and a save that
// sends the placeholder back keeps the stored value.
var secretConfigKeys = map[string]bool{
	"sk": true, "session_token": true, "vertex_ai_adc": true,
	configHeaders: true, configProxy: true,
}

// RedactedConfigValue stands for a stored secret config value.
const RedactedConfigValue = "********"

// sealedPrefix marks a sealed value; a value without it is plaintext (rows
// written before sealing existed), read as it is and sealed on the next save.
const sealedPrefix = "sealed:v1:"

func parseConfig(s string) (map[string]string, bool) {
	s = strings.TrimSpace(s)
	if s == "" || s == "{}" {
		return nil, true
	}
	var cfg map[string]string
	if json.Unmarshal([]byte(s), &cfg) != nil {
		return nil, false
	}
	return cfg, true
}

func formatConfig(cfg map[string]string) string {
	if len(cfg) == 0 {
		return ""
	}
	b, _ := json.Marshal(cfg) // keys sorted
	return string(b)
}

// SealConfig returns the config JSON with its secret values sealed, for
// storing. A value already sealed is kept; text that is not a JSON object is
// returned as it is (validation refuses it before anything is stored).
func SealConfig(c *keys.Cipher, plain string) string {
	cfg, ok := parseConfig(plain)
	if !ok || cfg == nil {
		return plain
	}
	for k, v := range cfg {
		if secretConfigKeys[k] && v != "" && !strings.HasPrefix(v, sealedPrefix) {
			cfg[k] = sealedPrefix + base64.RawStdEncoding.EncodeToString(c.Seal(v))
		}
	}
	return formatConfig(cfg)
}

// openConfigMap decrypts the sealed values of cfg in place.
func openConfigMap(c *keys.Cipher, cfg map[string]string) error {
	for k, v := range cfg {
		rest, sealed := strings.CutPrefix(v, sealedPrefix)
		if !sealed {
			continue
		}
		ct, err := base64.RawStdEncoding.DecodeString(rest)
		if err != nil {
			return keys.ErrDecrypt
		}
		if cfg[k], err = c.Open(ct); err != nil {
			return err
		}
	}
	return nil
}

// OpenConfig returns the stored config JSON with its secret values decrypted.
func OpenConfig(c *keys.Cipher, stored string) (string, error) {
	cfg, ok := parseConfig(stored)
	if !ok || cfg == nil {
		return stored, nil
	}
	if err := openConfigMap(c, cfg); err != nil {
		return "", err
	}
	return formatConfig(cfg), nil
}

// RedactConfig returns a stored (or plaintext) config JSON with every secret
// value replaced by RedactedConfigValue, for showing.
func RedactConfig(s string) string {
	cfg, ok := parseConfig(s)
	if !ok {
		return ""
	}
	if cfg == nil {
		return s
	}
	for k, v := range cfg {
		if secretConfigKeys[k] && v != "" {
			cfg[k] = RedactedConfigValue
		}
	}
	return formatConfig(cfg)
}

// UnredactConfig puts the stored secret values (plaintext config JSON) back
// where submitted holds the placeholder, so that saving a form or a JSON
// object read from the API keeps them. A placeholder with nothing stored
// behind it is dropped.
func UnredactConfig(submitted, stored string) string {
	cfg, ok := parseConfig(submitted)
	if !ok || cfg == nil {
		return submitted
	}
	old, _ := parseConfig(stored)
	changed := false
	for k, v := range cfg {
		if secretConfigKeys[k] && v == RedactedConfigValue {
			changed = true
			if ov, had := old[k]; had {
				cfg[k] = ov
			} else {
				delete(cfg, k)
			}
		}
	}
	if !changed {
		return submitted
	}
	return formatConfig(cfg)
}

// KeptSecrets names the secret config values of next (plaintext config JSON)
// that are the stored ones unchanged, sorted.
func KeptSecrets(next, stored string) []string {
	a, _ := parseConfig(next)
	b, _ := parseConfig(stored)
	var kept []string
	for k, v := range a {
		if secretConfigKeys[k] && v != "" && b[k] == v {
			kept = append(kept, k)
		}
	}
	sort.Strings(kept)
	return kept
}

// ConfigProxy is the proxy a config JSON sets, "" for none.
func ConfigProxy(cfg string) string {
	c, _ := parseConfig(cfg)
	return strings.TrimSpace(c[configProxy])
}
