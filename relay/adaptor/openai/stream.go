package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/sse"
	"oneapi/relay/oai"
)

// maxEventSize bounds one SSE line. Responses API image events carry whole
// base64 images, so lines of several MB are legitimate.
const maxEventSize = 32 << 20

var (
	dataPrefix  = []byte("data:")
	eventPrefix = []byte("event:")
	doneData    = []byte("[DONE]")
	usageKey    = []byte(`"usage":`)
)

// DecodeStream passes each data payload to send without decoding it. Only
// payloads that carry a usage object, or are error objects, are decoded;
// this is the per-chunk hot path.
//
// The normal end is "data: [DONE]"; for the Responses API it is a
// response.completed or response.incomplete event. An end of body before
// that, a read error, or an error event returns an error wrapping
// adaptor.ErrStreamTruncated (and, for error events and read errors, an
// *adaptor.UpstreamError). The stream is read as one event per data line:
// OpenAI-compatible upstreams do not split JSON over several data lines.
func (a *Adaptor) DecodeStream(req *adaptor.Request, resp *http.Response, send func(data []byte) error) (adaptor.Usage, error) {
	defer resp.Body.Close()
	br := sse.NewReader(resp.Body, maxEventSize)
	defer br.Close()

	responses := req != nil && req.Mode == adaptor.ModeResponses
	var (
		usage      adaptor.Usage
		errorEvent bool // the pending event was named "error"
		sawData    bool
	)
	for {
		line, err := br.Line()
		partial := err != nil // the line was cut by the end of the body or an error
		if len(line) == 0 {
			errorEvent = false // a blank line ends the event
		} else {
			switch {
			case line[0] == ':':
				// Comment, used as keep-alive (OpenRouter's ": OPENROUTER PROCESSING").
			case bytes.HasPrefix(line, dataPrefix):
				data := line[len(dataPrefix):]
				if len(data) > 0 && data[0] == ' ' {
					data = data[1:]
				}
				if len(data) == 0 {
					break
				}
				done := bytes.Equal(data, doneData)
				if partial && !done {
					break // an event cut in half must not reach the client
				}
				sawData = true
				if done {
					br.Drain()
					return usage, nil
				}
				if errorEvent || isErrorPayload(data, responses) {
					return usage, fmt.Errorf("%w: %w", adaptor.ErrStreamTruncated, streamError(data, resp))
				}
				if u, ok := findUsage(data); ok {
					usage = u
				}
				if serr := send(data); serr != nil {
					return usage, serr
				}
				if responses && isResponsesEnd(data) {
					br.Drain()
					return usage, nil
				}
			case bytes.HasPrefix(line, eventPrefix):
				errorEvent = string(bytes.TrimSpace(line[len(eventPrefix):])) == "error"
			case !sawData && (line[0] == '{' || line[0] == '['):
				// Not SSE at all: a JSON body (often an error) despite stream=true.
				return usage, notAStream(line, br, resp)
			}
			// id:, retry: and anything else carry nothing for the client.
		}
		if err != nil {
			if err == io.EOF {
				return usage, fmt.Errorf("%w: end of body before [DONE]", adaptor.ErrStreamTruncated)
			}
			if errors.Is(err, sse.ErrLineTooLong) {
				return usage, fmt.Errorf("%w: %w", adaptor.ErrStreamTruncated, err)
			}
			return usage, fmt.Errorf("%w: %w", adaptor.ErrStreamTruncated, adaptor.TransportError(err))
		}
	}
}

// findUsage decodes the usage object of a payload, if it has a non-null
// one. With include_usage every chunk carries "usage":null, so the cheap
// byte search must look past null; only the usage object itself is then
// decoded, not the whole chunk.
func findUsage(data []byte) (adaptor.Usage, bool) {
	rest := data
	for {
		i := bytes.Index(rest, usageKey)
		if i < 0 {
			return adaptor.Usage{}, false
		}
		rest = skipSpace(rest[i+len(usageKey):])
		if len(rest) > 0 && rest[0] == '{' {
			break
		}
	}
	obj := jsonObject(rest)
	if obj == nil {
		return adaptor.Usage{}, false
	}
	var w wireUsage
	if err := json.Unmarshal(obj, &w); err != nil {
		return adaptor.Usage{}, false
	}
	return w.toUsage(), true
}

