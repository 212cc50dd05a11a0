package anthropic

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"oneapi/relay/adaptor"
)

// maxResponseSize bounds a non-stream reply held in memory. The largest
// output Claude models produce is well under a megabyte of text.
const maxResponseSize = 32 << 20

// DecodeResponse converts a 2xx Messages API reply to an OpenAI
// chat.completion.
func (a *Adaptor) DecodeResponse(req *adaptor.Request, resp *http.Response) ([]byte, adaptor.Usage, error) {
	defer resp.Body.Close()
	body, err := adaptor.ReadBody(resp, maxResponseSize)
	if err != nil {
		if errors.Is(err, adaptor.ErrBodyTooLarge) {
			// As the openai adaptor: another channel would answer as much.
			return nil, adaptor.Usage{}, &adaptor.UpstreamError{Status: http.StatusBadGateway, Message: "upstream reply too large", Type: "upstream_error", Class: adaptor.ClassClient, Err: err}
		}
		return nil, adaptor.Usage{}, adaptor.TransportError(err)
	}
	var m messagesResponse
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, adaptor.Usage{}, &adaptor.UpstreamError{
			Status: http.StatusBadGateway, Type: "upstream_error", Class: adaptor.ClassRetry, Err: err,
			Message: "upstream reply is not an Anthropic message: " + adaptor.Redact(adaptor.Snippet(body, 200), requestKey(resp)),
		}
	}
	if m.Type == "error" && m.Error != nil {
		return nil, adaptor.Usage{}, newUpstreamError(statusForErrorType(m.Error.Type), m.Error.Type, adaptor.Redact(m.Error.Message, requestKey(resp)))
	}
	if m.Model == "" && req != nil {
		m.Model = req.Model
	}
	out, err := json.Marshal(fromAnthropicResponse(&m, a.now().Unix()))
	if err != nil {
		return nil, adaptor.Usage{}, fmt.Errorf("encode chat completion: %w", err)
	}
	var u adaptor.Usage
	if m.Usage != nil {
		u = m.Usage.toUsage()
	}
	return out, u, nil
}
