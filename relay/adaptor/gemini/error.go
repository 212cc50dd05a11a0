package gemini

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"oneapi/relay/adaptor"
)

// maxErrorBody bounds how much of an error reply is read.
const maxErrorBody = 64 << 10

// DecodeError reads a non-2xx reply: Google's
// {"error":{"code","message","status","details"}} (sometimes inside a
// one-element array), or whatever a proxy in front sent.
func (a *Adaptor) DecodeError(resp *http.Response) *adaptor.UpstreamError {
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	ge := &googleError{}
	if err == nil {
		ge = parseErrorBody(body, resp.Header.Get("Content-Type"))
	}
	return newUpstreamError(resp.StatusCode, resp.Header, ge, requestKey(resp))
}

// parseErrorBody extracts the Google error object, or at least a message.
func parseErrorBody(body []byte, contentType string) *googleError {
	body = bytes.TrimSpace(body)
	if len(body) > 0 && (body[0] == '{' || body[0] == '[') {
		var one struct {
			Error *googleError `json:"error"`
		}
		var many []struct {
			Error *googleError `json:"error"`
		}
		if body[0] == '{' && json.Unmarshal(body, &one) == nil && one.Error != nil {
			return one.Error
		}
		if body[0] == '[' && json.Unmarshal(body, &many) == nil && len(many) > 0 && many[0].Error != nil {
			return many[0].Error
		}
	}
	return &googleError{Message: adaptor.PlainErrorText(body, contentType)}
}

// newUpstreamError builds the error for status, with the key redacted
// from the message. header may be nil (stream events have none).
func newUpstreamError(status int, header http.Header, ge *googleError, key string) *adaptor.UpstreamError {
	msg := ge.Message
	if msg == "" {
		msg = fmt.Sprintf("upstream returned status %d %s", status, http.StatusText(status))
	}
	typ := ge.Status
	if typ == "" {
		typ = "upstream_error"
	}
	ue := &adaptor.UpstreamError{
		Status:  status,
		Message: adaptor.Redact(msg, key),
		Type:    typ,
		Code:    ge.Status,
		Class:   classify(status, ge),
	}
	if header != nil {
		ue.RetryAfter = adaptor.ParseRetryAfter(header)
	}
	if ue.RetryAfter == 0 {
		ue.RetryAfter = retryDelay(ge)
	}
	return ue
}

// bodyError is the error for an error object that came in a 2xx body or a
// stream event: its code is the status upstream meant, else 502.
func bodyError(ge *googleError, key string) *adaptor.UpstreamError {
	status := http.StatusBadGateway
	if ge.Code >= 400 && ge.Code <= 599 {
		status = ge.Code
	}
	return newUpstreamError(status, nil, ge, key)
}

// classify decides what the relay does about a Gemini error:
//   - a dead or refused key (400 API_KEY_INVALID, 401, 403 PERMISSION_DENIED)
//     disables the channel;
//   - 429 RESOURCE_EXHAUSTED, 408, 5xx, a 403 that is not Google's, and 400
//     FAILED_PRECONDITION (this project's region or billing, not the
//     request) go to another channel;
//   - other 4xx are the client's.
func classify(status int, ge *googleError) adaptor.ErrorClass {
	switch {
	case status == http.StatusUnauthorized, keyInvalid(ge):
		return adaptor.ClassDisable
	case status == http.StatusForbidden && ge.Status == "PERMISSION_DENIED":
		return adaptor.ClassDisable
	case status == http.StatusForbidden:
		// Not Google's answer (that says PERMISSION_DENIED) but a proxy's or
		// a firewall's in front of this channel: another channel may pass.
		return adaptor.ClassRetry
	case status == http.StatusTooManyRequests, status == http.StatusRequestTimeout, status >= 500:
		return adaptor.ClassRetry
	case ge.Status == "FAILED_PRECONDITION":
		return adaptor.ClassRetry
	case status >= 400 && status < 500:
		return adaptor.ClassClient
	}
	return adaptor.ClassRetry
}

// keyInvalid reports Google's answer to a wrong or expired key: 400 with
// an ErrorInfo reason API_KEY_INVALID (or _EXPIRED). The message is never
// read: it may echo the client's content.
func keyInvalid(ge *googleError) bool {
	for _, d := range ge.Details {
		if d.Reason == "API_KEY_INVALID" || d.Reason == "API_KEY_EXPIRED" {
			return true
		}
	}
	return false
}

// retryDelay reads a RetryInfo detail ("retryDelay":"39s"), which Gemini
// sends with 429 instead of a Retry-After header.
func retryDelay(ge *googleError) time.Duration {
	for _, d := range ge.Details {
		if d.RetryDelay == "" {
			continue
		}
		if dur, err := time.ParseDuration(d.RetryDelay); err == nil && dur > 0 {
			return dur
		}
	}
	return 0
}
