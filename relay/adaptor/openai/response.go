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
// drop fields) and the usage it reports. A 2xx body that carries an
// {"error":...} object, as some vendors send, becomes an *UpstreamError.
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
	// Most of a reply is content; skip the decode when it cannot hold usage
	// or an error.
	hasError := bytes.Contains(body, []byte(`"error"`))
	if !hasError {
		if u, ok := lastUsage(body); ok {
			return body, u, nil
		}
		if !bytes.Contains(body, []byte(`"usage"`)) {
			return body, adaptor.Usage{}, nil
		}
	}
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		// Not ours to judge: the client gets what upstream sent.
		return body, adaptor.Usage{}, nil
	}
	if ue := env.upstreamError(resp, http.StatusBadGateway); ue != nil {
		return nil, adaptor.Usage{}, ue
	}
	return body, env.usage(), nil
}

// lastUsage decodes only the last "usage" object of a reply instead of the
// whole body. A quote inside JSON text is always escaped, so an unescaped
// "usage" is a key; the top-level one comes last in OpenAI-format replies.
// ok is false when there is none or it is not a plain usage object (the
// caller then decodes the whole body).
func lastUsage(body []byte) (adaptor.Usage, bool) {
	i := bytes.LastIndex(body, []byte(`"usage"`))
	if i < 0 {
		return adaptor.Usage{}, false
	}
	rest := bytes.TrimLeft(body[i+len(`"usage"`):], " \t\r\n")
	if len(rest) == 0 || rest[0] != ':' {
		return adaptor.Usage{}, false
	}
	rest = bytes.TrimLeft(rest[1:], " \t\r\n")
	if len(rest) == 0 || rest[0] != '{' {
		return adaptor.Usage{}, false
	}
	var w wireUsage
	if err := json.NewDecoder(bytes.NewReader(rest)).Decode(&w); err != nil {
		return adaptor.Usage{}, false
	}
	return w.toUsage(), true
}

// envelope is the part of a reply or stream event this adaptor reads.
type envelope struct {
	Usage *wireUsage `json:"usage"`
	// Response holds usage in Responses API stream events.
	Response *struct {
		Usage *wireUsage `json:"usage"`
	} `json:"response"`
	Error json.RawMessage `json:"error"`
}

func (e *envelope) usage() adaptor.Usage {
	u := e.Usage
	if u == nil && e.Response != nil {
		u = e.Response.Usage
	}
	if u == nil {
		return adaptor.Usage{}
	}
	return u.toUsage()
}

// upstreamError returns the error an {"error": ...} object describes, or nil.
func (e *envelope) upstreamError(resp *http.Response, status int) *adaptor.UpstreamError {
	if len(e.Error) == 0 || string(e.Error) == "null" {
		return nil
	}
	oe, ok := parseErrorValue(e.Error)
	if !ok {
		return nil
	}
	oe.Message = adaptor.Redact(oe.Message, requestKey(resp))
	return adaptor.NewUpstreamError(statusFromCode(oe.Code, status), nil, oe)
}

// wireUsage accepts both usage shapes: chat/completions/embeddings
// (prompt_tokens, completion_tokens) and Responses API, images and
// transcriptions (input_tokens, output_tokens).
type wireUsage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
	InputTokens      int `json:"input_tokens"`
	OutputTokens     int `json:"output_tokens"`
}

func (w *wireUsage) toUsage() adaptor.Usage {
	u := adaptor.Usage{PromptTokens: w.PromptTokens, CompletionTokens: w.CompletionTokens, Reported: true}
	if u.PromptTokens == 0 && u.CompletionTokens == 0 {
		u.PromptTokens, u.CompletionTokens = w.InputTokens, w.OutputTokens
	}
	// Some vendors only fill total_tokens (One API's DoResponse handles the
	// same case); the split is unknown, so bill it as completion.
	if u.PromptTokens == 0 && u.CompletionTokens == 0 && w.TotalTokens > 0 {
		u.CompletionTokens = w.TotalTokens
	}
	return u
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
		var e oai.Error
		if err := json.Unmarshal(raw, &e); err != nil || (e.Message == "" && e.Type == "" && e.Code == "") {
			return oai.Error{}, false
		}
		return e, true
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
