package bedrock

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/restjson"

	"oneapi/relay/adaptor"
)

// maxErrorBody bounds how much of an error reply is read.
const maxErrorBody = 64 << 10

// DecodeError reads a non-2xx reply: AWS's {"message":...} with the error
// type in the X-Amzn-ErrorType header (or "__type"/"code" in the body), or
// whatever a proxy in front sent. The type, such as ThrottlingException,
// becomes both Type and Code.
func (a *Adaptor) DecodeError(resp *http.Response) *adaptor.UpstreamError {
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var e errorBody
	if err == nil {
		e = parseErrorBody(body, resp.Header.Get("Content-Type"))
	}
	typ := errorType(resp.Header.Get("X-Amzn-Errortype"), e)
	ue := newUpstreamError(resp.StatusCode, typ, e.text(), requestSecrets(resp)...)
	ue.RetryAfter = adaptor.ParseRetryAfter(resp.Header)
	return ue
}

// parseErrorBody reads AWS's error JSON, or keeps plain text as the message.
func parseErrorBody(body []byte, contentType string) errorBody {
	body = bytes.TrimSpace(body)
	var e errorBody
	if len(body) > 0 && body[0] == '{' && json.Unmarshal(body, &e) == nil {
		return e
	}
	return errorBody{Message: adaptor.PlainErrorText(body, contentType)}
}

func (e errorBody) text() string {
	if e.Message != "" {
		return e.Message
	}
	return e.MessageC
}

// errorType is the AWS error type: the header's
// ("ValidationException:http://internal.amazon.com/..."), else the body's
// ("com.amazon.coral.service#UnrecognizedClientException"), sanitized as
// AWS's SDKs do.
func errorType(header string, e errorBody) string {
	for _, t := range []string{header, e.Code, e.Type} {
		if t = strings.TrimSpace(t); t != "" {
			return restjson.SanitizeErrorCode(t)
		}
	}
	return ""
}

// newUpstreamError builds the error for an AWS error type, with the
// channel's secrets redacted from the message.
func newUpstreamError(status int, errType, msg string, secrets ...string) *adaptor.UpstreamError {
	if msg == "" {
		msg = fmt.Sprintf("upstream returned status %d %s", status, http.StatusText(status))
	}
	typ := errType
	if typ == "" {
		typ = "upstream_error"
	}
	return &adaptor.UpstreamError{
		Status:  status,
		Message: adaptor.Redact(msg, secrets...),
		Type:    typ,
		Code:    errType,
		Class:   classify(status, errType),
	}
}

// deadKeyTypes are AWS's answers to credentials that will not work until
// someone acts: an unknown or deleted access key, a wrong secret, an
// expired session token, an unsubscribed account.
var deadKeyTypes = map[string]bool{
	"UnrecognizedClientException": true, "InvalidSignatureException": true, "IncompleteSignatureException": true,
	"ExpiredTokenException": true, "InvalidClientTokenId": true, "MissingAuthenticationTokenException": true,
	"NotAuthorized": true, "SubscriptionRequiredException": true, "OptInRequired": true,
}

// retryTypes are failures of Bedrock or of this account's capacity, not of
// the request: another channel (another account or region) may serve it.
// ServiceQuotaExceededException comes with status 400, and
// AccessDeniedException (403) is what an account gets for a model it has
// not been granted access to — the channel still serves its other models.
var retryTypes = map[string]bool{
	"ThrottlingException": true, "ServiceQuotaExceededException": true, "ModelNotReadyException": true,
	"ModelTimeoutException": true, "ModelErrorException": true, "ModelStreamErrorException": true,
	"InternalServerException": true, "ServiceUnavailableException": true, "AccessDeniedException": true,
}

// classify decides from the status and the AWS error type, never the
// message (it may echo the client's content): dead credentials (401, 402
// and deadKeyTypes) disable the channel; retryTypes, 429 and 5xx go to
// another channel; other 4xx (ValidationException, ResourceNotFoundException:
// a model id this region does not have) are the client's.
func classify(status int, errType string) adaptor.ErrorClass {
	switch {
	case status == http.StatusUnauthorized || status == http.StatusPaymentRequired || deadKeyTypes[errType]:
		return adaptor.ClassDisable
	case retryTypes[errType] || status == http.StatusTooManyRequests || status == http.StatusRequestTimeout || status >= 500:
		return adaptor.ClassRetry
	case status == http.StatusForbidden:
		// A 403 without one of AWS's types is a proxy's or a firewall's in
		// front of this channel: another channel may pass.
		return adaptor.ClassRetry
	case status >= 400 && status < 500:
		return adaptor.ClassClient
	}
	return adaptor.ClassRetry
}

// typeStatus is the HTTP status Bedrock answers each error type with, for
// errors that come without one (stream exceptions, JSON in a 2xx reply).
var typeStatus = map[string]int{
	"ValidationException":           http.StatusBadRequest,
	"ServiceQuotaExceededException": http.StatusBadRequest,
	"AccessDeniedException":         http.StatusForbidden,
	"UnrecognizedClientException":   http.StatusForbidden,
	"ResourceNotFoundException":     http.StatusNotFound,
	"ModelTimeoutException":         http.StatusRequestTimeout,
	"ModelErrorException":           http.StatusFailedDependency,
	"ModelStreamErrorException":     http.StatusFailedDependency,
	"ThrottlingException":           http.StatusTooManyRequests,
	"ModelNotReadyException":        http.StatusTooManyRequests,
	"InternalServerException":       http.StatusInternalServerError,
	"ServiceUnavailableException":   http.StatusServiceUnavailable,
}

// statusForType is typeStatus's, else 502.
func statusForType(typ string) int {
	if s, ok := typeStatus[typ]; ok {
		return s
	}
	return http.StatusBadGateway
}

// streamException is the error of an exception (or error) message in a
// stream.
func streamException(excType string, payload []byte, secrets []string) *adaptor.UpstreamError {
	var e errorBody
	_ = json.Unmarshal(payload, &e)
	// The stream's types are camelCase (throttlingException), the HTTP
	// ones are not.
	typ := excType
	if typ != "" {
		typ = strings.ToUpper(typ[:1]) + typ[1:]
	}
	msg := e.text()
	if msg == "" {
		msg = "Bedrock sent an exception in the stream"
	}
	return newUpstreamError(statusForType(typ), typ, msg, secrets...)
}

// requestSecrets returns the signed request's credentials parts that could
// be echoed (the access key id in an error about it), for redaction.
func requestSecrets(resp *http.Response) []string {
	if resp == nil || resp.Request == nil {
		return nil
	}
	auth := resp.Request.Header.Get("Authorization")
	_, rest, ok := strings.Cut(auth, "Credential=")
	if !ok {
		return nil
	}
	ak, _, _ := strings.Cut(rest, "/")
	return []string{ak, resp.Request.Header.Get("X-Amz-Security-Token")}
}
