package baidu

import (
	"encoding/json"
	"net/http"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/convert"
)

// DecodeError reads a non-2xx reply: Baidu's {"error_code","error_msg"}
// for v1, OpenAI's shape for v2, or whatever a proxy sent.
func (a *Adaptor) DecodeError(resp *http.Response) *adaptor.UpstreamError {
	call, ok := v1(resp)
	if !ok {
		return a.v2.DecodeError(resp)
	}
	body := convert.ReadError(resp)
	var e chatResponse
	if json.Unmarshal(body, &e) == nil && e.ErrorCode != 0 {
		return a.apiError(call, resp.StatusCode, resp.Header, e.ErrorCode, e.ErrorMsg)
	}
	return convert.Error(resp.StatusCode, resp.Header, "baidu_error", "", adaptor.PlainErrorText(body, resp.Header.Get("Content-Type")),
		convert.StatusClass(resp.StatusCode), call.token)
}

// classify decides by Baidu's error_code (its published table), and gives
// the HTTP status to report (0: the reply's own). The message is never
// read: it may echo the client's text.
func classify(code int) (adaptor.ErrorClass, int) {
	switch code {
	case 14, 15, // IAM authentication failed; the application does not exist
		19: // the application's total request quota is used up
		return adaptor.ClassDisable, http.StatusUnauthorized
	case 110, 111: // access token invalid or expired: forgotten, the next call fetches one
		return adaptor.ClassRetry, http.StatusUnauthorized
	case 4, 17, 18, 336501, 336502: // cluster, daily, QPS, RPM and TPM limits
		return adaptor.ClassRetry, http.StatusTooManyRequests
	case 1, 2, 13, 336000, 336100: // unknown, unavailable, token service, internal, busy
		return adaptor.ClassRetry, http.StatusBadGateway
	case 6: // the application may not use this model: another channel may
		return adaptor.ClassRetry, http.StatusForbidden
	case 3: // no such method: the model name names no endpoint
		return adaptor.ClassClient, http.StatusNotFound
	case 336001, 336002, 336003, 336005, 336006, 336007, 336008, 336101, 336102, 336103, 336104, 336105:
		// invalid argument, JSON, parameter, API name, messages, length,
		// function or prompt too long
		return adaptor.ClassClient, http.StatusBadRequest
	}
	return adaptor.ClassRetry, 0
}
