package anthropic

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"oneapi/relay/adaptor"
)

// maxErrorBody bounds how much of an error reply is read.
const maxErrorBody = 64 << 10

// DecodeError reads a non-2xx reply: Anthropic's
// {"type":"error","error":{"type":...,"message":...}}, or whatever a proxy in
// front of it sent. The Anthropic error type becomes both Type and Code.
func (a *Adaptor) DecodeError(resp *http.Response) *adaptor.UpstreamError {
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var e apiError
	if err == nil {
		e = parseErrorBody(body, resp.Header.Get("Content-Type"))
	}
	if e.Message == "" {
		e.Message = fmt.Sprintf("upstream returned status %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	ue := newUpstreamError(resp.StatusCode, e.Type, adaptor.Redact(e.Message, requestKey(resp)))
	ue.RetryAfter = adaptor.ParseRetryAfter(resp.Header)
	return ue
}

// parseErrorBody extracts the error from an upstream body. Plain text is
// kept as the message; an HTML page from a proxy is not worth showing.
func parseErrorBody(body []byte, contentType string) apiError {
	body = bytes.TrimSpace(body)
	if len(body) > 0 && body[0] == '{' {
		var v struct {
			errorBody
			Message string `json:"message"`
		}
		if json.Unmarshal(body, &v) == nil {
			if v.Error != nil && (v.Error.Message != "" || v.Error.Type != "") {
				return *v.Error
			}
			if v.Message != "" {
				return apiError{Message: v.Message}
			}
		}
	}
	return apiError{Message: adaptor.PlainErrorText(body, contentType)}
}

// newUpstreamError builds the error for an Anthropic error type and an
// already redacted message.
func newUpstreamError(status int, errType, message string) *adaptor.UpstreamError {
	typ := errType
	if typ == "" {
		typ = "upstream_error"
	}
	return &adaptor.UpstreamError{
		Status:  status,
		Message: message,
		Type:    typ,
		Code:    errType,
		Class:   classify(status, errType, message),
	}
}

// classify follows Anthropic's error types
// (https://docs.anthropic.com/en/api/errors) and statuses, never the
// message: a rejected key, a forbidden account or an unpaid one disables
// the channel; rate limits, overload and
// server errors are worth another channel; any other 4xx is the client's.
func classify(status int, errType, message string) adaptor.ErrorClass {
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden || status == http.StatusPaymentRequired,
		errType == "authentication_error" || errType == "permission_error" || errType == "billing_error":
		return adaptor.ClassDisable
	case status == http.StatusTooManyRequests || status >= 500,
		errType == "rate_limit_error" || errType == "overloaded_error" || errType == "api_error":
		return adaptor.ClassRetry
	case status >= 400:
		// Anthropic answers an empty prepaid balance with a 400
		// invalid_request_error, told apart only by its text ("Your credit
		// balance is too low ..."). Text never disables a channel (a client
		// could have it echoed), so this only sends the request on to
		// another channel; the operator sees the failures in the logs.
		if errType == "invalid_request_error" && strings.HasPrefix(message, "Your credit balance is too low") {
			return adaptor.ClassRetry
		}
		return adaptor.ClassClient
	}
	return adaptor.ClassRetry
}

// statusForErrorType gives the HTTP status Anthropic uses for an error type,
// for errors that arrive without one (stream error events).
func statusForErrorType(errType string) int {
	switch errType {
	case "invalid_request_error":
		return http.StatusBadRequest
	case "authentication_error":
		return http.StatusUnauthorized
	case "billing_error":
		return http.StatusPaymentRequired
	case "permission_error":
		return http.StatusForbidden
	case "not_found_error":
		return http.StatusNotFound
	case "request_too_large":
		return http.StatusRequestEntityTooLarge
	case "rate_limit_error":
		return http.StatusTooManyRequests
	case "api_error":
		return http.StatusInternalServerError
	case "timeout_error":
		return http.StatusGatewayTimeout
	case "overloaded_error":
		return 529 // Anthropic's own status for overload
	}
	return http.StatusBadGateway
}
