package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"oneapi/relay/adaptor"
	"oneapi/relay/oai"
)

// maxResponseSize bounds a non-stream reply held in memory. Image replies
// with several base64 images are the largest legitimate ones.
const maxResponseSize = 256 << 20

// DecodeResponse returns the upstream body unchanged (it is already in
// OpenAI's format; decoding and re-encoding it would only cost time and
// drop fields) and the usage it reports, read from the reply's own top-level
// usage member only. A 2xx body that carries an {"error":...} object, as
// some vendors send, becomes an *UpstreamError.
func (a *Adaptor) DecodeResponse(req *adaptor.Request, resp *http.Response) ([]byte, adaptor.Usage, error) {
	defer resp.Body.Close()
	body, err := adaptor.ReadBody(resp, maxResponseSize)
	if err != nil {
		if errors.Is(err, adaptor.ErrBodyTooLarge) {
			return nil, adaptor.Usage{}, &adaptor.UpstreamError{Status: http.StatusBadGateway, Message: "upstream reply too large", Type: "upstream_error", Class: adaptor.ClassClient, Err: err}
		}
		return nil, adaptor.Usage{}, adaptor.TransportError(err)
	}
	if !looksLikeJSONObject(body) {
		return body, adaptor.Usage{}, nil // audio, plain-text transcripts
	}
	var v [3][]byte
	if !adaptor.TopLevel(body, replyKeys, v[:]) {
		// Not ours to judge: the client gets what upstream sent.
		return body, adaptor.Usage{}, nil
	}
	if ue := errorValue(v[1], resp, http.StatusBadGateway); ue != nil {
		return nil, adaptor.Usage{}, ue
	}
	mode := adaptor.ModeChat
	if req != nil {
		mode = req.Mode
	}
	u, _ := parseUsage(v[0], mode)
	if mode == adaptor.ModeResponses && u.Reported {
		u.WebSearch = webSearchCalls(v[2])
	}
	return body, u, nil
}

// replyKeys are the members of a reply DecodeResponse reads: the object's
// own usage, error and (Responses API) output, never one nested in content
// or in the request's tool schemas that the Responses API echoes back.
var replyKeys = []string{"usage", "error", "output"}

// webSearchCalls counts the web_search_call items of a Responses output,
// billed per call.
func webSearchCalls(output []byte) int {
	if len(output) == 0 || output[0] != '[' {
		return 0
	}
	var items []struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(output, &items) != nil {
		return 0
	}
	n := 0
	for _, it := range items {
		if it.Type == "web_search_call" {
			n++
		}
	}
	return n
}

// errorValue returns the error an "error" member describes, or nil when it
// is absent, null or not an error.
func errorValue(raw []byte, resp *http.Response, status int) *adaptor.UpstreamError {
	if adaptor.IsNull(raw) {
		return nil
	}
	oe, ok := parseErrorValue(raw)
	if !ok {
		return nil
	}
	oe.Message = adaptor.Redact(oe.Message, requestKey(resp))
	return adaptor.NewUpstreamError(statusFromCode(oe.Code, status), nil, oe)
}

// parseErrorValue reads the value of an "error" key: OpenAI's object, or a
// bare string as some vendors send.
func parseErrorValue(raw json.RawMessage) (oai.Error, bool) {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return oai.Error{}, false
	}
	switch raw[0] {
	case '{':
		var e struct {
			oai.Error
			// Google's OpenAI-compatible endpoint keeps its own error
			// details: a dead key is told by its reason, not its message.
			Details []struct {
				Reason string `json:"reason"`
			} `json:"details"`
		}
		if err := json.Unmarshal(raw, &e); err != nil || (e.Message == "" && e.Type == "" && e.Code == "") {
			return oai.Error{}, false
		}
		for _, d := range e.Details {
			if d.Reason == "API_KEY_INVALID" || d.Reason == "API_KEY_EXPIRED" {
				e.Code = "invalid_api_key"
			}
		}
		return e.Error, true
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil || s == "" {
			return oai.Error{}, false
		}
		return oai.Error{Message: s}, true
	}
	return oai.Error{}, false
}

// statusFromCode uses a numeric error code that is an HTTP status (some
// vendors put 429 or 503 there), else def.
func statusFromCode(code oai.Code, def int) int {
	if n, err := strconv.Atoi(string(code)); err == nil && n >= 400 && n <= 599 {
		return n
	}
	return def
}

func looksLikeJSONObject(b []byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && b[0] == '{'
}

// requestKey returns the channel key the request carried, so it can be
// redacted from messages upstream echoes.
func requestKey(resp *http.Response) string {
	if resp == nil || resp.Request == nil {
		return ""
	}
	if k := resp.Request.Header.Get("api-key"); k != "" {
		return k
	}
	k := resp.Request.Header.Get("Authorization")
	if len(k) > 7 && (k[:7] == "Bearer " || k[:7] == "bearer ") {
		return k[7:]
	}
	return k
}
