package adaptor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"oneapi/relay/oai"
)

// ErrStreamTruncated is wrapped by the error DecodeStream returns when the
// stream ended before its normal end or carried an error event.
var ErrStreamTruncated = errors.New("upstream stream ended early")

// ErrorClass tells the relay what to do about an upstream failure.
type ErrorClass int

// Error classes. The zero value is ClassRetry.
const (
	// ClassRetry: try another channel (429, 5xx, connection errors, timeouts).
	ClassRetry ErrorClass = iota
	// ClassDisable: the channel's key is dead (invalid key, deactivated
	// account, no quota or credit left); disable the channel and try another.
	ClassDisable
	// ClassClient: the client's fault (400, 404 ...); answer it as is.
	ClassClient
)

// String returns "retry", "disable" or "client".
func (c ErrorClass) String() string {
	switch c {
	case ClassRetry:
		return "retry"
	case ClassDisable:
		return "disable"
	case ClassClient:
		return "client"
	}
	return "ErrorClass(" + strconv.Itoa(int(c)) + ")"
}

// UpstreamError is an upstream failure: a non-2xx reply, an error event in a
// stream, or a transport error. Message never contains the channel key.
type UpstreamError struct {
	Status     int // HTTP status to report; 502/504 for transport errors
	Message    string
	Type       string
	Code       string
	RetryAfter time.Duration // from Retry-After, 0 if absent
	Class      ErrorClass
	// Err is the underlying transport or read error, if any, for logs and
	// errors.Is (context.Canceled ...). It is never shown to clients.
	Err error
}

func (e *UpstreamError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "upstream status %d", e.Status)
	if e.Type != "" || e.Code != "" {
		fmt.Fprintf(&b, " (%s", e.Type)
		if e.Code != "" {
			fmt.Fprintf(&b, ", %s", e.Code)
		}
		b.WriteByte(')')
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

// Unwrap returns Err.
func (e *UpstreamError) Unwrap() error { return e.Err }

// Response returns the error in OpenAI's shape, for the client.
func (e *UpstreamError) Response() oai.ErrorResponse {
	typ := e.Type
	if typ == "" {
		typ = "upstream_error"
	}
	return oai.ErrorResponse{Error: oai.Error{Message: e.Message, Type: typ, Code: oai.Code(e.Code)}}
}

// NewUpstreamError builds the UpstreamError for an OpenAI-shaped error
// object received with status and header, classified by Classify. The
// message is used as is: redact keys before calling.
func NewUpstreamError(status int, header http.Header, e oai.Error) *UpstreamError {
	ue := &UpstreamError{
		Status:  status,
		Message: e.Message,
		Type:    e.Type,
		Code:    string(e.Code),
		Class:   Classify(status, e.Type, string(e.Code)),
	}
	if header != nil {
		ue.RetryAfter = retryAfter(header, time.Now())
	}
	return ue
}

// Classify returns the default class of an upstream error from the
// provider's own signals only: its status code and its error type and code.
// Never from the message: providers echo the client's content in messages
// ("invalid role 'credit'"), and a client must not be able to word a
// request so that the gateway disables the channels that served it.
//
// A rejected, deactivated or unpaid key disables the channel (401, 402, and
// the types and codes OpenAI-compatible vendors send for it, such as 429
// insufficient_quota); 400, 404, 413 and 422 are the client's; everything
// else (429, 5xx, 403 region blocks, unknown) is retried on another channel.
// status 0 means unknown (an error event inside a stream).
func Classify(status int, typ, code string) ErrorClass {
	if status == http.StatusUnauthorized || status == http.StatusPaymentRequired ||
		disableTypes[typ] || disableCodes[code] {
		return ClassDisable
	}
	switch status {
	case http.StatusBadRequest, http.StatusNotFound, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
		return ClassClient
	}
	return ClassRetry
}

// disableTypes and disableCodes are the error types and codes vendors use
// for a key that will not work again until someone acts: OpenAI's, and the
// Anthropic-style types some OpenAI-compatible gateways pass on.
var (
	disableTypes = map[string]bool{"insufficient_quota": true, "authentication_error": true, "permission_error": true, "billing_error": true}
	disableCodes = map[string]bool{"invalid_api_key": true, "account_deactivated": true, "insufficient_quota": true,
		"billing_not_active": true, "billing_hard_limit_reached": true, "organization_deactivated": true}
)

// ParseRetryAfter returns the delay asked by Retry-After-Ms (OpenAI) or
// Retry-After (seconds or an HTTP date), or 0.
func ParseRetryAfter(h http.Header) time.Duration {
	return retryAfter(h, time.Now())
}

func retryAfter(h http.Header, now time.Time) time.Duration {
	if v := h.Get("Retry-After-Ms"); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs > 0 {
			return time.Duration(secs * float64(time.Second))
		}
		return 0
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// TransportError classifies an error from sending a request or reading its
// reply (http.Client.Do, a body read): a timeout or a network error is
// ClassRetry; a canceled context (the client went away) is ClassClient with
// status 499, since trying another channel would serve nobody.
func TransportError(err error) *UpstreamError {
	// *url.Error carries the request URL, which some providers authenticate
	// with a query parameter: keep only the cause.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return &UpstreamError{Status: 499, Message: "request canceled", Type: "upstream_error", Code: "canceled", Class: ClassClient, Err: err}
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return &UpstreamError{Status: http.StatusGatewayTimeout, Message: "upstream timed out", Type: "upstream_error", Code: "timeout", Class: ClassRetry, Err: err}
	}
	return &UpstreamError{Status: http.StatusBadGateway, Message: "upstream connection failed", Type: "upstream_error", Code: "connection_error", Class: ClassRetry, Err: err}
}

// skKeyPattern matches OpenAI-style secret keys echoed by careless upstreams.
var skKeyPattern = regexp.MustCompile(`sk-[A-Za-z0-9_\-]{16,}`)

// Redact removes the given secrets, and anything that looks like an sk- key,
// from an upstream message before it reaches a client or a log.
func Redact(s string, secrets ...string) string {
	for _, k := range secrets {
		// Short "keys" would redact ordinary words; real keys are long.
		if len(k) >= 8 {
			s = strings.ReplaceAll(s, k, "[redacted]")
		}
	}
	if strings.Contains(s, "sk-") {
		s = skKeyPattern.ReplaceAllString(s, "[redacted]")
	}
	return s
}

// PlainErrorText is what of a non-JSON error body is worth showing: a
// snippet of plain text, or "" for an HTML page (a proxy's) or binary.
func PlainErrorText(body []byte, contentType string) string {
	body = bytes.TrimSpace(body)
	mt, _, _ := mime.ParseMediaType(contentType)
	if len(body) == 0 || mt == "text/html" || body[0] == '<' || !utf8.Valid(body) {
		return ""
	}
	return Snippet(body, 300)
}

// Snippet returns b with runs of white space collapsed, cut to at most n
// bytes on a rune boundary: enough of an upstream body to say what it was.
func Snippet(b []byte, n int) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
