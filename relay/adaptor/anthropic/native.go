package anthropic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/sse"
)

// Native passes a request made in the Messages API's own protocol (the
// gateway's /v1/messages entrance) to an Anthropic channel untouched:
// thinking blocks, cache_control, server tools and beta features survive,
// and the reply, plain or streamed, comes back as Anthropic sent it. It
// reads only the usage, for billing. The client's anthropic-version and
// anthropic-beta headers are forwarded.
type Native struct{ Adaptor }

// NewNative returns the passthrough adaptor.
func NewNative() *Native { return &Native{*New()} }

var _ adaptor.Adaptor = (*Native)(nil)

// forwardedHeaders are the client's headers a passthrough keeps.
var forwardedHeaders = []string{"anthropic-version", "anthropic-beta"}

// NewRequest sends req.Body, a Messages request, to {base}/v1/messages.
func (n *Native) NewRequest(ctx context.Context, ch *adaptor.Channel, req *adaptor.Request) (*http.Request, error) {
	u, err := RequestURL(ch)
	if err != nil {
		return nil, err
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(req.Body))
	if err != nil {
		return nil, fmt.Errorf("build upstream request: %w", err)
	}
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("x-api-key", ch.Key)
	r.Header.Set("anthropic-version", APIVersion)
	for _, h := range forwardedHeaders {
		if v := req.Header.Values(h); len(v) > 0 {
			r.Header[http.CanonicalHeaderKey(h)] = v
		}
	}
	if req.Stream {
		r.Header.Set("Accept", "text/event-stream")
	}
	return r, nil
}

// DecodeResponse returns the reply as it is, with its usage.
func (n *Native) DecodeResponse(req *adaptor.Request, resp *http.Response) ([]byte, adaptor.Usage, error) {
	defer resp.Body.Close()
	body, err := adaptor.ReadBody(resp, maxResponseSize)
	if err != nil {
		if errors.Is(err, adaptor.ErrBodyTooLarge) {
			return nil, adaptor.Usage{}, &adaptor.UpstreamError{Status: http.StatusBadGateway, Message: "upstream reply too large", Type: "upstream_error", Class: adaptor.ClassClient, Err: err}
		}
		return nil, adaptor.Usage{}, adaptor.TransportError(err)
	}
	var m messagesResponse
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, adaptor.Usage{}, &adaptor.UpstreamError{Status: http.StatusBadGateway, Type: "upstream_error", Class: adaptor.ClassRetry, Err: err,
			Message: "upstream reply is not an Anthropic message: " + adaptor.Redact(adaptor.Snippet(body, 200), requestKey(resp))}
	}
	if m.Type == "error" && m.Error != nil {
		return nil, adaptor.Usage{}, newUpstreamError(statusForErrorType(m.Error.Type), m.Error.Type, adaptor.Redact(m.Error.Message, requestKey(resp)))
	}
	var u adaptor.Usage
	if m.Usage != nil {
		u = m.Usage.toUsage()
	}
	return body, u, nil
}

// DecodeStream passes every event on with its name, reading usage from
// message_start and message_delta; message_stop is the normal end. An
// error event is not passed: it comes back as an *adaptor.UpstreamError,
// for the relay to send in the entrance's shape.
func (n *Native) DecodeStream(req *adaptor.Request, resp *http.Response, send func(adaptor.Event) error) (adaptor.Usage, error) {
	defer resp.Body.Close()
	br := sse.NewReader(resp.Body, maxEventSize)
	defer br.Close()
	s := &streamState{key: requestKey(resp)}
	for {
		ev, err := br.Next()
		switch {
		case err == io.EOF:
			return s.result(), fmt.Errorf("%w: end of body before message_stop", adaptor.ErrStreamTruncated)
		case errors.Is(err, sse.ErrNotSSE):
			return s.result(), notAStream(br, resp)
		case errors.Is(err, sse.ErrLineTooLong):
			return s.result(), fmt.Errorf("%w: %w", adaptor.ErrStreamTruncated, err)
		case err != nil:
			return s.result(), fmt.Errorf("%w: %w", adaptor.ErrStreamTruncated, adaptor.TransportError(err))
		}
		data := bytes.TrimSpace(ev.Data)
		var e streamEvent
		if json.Unmarshal(data, &e) != nil {
			continue // not JSON: nothing to bill, nothing a client can read
		}
		switch e.Type {
		case "error":
			return s.result(), fmt.Errorf("%w: %w", adaptor.ErrStreamTruncated, s.streamError(e.Error))
		case "message_start":
			if e.Message != nil && e.Message.Usage != nil {
				s.usage, s.reported = *e.Message.Usage, true
			}
		case "message_delta":
			if e.Usage != nil {
				s.mergeUsage(e.Usage)
			}
		}
		name := ev.Name
		if len(name) == 0 {
			name = []byte(e.Type)
		}
		if err := send(adaptor.Event{Name: name, Data: data}); err != nil {
			return s.result(), err
		}
		if e.Type == "message_stop" {
			br.Drain()
			return s.result(), nil
		}
	}
}