// skipSpace drops leading blanks. (bytes.TrimLeft builds its cutset on
// every call, which shows on the per-chunk path.)
func skipSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}

// jsonObject returns the JSON object at the start of b (b[0] == '{'), or nil
// if it is not closed. Braces inside strings are skipped.
func jsonObject(b []byte) []byte {
	depth, inString := 0, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return b[:i+1]
			}
		}
	}
	return nil
}

// isErrorPayload reports whether an event is an error object:
// {"error": ...}, or for the Responses API {"type":"error"...} and
// {"type":"response.failed"...}.
func isErrorPayload(data []byte, responses bool) bool {
	if len(data) == 0 || data[0] != '{' {
		return false
	}
	rest := skipSpace(data[1:])
	if bytes.HasPrefix(rest, []byte(`"error"`)) {
		return true
	}
	return responses && (bytes.HasPrefix(rest, []byte(`"type":"error"`)) ||
		bytes.HasPrefix(rest, []byte(`"type":"response.failed"`)))
}

// isResponsesEnd reports a Responses API terminal event. OpenAI writes
// "type" first in every event, so a prefix test suffices.
func isResponsesEnd(data []byte) bool {
	return bytes.HasPrefix(data, []byte(`{"type":"response.completed"`)) ||
		bytes.HasPrefix(data, []byte(`{"type":"response.incomplete"`))
}

// streamError describes an error event. The event itself is not sent to the
// client: the relay decides how to report it.
func streamError(data []byte, resp *http.Response) *adaptor.UpstreamError {
	var ev struct {
		Error    json.RawMessage `json:"error"`
		Type     string          `json:"type"`
		Code     oai.Code        `json:"code"`
		Message  string          `json:"message"`
		Response *struct {
			Error *oai.Error `json:"error"`
		} `json:"response"`
	}
	var oe oai.Error
	switch err := json.Unmarshal(data, &ev); {
	case err != nil:
		oe = oai.Error{Message: "upstream sent a malformed error event"}
	case len(ev.Error) > 0 && string(ev.Error) != "null":
		var ok bool
		if oe, ok = parseErrorValue(ev.Error); !ok {
			oe = oai.Error{Message: "upstream sent an error event"}
		}
	case ev.Response != nil && ev.Response.Error != nil:
		oe = *ev.Response.Error
	default:
		oe = oai.Error{Message: ev.Message, Code: ev.Code}
		if ev.Type != "error" {
			oe.Type = ev.Type
		}
	}
	if oe.Message == "" {
		oe.Message = "upstream sent an error event"
	}
	if oe.Type == "" {
		oe.Type = "upstream_error"
	}
	oe.Message = adaptor.Redact(oe.Message, requestKey(resp))
	return adaptor.NewUpstreamError(statusFromCode(oe.Code, http.StatusBadGateway), nil, oe)
}

// notAStream handles a 2xx reply to a stream request that is plain JSON:
// an error object becomes its UpstreamError, anything else is reported as a
// failed stream. first is the first line, already read.
func notAStream(first []byte, br *sse.Reader, resp *http.Response) error {
	body, err := br.Body(first)
	if err != nil {
		return fmt.Errorf("%w: %w", adaptor.ErrStreamTruncated, adaptor.TransportError(err))
	}
	var env envelope
	if json.Unmarshal(body, &env) == nil {
		if ue := env.upstreamError(resp, http.StatusBadGateway); ue != nil {
			return fmt.Errorf("%w: %w", adaptor.ErrStreamTruncated, ue)
		}
	}
	return fmt.Errorf("%w: %w", adaptor.ErrStreamTruncated, &adaptor.UpstreamError{
		Status:  http.StatusBadGateway,
		Message: "upstream answered a stream request without streaming",
		Type:    "upstream_error",
		Class:   adaptor.ClassRetry,
	})
}
