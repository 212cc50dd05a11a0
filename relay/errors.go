package relay

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"oneapi/relay/adaptor"
	"oneapi/relay/oai"
)

// apiError is a reply in OpenAI's error shape.
type apiError struct {
	Status  int
	Type    string
	Code    string
	Message string
}

// Rejections, each with its own code so a client (or its operator) can tell them apart.
var (
	errMissingKey     = &apiError{http.StatusUnauthorized, "invalid_request_error", "missing_api_key", "You didn't provide an API key. Send it as 'Authorization: Bearer sk-...'."}
	errInvalidKey     = &apiError{http.StatusUnauthorized, "invalid_request_error", "invalid_api_key", "Incorrect API key provided."}
	errTokenDisabled  = &apiError{http.StatusUnauthorized, "invalid_request_error", "token_disabled", "This API key has been disabled."}
	errTokenExpired   = &apiError{http.StatusUnauthorized, "invalid_request_error", "token_expired", "This API key has expired."}
	errUserDisabled   = &apiError{http.StatusForbidden, "invalid_request_error", "user_disabled", "The account that owns this API key is disabled."}
	errIPNotAllowed   = &apiError{http.StatusForbidden, "invalid_request_error", "ip_not_allowed", "This API key may not be used from your IP address."}
	errPinNotAllowed  = &apiError{http.StatusForbidden, "invalid_request_error", "channel_pin_not_allowed", "Only administrators may pin a channel with sk-KEY-CHANNELID."}
	errTokenQuota     = &apiError{http.StatusForbidden, "insufficient_quota", "token_quota_exhausted", "This API key's quota is exhausted."}
	errUserQuota      = &apiError{http.StatusForbidden, "insufficient_quota", "insufficient_user_quota", "Your account's quota is insufficient for this request."}
	errBodyTooLarge   = &apiError{http.StatusRequestEntityTooLarge, "invalid_request_error", "request_too_large", "The request body is too large."}
	errBadJSON        = &apiError{http.StatusBadRequest, "invalid_request_error", "invalid_json", "We could not parse the JSON body of your request. The OpenAI API expects a JSON payload."}
	errNoModel        = &apiError{http.StatusBadRequest, "invalid_request_error", "missing_model", "You must provide a model parameter."}
	errInternal       = &apiError{http.StatusInternalServerError, "server_error", "internal_error", "The gateway failed to process your request."}
	errQuotaExhausted = &apiError{http.StatusForbidden, "insufficient_quota", "insufficient_quota", "This API key or its account has no quota left."}
)

func badRequest(code, msg string) *apiError {
	return &apiError{http.StatusBadRequest, "invalid_request_error", code, msg}
}

func modelNotFound(model string) *apiError {
	return &apiError{http.StatusNotFound, "invalid_request_error", "model_not_found",
		fmt.Sprintf("The model `%s` does not exist or you do not have access to it.", model)}
}

func modelNotAllowed(model string) *apiError {
	return &apiError{http.StatusForbidden, "invalid_request_error", "model_not_allowed",
		fmt.Sprintf("This API key may not use the model `%s`.", model)}
}

// fromUpstream turns a final upstream failure into the client's error. The
// message was redacted by the adaptor; statuses that would blame the client's
// key for the channel's key are mapped to a gateway error.
func fromUpstream(ue *adaptor.UpstreamError) *apiError {
	status := ue.Status
	switch {
	case status == 0:
		status = http.StatusBadGateway
	case status == http.StatusUnauthorized, status == http.StatusForbidden, ue.Class == adaptor.ClassDisable:
		// The channel's key failed (Gemini says so with a 400), not the caller's.
		status = http.StatusBadGateway
	case status == 529 || status > 599:
		// Non-standard (Anthropic's 529 "overloaded"): say it in HTTP's terms.
		status = http.StatusServiceUnavailable
	}
	typ := ue.Type
	if typ == "" {
		typ = "upstream_error"
	}
	code := ue.Code
	if code == "" {
		code = "upstream_error"
	}
	msg := ue.Message
	if msg == "" {
		msg = http.StatusText(ue.Status)
	}
	return &apiError{status, typ, code, msg}
}

// writeError writes err in OpenAI's shape, with the request id in the message
// (as One API does) and in the X-Request-Id header.
func writeError(w http.ResponseWriter, rid string, err *apiError) {
	metricRefused.WithLabelValues(strconv.Itoa(err.Status)).Inc()
	code := oai.Code(err.Code)
	writeJSON(w, err.Status, oai.ErrorResponse{Error: oai.Error{
		Message: err.Message + " (request id: " + rid + ")",
		Type:    err.Type,
		Code:    code,
	}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"message":"encoding failed","type":"server_error","param":null,"code":null}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
