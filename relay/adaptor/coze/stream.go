package coze

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/convert"
	"oneapi/relay/adaptor/sse"
	"oneapi/relay/oai"
)

type chat struct {
	ID        string `json:"id"`
	Status    string `json:"status"`
	LastError *struct {
		Code int    `json:"code"`
		Msg  string `json:"msg"`
	} `json:"last_error"`
	Usage *struct {
		TokenCount  int `json:"token_count"`
		OutputCount int `json:"output_count"`
		InputCount  int `json:"input_count"`
	} `json:"usage"`
}

type eventMessage struct {
	ChatID           string `json:"chat_id"`
	Role             string `json:"role"`
	Type             string `json:"type"`
	Content          string `json:"content"`
	ReasoningContent string `json:"reasoning_content"`
}

type apiErr struct {
	Code int    `json:"code"`
	Msg  string `json:"msg"`
}

func deltaOf(text, reasoning string) oai.Delta {
	return oai.Delta{Content: text, ReasoningContent: reasoning}
}

// decode reads /v3/chat's events: the answer's conversation.message.delta
// events go to onDelta; conversation.chat.completed carries the usage and
// ends the chat; conversation.chat.failed, an error event, or an error
// object instead of a stream fail it. Other events (the chat's progress,
// completed messages that repeat the deltas, follow-up suggestions,
// verbose and tool messages) are skipped. The end of the body before the
// chat completed cuts it short.
func decode(resp *http.Response, onDelta func(chatID, text, reasoning string) error) (adaptor.Usage, error) {
	defer resp.Body.Close()
	key := keyOf(resp)
	br := sse.NewReader(resp.Body, convert.MaxEvent)
	defer br.Close()
	var usage adaptor.Usage
	completed := false
	for {
		ev, err := br.Next()
		switch {
		case err == io.EOF:
			if completed {
				return usage, nil
			}
			return usage, convert.Cut("end of body before conversation.chat.completed")
		case errors.Is(err, sse.ErrNotSSE):
			body, rerr := br.Body()
			if rerr != nil {
				return usage, convert.Truncated(adaptor.TransportError(rerr))
			}
			var e apiErr
			if json.Unmarshal(body, &e) == nil && e.Code != 0 {
				return usage, convert.Truncated(apiError(http.StatusBadGateway, nil, e.Code, e.Msg, key))
			}
			return usage, convert.Truncated(convert.BadReply("Coze", body))
		case err != nil:
			return usage, convert.Truncated(adaptor.TransportError(err))
		}
		switch string(ev.Name) {
		case "conversation.message.delta":
			var m eventMessage
			if err := json.Unmarshal(ev.Data, &m); err != nil {
				return usage, convert.BadEvent("Coze", err)
			}
			if m.Type == "answer" && (m.Content != "" || m.ReasoningContent != "") {
				if err := onDelta(m.ChatID, m.Content, m.ReasoningContent); err != nil {
					return usage, err
				}
			}
		case "conversation.chat.completed":
			var c chat
			if err := json.Unmarshal(ev.Data, &c); err != nil {
				return usage, convert.BadEvent("Coze", err)
			}
			if c.Usage != nil {
				usage = convert.Tokens(c.Usage.InputCount, c.Usage.OutputCount)
			}
			completed = true
		case "conversation.chat.failed":
			var c chat
			if err := json.Unmarshal(ev.Data, &c); err != nil {
				return usage, convert.BadEvent("Coze", err)
			}
			if c.Usage != nil {
				usage = convert.Tokens(c.Usage.InputCount, c.Usage.OutputCount)
			}
			code, msg := 0, "the Coze chat failed"
			if c.LastError != nil {
				code, msg = c.LastError.Code, c.LastError.Msg
			}
			return usage, convert.Truncated(apiError(http.StatusBadGateway, nil, code, msg, key))
		case "conversation.chat.requires_action":
			// The bot waits for a local plugin's output, which the gateway
			// has no way to give: the bot's setup does not suit this API.
			return usage, convert.Truncated(convert.ClientError("the Coze bot asked for tool outputs (requires_action), which the OpenAI API cannot send it"))
		case "error":
			var e apiErr
			_ = json.Unmarshal(ev.Data, &e)
			return usage, convert.Truncated(apiError(http.StatusBadGateway, nil, e.Code, e.Msg, key))
		case "done":
			if !completed {
				return usage, convert.Cut("done before conversation.chat.completed")
			}
			br.Drain()
			return usage, nil
		}
	}
}

// DecodeError reads a non-2xx reply: {"code","msg"} or a gateway's text.
func (a *Adaptor) DecodeError(resp *http.Response) *adaptor.UpstreamError {
	key := keyOf(resp)
	body := convert.ReadError(resp)
	var e apiErr
	if json.Unmarshal(body, &e) == nil && (e.Code != 0 || e.Msg != "") {
		return apiError(resp.StatusCode, resp.Header, e.Code, e.Msg, key)
	}
	return convert.Error(resp.StatusCode, resp.Header, "coze_error", "", adaptor.PlainErrorText(body, resp.Header.Get("Content-Type")),
		convert.StatusClass(resp.StatusCode), key)
}

// apiError classifies by Coze's error code, else by the status; never by
// the message, which may echo the client.
func apiError(status int, header http.Header, code int, msg, key string) *adaptor.UpstreamError {
	class := convert.StatusClass(status)
	switch code {
	case 4100, 4101, 700012006: // token invalid; no permission; access token invalid
		class, status = adaptor.ClassDisable, http.StatusUnauthorized
	case 4028: // the account's free quota is used up
		class, status = adaptor.ClassDisable, http.StatusPaymentRequired
	case 4013: // rate limited
		class, status = adaptor.ClassRetry, http.StatusTooManyRequests
	case 4000, 4200, 4015: // bad parameter; no such bot; bot not published to the API
		class, status = adaptor.ClassClient, http.StatusBadRequest
	}
	codeText := ""
	if code != 0 {
		codeText = strconv.Itoa(code)
	}
	return convert.Error(status, header, "coze_error", codeText, msg, class, key)
}
