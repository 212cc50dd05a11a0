package ali

import (
	"encoding/json"
	"net/http"
	"strings"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/convert"
)

// DecodeError reads DashScope's {"code","message","request_id"}.
func (a *Adaptor) DecodeError(resp *http.Response) *adaptor.UpstreamError {
	return decodeError(resp, callOf(resp).ch.Key)
}

func decodeError(resp *http.Response, key string) *adaptor.UpstreamError {
	body := convert.ReadError(resp)
	var e struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &e) != nil || (e.Code == "" && e.Message == "") {
		e.Message = adaptor.PlainErrorText(body, resp.Header.Get("Content-Type"))
	}
	return apiError(resp.StatusCode, resp.Header, e.Code, e.Message, key)
}

// apiError classifies by DashScope's error code (its published table),
// else by status; never by the message, which may echo the client's text.
func apiError(status int, header http.Header, code, msg, key string) *adaptor.UpstreamError {
	class := convert.StatusClass(status)
	switch {
	case code == "InvalidApiKey", code == "Arrearage", // a wrong key; an account in arrears
		strings.HasPrefix(code, "AllocationQuota.FreeTierOnly"): // free quota used up, paid use not enabled
		class = adaptor.ClassDisable
	case code == "DataInspectionFailed", code == "DataInspection.Failed", // content refused by the safety filter
		strings.HasPrefix(code, "InvalidParameter"), code == "ModelNotFound", code == "InvalidURL", code == "InvalidSchema":
		class = adaptor.ClassClient
		if status < 400 || status >= 500 {
			status = http.StatusBadRequest
		}
	case strings.HasPrefix(code, "Throttling"): // rate limits
		class = adaptor.ClassRetry
		if status < 400 || status == http.StatusBadGateway {
			status = http.StatusTooManyRequests
		}
	case code == "RequestTimeOut",
		strings.HasPrefix(code, "InternalError"), code == "SystemError", code == "ServiceUnavailable",
		strings.HasPrefix(code, "AccessDenied"), strings.HasPrefix(code, "Model.AccessDenied"): // no access to this model: another channel may have it
		class = adaptor.ClassRetry
	}
	return convert.Error(status, header, "ali_error", code, msg, class, key)
}
