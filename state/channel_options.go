package state

import (
	"fmt"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ChannelOptions are the per-channel settings One API lacks, kept in the
// channel's config beside the provider settings:
//
//	"headers":   extra request headers, one "Name: value" a line
//	"proxy":     an http://, https:// or socks5:// proxy for this channel's calls
//	"timeout":   how long the upstream may take to start answering: seconds ("90") or a duration ("2m")
//	"multi_key": "true": the key field holds several keys, one a line, used in rotation
//
// They apply to every call to the channel: relayed requests, channel tests
// and model listings.
type ChannelOptions struct {
	Headers  http.Header
	Proxy    *url.URL
	Timeout  time.Duration
	MultiKey bool
}

// Config keys of ChannelOptions.
const (
	configHeaders  = "headers"
	configProxy    = "proxy"
	configTimeout  = "timeout"
	configMultiKey = "multi_key"
)

// maxChannelTimeout bounds "timeout": a day-long wait is a typo.
const maxChannelTimeout = time.Hour

// reservedHeaders are set by the transport or carry the request's framing:
// a channel may not set them.
var reservedHeaders = map[string]bool{
	"Host": true, "Content-Length": true, "Transfer-Encoding": true, "Connection": true,
	"Upgrade": true, "Te": true, "Trailer": true, "Keep-Alive": true, "Proxy-Connection": true,
}

// ParseChannelOptions reads the options from a channel's config. The error
// names the key and says what is wrong, for the channel form.
func ParseChannelOptions(cfg map[string]string) (ChannelOptions, error) {
	var o ChannelOptions
	if v := strings.TrimSpace(cfg[configHeaders]); v != "" {
		o.Headers = http.Header{}
		for i, line := range strings.Split(v, "\n") {
			line = strings.TrimSpace(line)
			if line == "" {
				continue
			}
			name, value, ok := strings.Cut(line, ":")
			name, value = strings.TrimSpace(name), strings.TrimSpace(value)
			if !ok || !validHeaderName(name) {
				return o, fmt.Errorf(`config "headers" line %d: want "Name: value"`, i+1)
			}
			if strings.ContainsAny(value, "\r\x00") {
				return o, fmt.Errorf(`config "headers" line %d: the value has a control character`, i+1)
			}
			name = textproto.CanonicalMIMEHeaderKey(name)
			if reservedHeaders[name] {
				return o, fmt.Errorf(`config "headers" line %d: %s is set by the gateway`, i+1, name)
			}
			o.Headers.Add(name, value)
		}
	}
	if v := strings.TrimSpace(cfg[configProxy]); v != "" {
		u, err := url.Parse(v)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "socks5" && u.Scheme != "socks5h") {
			return o, fmt.Errorf(`config "proxy" must be an http://, https:// or socks5:// URL`)
		}
		o.Proxy = u
	}
	if v := strings.TrimSpace(cfg[configTimeout]); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			n, nerr := strconv.ParseFloat(v, 64)
			if nerr != nil {
				return o, fmt.Errorf(`config "timeout" must be seconds ("90") or a duration ("2m")`)
			}
			d = time.Duration(n * float64(time.Second))
		}
		if d <= 0 || d > maxChannelTimeout {
			return o, fmt.Errorf(`config "timeout" must be more than 0 and at most %s`, maxChannelTimeout)
		}
		o.Timeout = d
	}
	switch v := strings.TrimSpace(cfg[configMultiKey]); v {
	case "", "false", "0":
	case "true", "1":
		o.MultiKey = true
	default:
		return o, fmt.Errorf(`config "multi_key" must be "true" or "false"`)
	}
	return o, nil
}

// MultiKeyConfig reports whether a channel's raw config JSON turns on
// multi_key, for the key field's parsing before the rest is validated.
func MultiKeyConfig(cfg map[string]string) bool {
	v := strings.TrimSpace(cfg[configMultiKey])
	return v == "true" || v == "1"
}

// validHeaderName: an HTTP token (RFC 9110 field-name).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.ContainsRune("!#$%&'*+-.^_`|~", c):
		default:
			return false
		}
	}
	return true
}
