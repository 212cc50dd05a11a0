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

var doneData = []byte("[DONE]")

// Members of stream events read: a chat chunk's own usage and error, and a
// Responses event's type.
var (
	chunkKeys = []string{"usage", "error", "choices"}
	typeKey   = []string{"type"}
)

// DecodeStream passes each event to send without decoding it. Chat and
// completions chunks are scanned for their own top-level usage and error
// members (adaptor.TopLevel: nested and quoted text cannot pass for them);
// Responses API events for their type, and only the terminal event
// (response.completed, response.incomplete, response.failed) is decoded, for
// response.usage: the other events echo the request's tool and text.format
// schemas, which a client may fill with anything, usage included.
//
// The normal end is "data: [DONE]", or for the Responses API a
// response.completed or response.incomplete event. An end of body before
// that, a read error, or an error event (chat: an error member or an event
// named error; Responses: type error or response.failed) returns an error
// wrapping adaptor.ErrStreamTruncated (and, for error events and read
// errors, an *adaptor.UpstreamError).
func (a *Adaptor) DecodeStream(req *adaptor.Request, resp *http.Response, send func(adaptor.Event) error) (adaptor.Usage, error) {
	defer resp.Body.Close()
	br := sse.NewReader(resp.Body, maxEventSize)
	defer br.Close()

	mode := adaptor.ModeChat
	if req != nil {
		mode = req.Mode
	}
	var usage adaptor.Usage
	for {
		ev, err := br.Next()
		switch {
		case err == io.EOF:
			return usage, fmt.Errorf("%w: end of body before [DONE]", adaptor.ErrStreamTruncated)
		case errors.Is(err, sse.ErrNotSSE):
			// Not SSE at all: a JSON body (often an error) despite stream=true.
			return usage, notAStream(br, resp)
		case errors.Is(err, sse.ErrLineTooLong):
			return usage, fmt.Errorf("%w: %w", adaptor.ErrStreamTruncated, err)
		case err != nil:
			return usage, fmt.Errorf("%w: %w", adaptor.ErrStreamTruncated, adaptor.TransportError(err))
		}
		data := ev.Data
		if len(data) == 0 {
			continue
		}
		if bytes.Equal(data, doneData) {
			br.Drain()
			return usage, nil
		}
		if mode == adaptor.ModeResponses {
			end, u, rerr := responsesEvent(ev, resp)
			if u.Reported {
				usage = u
			}
			if rerr != nil {
				return usage, rerr
			}
			if serr := send(adaptor.Event{Name: ev.Name, Data: data}); serr != nil {
				return usage, serr
			}
			if end {
				br.Drain()
				return usage, nil
			}
			continue
		}
		var v [3][]byte
		wellFormed := adaptor.TopLevel(data, chunkKeys, v[:])
		if string(ev.Name) == "error" || (wellFormed && !adaptor.IsNull(v[1])) {
			return usage, fmt.Errorf("%w: %w", adaptor.ErrStreamTruncated, streamError(data, resp))
		}
		usageOnly := false
		if u, ok := parseUsage(v[0], mode); ok {
			usage = u
			usageOnly = isEmptyArray(v[2])
		}
		if serr := send(adaptor.Event{Name: ev.Name, Data: data, UsageOnly: usageOnly}); serr != nil {
			return usage, serr
		}
	}
}

// responsesEvent reads one Responses API event: whether it ends the stream,
// the usage of a terminal event, and the error of an error or failed event.
func responsesEvent(ev sse.Event, resp *http.Response) (end bool, usage adaptor.Usage, err error) {
	var v [1][]byte
	typ := string(ev.Name)
	if adaptor.TopLevel(ev.Data, typeKey, v[:]) && len(v[0]) > 1 && v[0][0] == '"' {
		typ = string(v[0][1 : len(v[0])-1])
	}
	switch typ {
	case "response.completed", "response.incomplete", "response.failed":
		var t struct {
			Response struct {
				Usage  json.RawMessage `json:"usage"`
				Output json.RawMessage `json:"output"`
			} `json:"response"`
		}
		if json.Unmarshal(ev.Data, &t) == nil {
			if u, ok := parseUsage(t.Response.Usage, adaptor.ModeResponses); ok {
				u.WebSearch = webSearchCalls(t.Response.Output)
				usage = u
			}
		}
		if typ == "response.failed" {
			return true, usage, fmt.Errorf("%w: %w", adaptor.ErrStreamTruncated, streamError(ev.Data, resp))
		}
		return true, usage, nil
	case "error":
		return true, usage, fmt.Errorf("%w: %w", adaptor.ErrStreamTruncated, streamError(ev.Data, resp))
	}
	return false, usage, nil
}

func isEmptyArray(v []byte) bool {
	if len(v) < 2 || v[0] != '[' {
		return false
	}
	for _, c := range v[1 : len(v)-1] {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
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
// failed stream.
func notAStream(br *sse.Reader, resp *http.Response) error {
	body, err := br.Body()
	if err != nil {
		return fmt.Errorf("%w: %w", adaptor.ErrStreamTruncated, adaptor.TransportError(err))
	}
	if ue := errorValue(bodyErrorMember(body), resp, http.StatusBadGateway); ue != nil {
		return fmt.Errorf("%w: %w", adaptor.ErrStreamTruncated, ue)
	}
	return fmt.Errorf("%w: %w", adaptor.ErrStreamTruncated, &adaptor.UpstreamError{
		Status:  http.StatusBadGateway,
		Message: "upstream answered a stream request without streaming",
		Type:    "upstream_error",
		Class:   adaptor.ClassRetry,
	})
}

// bodyErrorMember is the "error" member of a JSON reply, or of the first
// element of an array reply (Google's OpenAI-compatible endpoint wraps its
// errors in one).
func bodyErrorMember(body []byte) []byte {
	body = bytes.TrimSpace(body)
	if len(body) > 0 && body[0] == '[' {
		var arr []json.RawMessage
		if json.Unmarshal(body, &arr) != nil || len(arr) == 0 {
			return nil
		}
		body = arr[0]
	}
	var v [1][]byte
	adaptor.TopLevel(body, []string{"error"}, v[:])
	return v[0]
}
