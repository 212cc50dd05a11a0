package gemini

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

// Native passes a request made in Gemini's own protocol (the gateway's
// /v1beta/models/{model}:generateContent entrance) to a Gemini channel
// untouched: safety settings, thinking config, Google's tools, cached
// content and thought signatures survive, and the reply, plain or
// streamed, comes back as Gemini sent it. Only the model in the path and
// the key (the channel's, in x-goog-api-key) are the gateway's. It reads
// only the usage, for billing.
type Native struct{ Adaptor }

// NewNative returns the passthrough adaptor.
func NewNative() *Native { return &Native{} }

var _ adaptor.Adaptor = (*Native)(nil)

// NewRequest sends req.Body to {base}/{version}/models/{model}:generateContent,
// or :streamGenerateContent?alt=sse for a stream (the entrance re-frames it
// for clients that asked for the JSON-array form).
func (n *Native) NewRequest(ctx context.Context, ch *adaptor.Channel, req *adaptor.Request) (*http.Request, error) {
	method := "generateContent"
	if req.Stream {
		method = "streamGenerateContent"
	}
	u, err := requestURL(ch, req.Model, method, req.Stream)
	if err != nil {
		return nil, err
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(req.Body))
	if err != nil {
		return nil, fmt.Errorf("build upstream request: %w", err)
	}
	r.Header.Set("Content-Type", "application/json")
	if req.Stream {
		r.Header.Set("Accept", "text/event-stream")
	}
	r.Header.Set(apiKeyHeader, ch.Key)
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
	var gr generateContentResponse
	if err := json.Unmarshal(body, &gr); err != nil {
		return nil, adaptor.Usage{}, invalidResponse(body)
	}
	if gr.Error != nil {
		return nil, adaptor.Usage{}, bodyError(gr.Error, requestKey(resp))
	}
	return body, toUsage(gr.UsageMetadata), nil
}

// DecodeStream passes every event on as it came, reading the usage of the
// last one that carries it. Gemini sends no end marker: the stream ended
// normally if a candidate got a finishReason (or the prompt was blocked).
func (n *Native) DecodeStream(req *adaptor.Request, resp *http.Response, send func(adaptor.Event) error) (adaptor.Usage, error) {
	defer resp.Body.Close()
	br := sse.NewReader(resp.Body, maxEventSize)
	defer br.Close()
	var last *usageMetadata
	finished := false
	for {
		ev, err := br.Next()
		switch {
		case err == io.EOF:
			if !finished {
				return toUsage(last), fmt.Errorf("%w: end of body before a finishReason", adaptor.ErrStreamTruncated)
			}
			return toUsage(last), nil
		case errors.Is(err, sse.ErrNotSSE):
			return toUsage(last), notAStream(br, resp)
		case errors.Is(err, sse.ErrLineTooLong):
			return toUsage(last), fmt.Errorf("%w: %w", adaptor.ErrStreamTruncated, err)
		case err != nil:
			return toUsage(last), fmt.Errorf("%w: %w", adaptor.ErrStreamTruncated, adaptor.TransportError(err))
		}
		data := bytes.TrimSpace(ev.Data)
		var gr generateContentResponse
		if json.Unmarshal(data, &gr) != nil {
			continue // not JSON: nothing to bill, nothing a client can read
		}
		if gr.Error != nil {
			return toUsage(last), fmt.Errorf("%w: %w", adaptor.ErrStreamTruncated, bodyError(gr.Error, requestKey(resp)))
		}
		if gr.UsageMetadata != nil {
			last = gr.UsageMetadata
		}
		for _, c := range gr.Candidates {
			finished = finished || c.FinishReason != ""
		}
		finished = finished || blockReason(&gr) != ""
		if err := send(adaptor.Event{Data: data}); err != nil {
			return toUsage(last), err
		}
	}
}

// NativeEmbed passes embedContent (Batch false) or batchEmbedContents
// bodies to a Gemini channel untouched. Gemini reports no usage for
// embeddings: the gateway counts the input.
type NativeEmbed struct {
	Adaptor
	Batch bool
}

var _ adaptor.Adaptor = (*NativeEmbed)(nil)

// NewRequest sends req.Body to {base}/{version}/models/{model}:embedContent
// or :batchEmbedContents.
func (n *NativeEmbed) NewRequest(ctx context.Context, ch *adaptor.Channel, req *adaptor.Request) (*http.Request, error) {
	method := "embedContent"
	if n.Batch {
		method = "batchEmbedContents"
	}
	u, err := requestURL(ch, req.Model, method, false)
	if err != nil {
		return nil, err
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(req.Body))
	if err != nil {
		return nil, fmt.Errorf("build upstream request: %w", err)
	}
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set(apiKeyHeader, ch.Key)
	return r, nil
}

// DecodeResponse returns the reply as it is; its usage is not reported.
func (n *NativeEmbed) DecodeResponse(req *adaptor.Request, resp *http.Response) ([]byte, adaptor.Usage, error) {
	defer resp.Body.Close()
	body, err := adaptor.ReadBody(resp, maxResponseSize)
	if err != nil {
		if errors.Is(err, adaptor.ErrBodyTooLarge) {
			return nil, adaptor.Usage{}, &adaptor.UpstreamError{Status: http.StatusBadGateway, Message: "upstream reply too large", Type: "upstream_error", Class: adaptor.ClassClient, Err: err}
		}
		return nil, adaptor.Usage{}, adaptor.TransportError(err)
	}
	var v struct {
		Error *googleError `json:"error"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, adaptor.Usage{}, invalidResponse(body)
	}
	if v.Error != nil {
		return nil, adaptor.Usage{}, bodyError(v.Error, requestKey(resp))
	}
	return body, adaptor.Usage{}, nil
}
