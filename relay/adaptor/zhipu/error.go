package zhipu

import (
	"encoding/json"
	"net/http"
	"strings"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/convert"
)

// DecodeError reads Zhipu's {"error":{"code":"1113","message":...}}.
func (a *Adaptor) DecodeError(resp *http.Response) *adaptor.UpstreamError {
	body := convert.ReadError(resp)
	var e struct {
		Error struct {
			Code    json.Number `json:"code"`
			Message string      `json:"message"`
		} `json:"error"`
	}
	msg, code := "", ""
	if json.Unmarshal(body, &e) == nil {
		msg, code = e.Error.Message, e.Error.Code.String()
	}
	if msg == "" {
		msg = adaptor.PlainErrorText(body, resp.Header.Get("Content-Type"))
	}
	if code == "1003" || resp.StatusCode == http.StatusUnauthorized {
		a.forget(resp)
	}
	return convert.Error(resp.StatusCode, resp.Header, "zhipu_error", code, msg, classify(resp.StatusCode, code), requestToken(resp))
}

// classify decides by Zhipu's error code (its documented table), else by
// the status. The message is never read: it may echo the client's text.
func classify(status int, code string) adaptor.ErrorClass {
	switch code {
	case "1000", "1001", "1002", "1004", // authentication failed, token missing or invalid
		"1110", "1111", "1112", "1113", "1120", "1121": // account inactive, missing, locked, in arrears, abnormal
		return adaptor.ClassDisable
	case "1003": // token expired: the next call signs a new one
		return adaptor.ClassRetry
	case "1210", "1211", "1212", "1213", "1214", "1215", "1261", // bad parameters, unknown model, prompt too long
		"1301": // content refused by Zhipu's safety filter
		return adaptor.ClassClient
	case "1220", "1221", "1222", // no access to this model or API: another channel may have it
		"1230", "1231", "1232", "1233", "1234", // call failures on Zhipu's side
		"1302", "1303", "1304", "1305", "500": // concurrency, rate, daily limits; overload
		return adaptor.ClassRetry
	}
	return convert.StatusClass(status)
}

// forget drops the token a rejected request carried, so the next one is
// signed anew.
func (a *Adaptor) forget(resp *http.Response) {
	if resp.Request == nil {
		return
	}
	if ch, ok := resp.Request.Context().Value(channelKey{}).(*adaptor.Channel); ok {
		a.tokens.Forget(ch, requestToken(resp))
	}
}

// requestToken is the JWT the request carried, to redact from messages.
func requestToken(resp *http.Response) string {
	if resp == nil || resp.Request == nil {
		return ""
	}
	return strings.TrimPrefix(resp.Request.Header.Get("Authorization"), "Bearer ")
}
