package cohere

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"oneapi/relay/adaptor"
	"oneapi/relay/oai"
)

const maxErrorBody = 64 << 10

// DecodeError reads Cohere's {"id": ..., "message": ...}. Besides 401 and
// 402, Cohere's 498 (invalid token) disables the channel; 400, 404, 413 and
// 422 are the client's; 429, 499 (cancelled upstream), 5xx are retried.
func (a *Adaptor) DecodeError(resp *http.Response) *adaptor.UpstreamError {
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	return errorFromBody(resp.StatusCode, resp.Header, body, requestKey(resp))
}

// statusInvalidToken is Cohere's "invalid token" status.
const statusInvalidToken = 498

// errorFromBody builds the error of a Cohere error body; status 0 is an
// error inside a stream (502).
func errorFromBody(status int, h http.Header, body []byte, key string) *adaptor.UpstreamError {
	if status == 0 {
		status = http.StatusBadGateway
	}
	var v struct {
		Message string          `json:"message"`
		Error   json.RawMessage `json:"error"`
	}
	oe := oai.Error{Type: "upstream_error"}
	if json.Unmarshal(body, &v) == nil {
		oe.Message = v.Message
		if oe.Message == "" && len(v.Error) > 0 {
			if v.Error[0] == '"' {
				_ = json.Unmarshal(v.Error, &oe.Message)
			} else {
				_ = json.Unmarshal(v.Error, &oe)
			}
		}
	} else {
		ct := ""
		if h != nil {
			ct = h.Get("Content-Type")
		}
		oe.Message = adaptor.PlainErrorText(body, ct)
	}
	if oe.Message == "" {
		oe.Message = fmt.Sprintf("upstream returned status %d %s", status, http.StatusText(status))
	}
	oe.Message = adaptor.Redact(oe.Message, key)
	ue := adaptor.NewUpstreamError(status, h, oe)
	if status == statusInvalidToken {
		ue.Class, ue.Code = adaptor.ClassDisable, "invalid_api_key"
	}
	return ue
}
