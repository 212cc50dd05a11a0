package tgi

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"oneapi/relay/adaptor"
	"oneapi/relay/oai"
)

const maxErrorBody = 64 << 10

// DecodeError reads TGI's and TEI's error shape {"error": "...",
// "error_type": "..."} (Hugging Face's hosted services add
// "estimated_time" while a model loads), or an OpenAI-style error from a
// proxy in front. 401 and 402 disable; 413, 422 and the validation error
// types (a prompt too long, a bad parameter, a chat template that refuses
// the roles) are the client's; 424 (generation failed), 429 (overloaded),
// 503 (loading, unhealthy) and 5xx are retried elsewhere.
func (a *Adaptor) DecodeError(resp *http.Response) *adaptor.UpstreamError {
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	return errorFromBody(resp.StatusCode, resp.Header, body, requestKey(resp))
}

// clientErrorTypes are TGI's and TEI's error_type values for a request the
// server will never take as it is.
var clientErrorTypes = map[string]bool{
	"validation": true, "template_error": true, "missing_template_variable": true, "tool_error": true,
	"Validation": true, "Tokenizer": true, "Empty": true, // TEI
}

// statusOfType is the HTTP status TGI answers each error_type with, for
// errors that arrive inside a stream (status 0).
var statusOfType = map[string]int{
	"generation": http.StatusFailedDependency, "overloaded": http.StatusTooManyRequests, "Overloaded": http.StatusTooManyRequests,
	"validation": http.StatusUnprocessableEntity, "template_error": http.StatusUnprocessableEntity,
	"missing_template_variable": http.StatusUnprocessableEntity, "tool_error": http.StatusUnprocessableEntity,
	"Validation": http.StatusUnprocessableEntity, "Tokenizer": http.StatusUnprocessableEntity, "Empty": http.StatusUnprocessableEntity,
	"Unhealthy": http.StatusServiceUnavailable, "healthcheck": http.StatusServiceUnavailable,
}

// errorFromBody builds the error of a TGI/TEI error body; status 0 (an
// error event in a stream) takes the status of its error_type, else 502.
func errorFromBody(status int, h http.Header, body []byte, key string) *adaptor.UpstreamError {
	var v struct {
		Error         json.RawMessage `json:"error"`
		ErrorType     string          `json:"error_type"`
		EstimatedTime float64         `json:"estimated_time"`
	}
	oe := oai.Error{}
	if json.Unmarshal(body, &v) == nil && len(v.Error) > 0 {
		switch v.Error[0] {
		case '"':
			_ = json.Unmarshal(v.Error, &oe.Message)
		case '{':
			_ = json.Unmarshal(v.Error, &oe)
		}
		if v.ErrorType != "" {
			oe.Code = oai.Code(v.ErrorType)
		}
	} else {
		oe.Message = adaptor.PlainErrorText(body, headerGet(h, "Content-Type"))
	}
	if status == 0 {
		status = http.StatusBadGateway
		if s, ok := statusOfType[v.ErrorType]; ok {
			status = s
		}
	}
	if oe.Message == "" {
		oe.Message = fmt.Sprintf("upstream returned status %d %s", status, http.StatusText(status))
	}
	oe.Message = adaptor.Redact(oe.Message, key)
	if oe.Type == "" {
		oe.Type = "upstream_error"
	}
	client := clientErrorTypes[v.ErrorType]
	if client {
		oe.Type = "invalid_request_error"
	}
	ue := adaptor.NewUpstreamError(status, h, oe)
	switch {
	case client && ue.Class != adaptor.ClassDisable:
		ue.Class = adaptor.ClassClient
		if ue.Status >= 500 || ue.Status < 400 {
			ue.Status = http.StatusUnprocessableEntity
		}
	case status == http.StatusFailedDependency:
		ue.Class = adaptor.ClassRetry
	}
	// Hugging Face's hosted inference says how long a loading model needs.
	if ue.RetryAfter == 0 && v.EstimatedTime > 0 && status == http.StatusServiceUnavailable {
		ue.RetryAfter = time.Duration(v.EstimatedTime * float64(time.Second))
	}
	return ue
}

func headerGet(h http.Header, k string) string {
	if h == nil {
		return ""
	}
	return h.Get(k)
}
