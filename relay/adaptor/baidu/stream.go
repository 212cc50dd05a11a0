package baidu

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/convert"
	"oneapi/relay/adaptor/sse"
)

// DecodeStream reads a v1 stream: "data: {...}" events with the new text
// in result, the usage so far in usage, and is_end on the last one. A
// stream that ends without is_end, or an error_code event, is cut short.
func (a *Adaptor) DecodeStream(req *adaptor.Request, resp *http.Response, send func(adaptor.Event) error) (adaptor.Usage, error) {
	call, ok := v1(resp)
	if !ok {
		return a.v2.DecodeStream(req, resp, func(ev adaptor.Event) error {
			ev.Data = convert.WithObject(ev.Data, "chat.completion.chunk")
			return send(ev)
		})
	}
	defer resp.Body.Close()
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
			return usage, convert.Cut("end of body before is_end")
		case errors.Is(err, sse.ErrNotSSE):
			// A JSON body: Baidu's error answer to a stream request.
			body, rerr := br.Body()
			if rerr != nil {
				return usage, convert.Truncated(adaptor.TransportError(rerr))
			}
			var cr chatResponse
			if json.Unmarshal(body, &cr) == nil && cr.ErrorCode != 0 {
				return usage, convert.Truncated(a.apiError(call, http.StatusOK, resp.Header, cr.ErrorCode, cr.ErrorMsg))
			}
			return usage, convert.Truncated(convert.BadReply("Baidu", body))
		case err != nil:
			return usage, convert.Truncated(adaptor.TransportError(err))
		}
		if len(ev.Data) == 0 {
			continue
		}
		var cr chatResponse
		if err := json.Unmarshal(ev.Data, &cr); err != nil {
			return usage, convert.BadEvent("Baidu", err)
		}
		if cr.ErrorCode != 0 {
			return usage, convert.Truncated(a.apiError(call, 0, nil, cr.ErrorCode, cr.ErrorMsg))
		}
		if cr.Usage != nil {
			usage = cr.usage() // the total so far: the last one counts
		}
		if stream == nil {
			stream = convert.NewStream(send, "chatcmpl-"+idOr(cr.ID), req.Model)
		}
		if err := stream.Text(cr.Result); err != nil {
			return usage, err
		}
		if cr.IsEnd {
			if err := stream.Finish(finishReason(cr.FinishReason, cr.IsTruncated)); err != nil {
				return usage, err
			}
			br.Drain()
			return usage, stream.Usage(usage)
		}
	}
}
