package ali

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/convert"
	"oneapi/relay/adaptor/sse"
	"oneapi/relay/oai"
)

// DecodeStream reads DashScope's SSE (X-DashScope-SSE, incremental_output):
// "event:result" events each with the new content or tool-call pieces and
// the usage so far; the last one has a finish_reason other than "null".
// An "event:error" event, or the end of the body before a finish, is cut
// short.
func (a *Adaptor) DecodeStream(req *adaptor.Request, resp *http.Response, send func(adaptor.Event) error) (adaptor.Usage, error) {
	defer resp.Body.Close()
	c := callOf(resp)
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
			return usage, convert.Cut("end of body before a finish_reason")
		case errors.Is(err, sse.ErrNotSSE):
			body, rerr := br.Body()
			if rerr != nil {
				return usage, convert.Truncated(adaptor.TransportError(rerr))
			}
			var cr chatResponse
			if json.Unmarshal(body, &cr) == nil && cr.Code != "" {
				return usage, convert.Truncated(apiError(http.StatusBadGateway, nil, cr.Code, cr.Message, c.ch.Key))
			}
			return usage, convert.Truncated(convert.BadReply("DashScope", body))
		case err != nil:
			return usage, convert.Truncated(adaptor.TransportError(err))
		}
		if len(ev.Data) == 0 {
			continue
		}
		var cr chatResponse
		if err := json.Unmarshal(ev.Data, &cr); err != nil {
			return usage, convert.BadEvent("DashScope", err)
		}
		if string(ev.Name) == "error" || cr.Code != "" {
			return usage, convert.Truncated(apiError(http.StatusBadGateway, nil, cr.Code, cr.Message, c.ch.Key))
		}
		if cr.Usage != nil {
			usage = cr.Usage.toUsage()
		}
		if stream == nil {
			stream = convert.NewStream(send, "chatcmpl-"+idOr(cr.RequestID), req.Model)
		}
		if len(cr.Output.Choices) == 0 {
			continue
		}
		choice := cr.Output.Choices[0]
		text, err := choice.Message.text()
		if err != nil {
			return usage, convert.BadEvent("DashScope", err)
		}
		d := oai.Delta{Content: text, ReasoningContent: choice.Message.ReasoningContent, ToolCalls: choice.Message.ToolCalls}
		if err := stream.Delta(d); err != nil {
			return usage, err
		}
		if r := choice.FinishReason; r != "" && r != "null" {
			if err := stream.Finish(finishReason(r, stream.ToolCalls() > 0)); err != nil {
				return usage, err
			}
			br.Drain()
			return usage, stream.Usage(usage)
		}
	}
}
