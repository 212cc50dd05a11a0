package tencent

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/convert"
	"oneapi/relay/adaptor/sse"
)

// DecodeStream reads ChatCompletions' SSE: each event a response (no
// envelope) with the new Delta and the usage so far; the last one has a
// FinishReason. A stream refused outright comes as a JSON body with an
// Error; one that ends before a FinishReason is cut short.
func (a *Adaptor) DecodeStream(req *adaptor.Request, resp *http.Response, send func(adaptor.Event) error) (adaptor.Usage, error) {
	defer resp.Body.Close()
	ch := channelOf(resp)
	br := sse.NewReader(resp.Body, convert.MaxEvent)
	defer br.Close()
	var (
		usage  adaptor.Usage
		stream *convert.Stream
	)
	for {
		ev, err := br.Next()
		switch {
		case err == io.EOF:
			return usage, convert.Cut("end of body before a FinishReason")
		case errors.Is(err, sse.ErrNotSSE):
			body, rerr := br.Body()
			if rerr != nil {
				return usage, convert.Truncated(adaptor.TransportError(rerr))
			}
			var env struct {
				Response *response `json:"Response"`
			}
			if json.Unmarshal(body, &env) == nil && env.Response != nil && env.Response.Error != nil {
				return usage, convert.Truncated(apiError(env.Response.Error, ch))
			}
			return usage, convert.Truncated(convert.BadReply("Hunyuan", body))
		case err != nil:
			return usage, convert.Truncated(adaptor.TransportError(err))
		}
		if len(ev.Data) == 0 {
			continue
		}
		var r response
		if err := json.Unmarshal(ev.Data, &r); err != nil {
			return usage, convert.BadEvent("Hunyuan", err)
		}
		if r.Error != nil {
			return usage, convert.Truncated(apiError(r.Error, ch))
		}
		if r.ErrorMsg != nil && r.ErrorMsg.Code != 0 {
			return usage, convert.Truncated(convert.Error(http.StatusBadGateway, nil, "tencent_error", strconv.Itoa(r.ErrorMsg.Code), r.ErrorMsg.Msg, adaptor.ClassRetry, secrets(ch)...))
		}
		if r.Usage != nil {
			usage = r.Usage.toUsage()
		}
		if stream == nil {
			stream = convert.NewStream(send, "chatcmpl-"+idOr(r.ID), req.Model)
		}
		if len(r.Choices) == 0 {
			continue
		}
		c := r.Choices[0]
		if err := stream.Delta(c.Delta.delta()); err != nil {
			return usage, err
		}
		if c.FinishReason != "" {
			if err := stream.Finish(finishReason(c.FinishReason, stream.ToolCalls() > 0)); err != nil {
				return usage, err
			}
			br.Drain()
			return usage, stream.Usage(usage)
		}
	}
}
