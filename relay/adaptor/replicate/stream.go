package replicate

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/convert"
	"oneapi/relay/adaptor/sse"
)

// DecodeStream reads a prediction's stream: "output" events carry text,
// "error" one ends it in failure, "done" ends it ({"reason":"canceled"}
// or "error" when it did not succeed). After done, the prediction is
// fetched for its token counts; if that fails, usage is left to the relay.
func (a *Adaptor) DecodeStream(req *adaptor.Request, resp *http.Response, send func(adaptor.Event) error) (adaptor.Usage, error) {
	defer resp.Body.Close()
	c := callOf(resp)
	br := sse.NewReader(resp.Body, convert.MaxEvent)
	defer br.Close()
	id := convert.ID()
	if c.pred != nil {
		id = c.pred.ID
	}
	stream := convert.NewStream(send, "chatcmpl-"+id, req.Model)
	for {
		ev, err := br.Next()
		switch {
		case err == io.EOF:
			return adaptor.Usage{}, convert.Cut("end of body before the done event")
		case errors.Is(err, sse.ErrNotSSE):
			body, _ := br.Body()
			return adaptor.Usage{}, convert.Truncated(convert.BadReply("Replicate", body))
		case err != nil:
			return adaptor.Usage{}, convert.Truncated(adaptor.TransportError(err))
		}
		switch string(ev.Name) {
		case "output":
			if err := stream.Text(string(ev.Data)); err != nil {
				return adaptor.Usage{}, err
			}
		case "error":
			var e struct {
				Detail string `json:"detail"`
			}
			msg := "the Replicate prediction failed"
			if json.Unmarshal(ev.Data, &e) == nil && e.Detail != "" {
				msg += ": " + e.Detail
			}
			return adaptor.Usage{}, convert.Truncated(convert.Error(http.StatusBadGateway, nil, "replicate_error", "prediction_failed", msg, adaptor.ClassRetry, c.ch.Key))
		case "done":
			var d struct {
				Reason string `json:"reason"`
			}
			_ = json.Unmarshal(ev.Data, &d)
			if d.Reason != "" {
				return adaptor.Usage{}, convert.Truncated(convert.Error(http.StatusBadGateway, nil, "replicate_error", "prediction_"+d.Reason,
					"the Replicate prediction ended: "+d.Reason, adaptor.ClassRetry, c.ch.Key))
			}
			br.Drain()
			usage := a.finalUsage(resp, c)
			if err := stream.Finish("stop"); err != nil {
				return usage, err
			}
			return usage, stream.Usage(usage)
		}
	}
}

// finalUsageWait bounds how long a finished stream waits for its
// prediction's token counts.
const finalUsageWait = 15 * time.Second

// finalUsage fetches the finished prediction's token counts.
func (a *Adaptor) finalUsage(resp *http.Response, c *call) adaptor.Usage {
	if c.pred == nil || resp.Request == nil {
		return adaptor.Usage{}
	}
	// The stream ends as the prediction does; its record may take a moment
	// more to say so.
	ctx, cancel := context.WithTimeout(resp.Request.Context(), finalUsageWait)
	defer cancel()
	p, err := a.get(ctx, c, c.pred.URLs.Get)
	if err == nil && !p.done() {
		err = a.wait(ctx, c, p)
	}
	if err != nil {
		return adaptor.Usage{}
	}
	return p.usage()
}

// DecodeError reads Replicate's problem details ({"title","detail",
// "status"}) and classifies by status: 401 (bad token) and 402 (no credit)
// disable the channel, 404 and 422 are the client's, 429 and 5xx retry.
func (a *Adaptor) DecodeError(resp *http.Response) *adaptor.UpstreamError {
	body := convert.ReadError(resp)
	var e struct {
		Title  string `json:"title"`
		Detail string `json:"detail"`
	}
	msg := adaptor.PlainErrorText(body, resp.Header.Get("Content-Type"))
	if json.Unmarshal(body, &e) == nil && (e.Title != "" || e.Detail != "") {
		msg = e.Title
		if e.Detail != "" {
			if msg != "" {
				msg += ": "
			}
			msg += e.Detail
		}
	}
	return convert.Error(resp.StatusCode, resp.Header, "replicate_error", "", msg, convert.StatusClass(resp.StatusCode), callOf(resp).ch.Key)
}
