package openai

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"oneapi/relay/adaptor"
	"oneapi/relay/oai"
)

// maxErrorBody bounds how much of an error reply is read.
const maxErrorBody = 64 << 10

// DecodeError reads a non-2xx reply. OpenAI-compatible vendors mostly send
// {"error":{...}}; others send {"error":"..."}, {"message":"..."},
// {"detail":"..."} or an HTML page from a proxy, which all end up as a
// message. Retry-After is kept, the key is redacted and the class set by
// adaptor.Classify.
func (a *Adaptor) DecodeError(resp *http.Response) *adaptor.UpstreamError {
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	oe := oai.Error{}
	if err == nil {
		oe = parseErrorBody(body, resp.Header.Get("Content-Type"))
	}
	if oe.Message == "" {
		oe.Message = fmt.Sprintf("upstream returned status %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	if oe.Type == "" {
		oe.Type = "upstream_error"
	}
	oe.Message = adaptor.Redact(oe.Message, requestKey(resp))
	return adaptor.NewUpstreamError(resp.StatusCode, resp.Header, oe)
}

// parseErrorBody extracts an error from whatever an upstream sent.
func parseErrorBody(body []byte, contentType string) oai.Error {
	body = bytes.TrimSpace(body)
	if len(body) > 0 && body[0] == '[' { // Google's OpenAI-compatible endpoint: [{"error":{...}}]
		var arr []json.RawMessage
		if json.Unmarshal(body, &arr) == nil && len(arr) > 0 {
			body = bytes.TrimSpace(arr[0])
		}
	}
	if looksLikeJSONObject(body) {
		var v struct {
			Error   json.RawMessage `json:"error"`
			Message string          `json:"message"`
			Detail  json.RawMessage `json:"detail"` // FastAPI-style servers (vLLM ...)
			Type    string          `json:"type"`
			Code    oai.Code        `json:"code"`
		}
		if json.Unmarshal(body, &v) == nil {
			if oe, ok := parseErrorValue(v.Error); ok {
				return oe
			}
			msg := v.Message
			if msg == "" && len(v.Detail) > 0 {
				var s string
				if json.Unmarshal(v.Detail, &s) == nil {
					msg = s
				} else {
					msg = string(v.Detail)
				}
			}
			if msg != "" {
				return oai.Error{Message: msg, Type: v.Type, Code: v.Code}
			}
		}
	}
	return oai.Error{Message: adaptor.PlainErrorText(body, contentType)}
}
