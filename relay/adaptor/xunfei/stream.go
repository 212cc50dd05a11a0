package xunfei

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/convert"
	"oneapi/relay/adaptor/sse"
)

// DecodeStream reads the HTTP API's stream: OpenAI-like chunks with
// Spark's code, the last with usage, then [DONE]. A chunk with a non-zero
// code, or the end of the body before [DONE], cuts it short.
func (a *Adaptor) DecodeStream(req *adaptor.Request, resp *http.Response, send func(adaptor.Event) error) (adaptor.Usage, error) {
	defer resp.Body.Close()
	ch := channelOf(resp)
	br := sse.NewReader(resp.Body, convert.MaxEvent)
	defer br.Close()
	var (
		usage  adaptor.Usage
		stream *convert.Stream
		reason string
	)
	for {
		ev, err := br.Next()
		switch {
		case err == io.EOF:
			return usage, convert.Cut("end of body before [DONE]")
		case errors.Is(err, sse.ErrNotSSE):
			body, rerr := br.Body()
			if rerr != nil {
				return usage, convert.Truncated(adaptor.TransportError(rerr))
			}
			var r reply
			if json.Unmarshal(body, &r) == nil {
				if ue := r.failure(ch, http.StatusBadGateway); ue != nil {
					return usage, convert.Truncated(ue)
				}
			}
			return usage, convert.Truncated(convert.BadReply("Spark", body))
		case err != nil:
			return usage, convert.Truncated(adaptor.TransportError(err))
		}
		if len(ev.Data) == 0 {
			continue
		}
		if bytes.Equal(ev.Data, []byte("[DONE]")) {
			if stream == nil {
				return usage, convert.Cut("[DONE] before any answer")
			}
			br.Drain()
			if err := stream.Finish(finishReason(reason, stream.ToolCalls() > 0)); err != nil {
				return usage, err
			}
			return usage, stream.Usage(usage)
		}
		var r reply
		if err := json.Unmarshal(ev.Data, &r); err != nil {
			return usage, convert.BadEvent("Spark", err)
		}
		if ue := r.failure(ch, http.StatusBadGateway); ue != nil {
			return usage, convert.Truncated(ue)
		}
		if r.Usage != nil {
			usage = r.usage()
		}
		if stream == nil {
			stream = convert.NewStream(send, r.id(), req.Model)
		}
		if len(r.Choices) == 0 {
			continue
		}
		c := r.Choices[0]
		d := c.Delta
		d.Role = ""
		if err := stream.Delta(d); err != nil {
			return usage, err
		}
		if c.FinishReason != "" {
			reason = c.FinishReason
		}
	}
}
