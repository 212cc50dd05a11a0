package xunfei

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/convert"
)

// DecodeError reads a non-2xx reply: Spark's {"code","message"}, an
// OpenAI error object, or a gateway's text.
func (a *Adaptor) DecodeError(resp *http.Response) *adaptor.UpstreamError {
	ch := channelOf(resp)
	body := convert.ReadError(resp)
	var r reply
	if json.Unmarshal(body, &r) == nil {
		if ue := r.failure(ch, resp.StatusCode); ue != nil {
			ue.RetryAfter = adaptor.ParseRetryAfter(resp.Header)
			return ue
		}
		if r.Message != "" {
			return apiError(resp.StatusCode, resp.Header, "", r.Message, ch)
		}
	}
	return apiError(resp.StatusCode, resp.Header, "", adaptor.PlainErrorText(body, resp.Header.Get("Content-Type")), ch)
}

// apiError classifies by Spark's error code (its HTTP API's table), else
// by the status; never by the message, which may echo the client.
func apiError(status int, header http.Header, code, msg string, ch *adaptor.Channel) *adaptor.UpstreamError {
	class := convert.StatusClass(status)
	switch code {
	case "11200": // not authorised: the app lacks this service
		class, status = adaptor.ClassDisable, http.StatusUnauthorized
	case "10007", "11201", "11202", "11203": // traffic, daily, per-second and concurrency limits
		class, status = adaptor.ClassRetry, http.StatusTooManyRequests
	case "10013", "10014", "10019", // content refused by the safety review
		"10907",                   // too many tokens
		"10160", "10161", "10163": // malformed request, bad base64, parameter check failed
		class, status = adaptor.ClassClient, http.StatusBadRequest
	case "10110", "10222", "10012": // busy, network error, internal error
		class = adaptor.ClassRetry
		if status < 500 {
			status = http.StatusBadGateway
		}
	}
	secrets := []string{bearer(ch.Key)}
	for _, p := range strings.Split(ch.Key, "|") {
		secrets = append(secrets, p)
	}
	if msg == "" {
		msg = fmt.Sprintf("upstream returned status %d", status)
	}
	return convert.Error(status, header, "xunfei_error", code, msg, class, secrets...)
}
