package tencent

import (
	"encoding/json"
	"net/http"
	"strings"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/convert"
)

// DecodeError reads a non-2xx reply (API 3.0 answers errors with 200 and
// an Error; other statuses come from what is in front of it).
func (a *Adaptor) DecodeError(resp *http.Response) *adaptor.UpstreamError {
	ch := channelOf(resp)
	body := convert.ReadError(resp)
	var env struct {
		Response *response `json:"Response"`
	}
	if json.Unmarshal(body, &env) == nil && env.Response != nil && env.Response.Error != nil {
		ue := apiError(env.Response.Error, ch)
		if resp.StatusCode >= 400 && ue.Class != adaptor.ClassClient {
			ue.Status = resp.StatusCode
		}
		return ue
	}
	return convert.Error(resp.StatusCode, resp.Header, "tencent_error", "", adaptor.PlainErrorText(body, resp.Header.Get("Content-Type")),
		convert.StatusClass(resp.StatusCode), secrets(ch)...)
}

// apiError classifies by Tencent Cloud's error code (the common codes and
// Hunyuan's own), never by the message, which may echo the client.
func apiError(e *apiErr, ch *adaptor.Channel) *adaptor.UpstreamError {
	class, status := classify(e.Code)
	return convert.Error(status, nil, "tencent_error", e.Code, e.Message, class, secrets(ch)...)
}

func classify(code string) (adaptor.ErrorClass, int) {
	switch {
	case code == "AuthFailure.SignatureExpire": // the clock is off: not the key
		return adaptor.ClassRetry, http.StatusBadGateway
	case strings.HasPrefix(code, "AuthFailure"), // unknown SecretId, bad signature, no permission
		code == "FailedOperation.ServiceNotActivated", code == "FailedOperation.ServiceStop",
		code == "FailedOperation.ServiceStopArrears", code == "FailedOperation.ResourcePackExhausted",
		code == "FailedOperation.FreeResourcePackExhausted", code == "ResourceInsufficient.ChargeResourceExhaust",
		code == "UnauthorizedOperation":
		return adaptor.ClassDisable, http.StatusUnauthorized
	case strings.HasPrefix(code, "LimitExceeded"), code == "RequestLimitExceeded", strings.HasPrefix(code, "RequestLimitExceeded."),
		code == "FailedOperation.EngineServerLimitExceeded":
		return adaptor.ClassRetry, http.StatusTooManyRequests
	case strings.HasPrefix(code, "InvalidParameter"), strings.HasPrefix(code, "MissingParameter"),
		strings.HasPrefix(code, "UnknownParameter"):
		return adaptor.ClassClient, http.StatusBadRequest
	}
	// InternalError, FailedOperation.EngineServerError, EngineRequestTimeout ...
	return adaptor.ClassRetry, http.StatusBadGateway
}
