// Package coze is the adaptor for Coze (type 34) bot channels on Coze's v3
// chat API (/v3/chat), which reports each chat's token usage: the model
// name is the bot, "bot-<bot id>" as One API names it (or the bare id);
// the key is a Coze personal access token; config "user_id" is the Coze
// user the chats run as, as in One API (else the request's user, else
// "oneapi"). The conversation is sent whole as additional_messages and not
// saved on Coze. A non-stream request is streamed from Coze and gathered,
// since v3's non-stream mode only starts a chat. Importing the package
// registers it for adaptor.TypeCoze.
package coze

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/convert"
)

func init() {
	adaptor.Register(New(), adaptor.TypeCoze)
}

// Adaptor is the Coze adaptor.
type Adaptor struct{}

var _ adaptor.Adaptor = (*Adaptor)(nil)

// New returns the adaptor.
func New() *Adaptor { return &Adaptor{} }

type chatRequest struct {
	BotID              string    `json:"bot_id"`
	UserID             string    `json:"user_id"`
	Stream             bool      `json:"stream"`
	AutoSaveHistory    bool      `json:"auto_save_history"`
	AdditionalMessages []message `json:"additional_messages"`
}

type message struct {
	Role        string `json:"role"`
	Type        string `json:"type,omitempty"`
	Content     string `json:"content"`
	ContentType string `json:"content_type"`
}

type callKey struct{}

// NewRequest builds the /v3/chat call, always streamed.
func (a *Adaptor) NewRequest(ctx context.Context, ch *adaptor.Channel, req *adaptor.Request) (*http.Request, error) {
	if req.Mode != adaptor.ModeChat {
		return nil, convert.Unsupported("Coze", req.Mode)
	}
	cr, err := convert.ChatRequest(req.Body)
	if err != nil {
		return nil, err
	}
	if err := convert.NoTools(cr, "Coze"); err != nil {
		return nil, err
	}
	bot := strings.TrimPrefix(req.Model, "bot-")
	if bot == "" {
		return nil, convert.ClientError(`the model must name a Coze bot: "bot-<bot id>"`)
	}
	user := strings.TrimSpace(ch.Config["user_id"])
	if user == "" {
		user = cr.User
	}
	if user == "" {
		user = "oneapi"
	}
	out := chatRequest{BotID: bot, UserID: user, Stream: true}
	for i := range cr.Messages {
		m := &cr.Messages[i]
		text, err := convert.Text(m, "Coze")
		if err != nil {
			return nil, err
		}
		switch m.Role {
		case "assistant":
			out.AdditionalMessages = append(out.AdditionalMessages, message{Role: "assistant", Type: "answer", Content: text, ContentType: "text"})
		case "user", "system", "developer":
			// Coze takes user and assistant messages; a system prompt goes in as the user's words (the bot has its own persona).
			out.AdditionalMessages = append(out.AdditionalMessages, message{Role: "user", Type: "question", Content: text, ContentType: "text"})
		default:
			return nil, convert.ClientError("Coze takes user, assistant and system messages, not %q", m.Role)
		}
	}
	base, err := convert.BaseURL(ch)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("encode Coze request: %w", err)
	}
	ctx = context.WithValue(ctx, callKey{}, ch)
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, base.String()+"/v3/chat", bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("build upstream request: %w", err)
	}
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Accept", "text/event-stream")
	r.Header.Set("Authorization", "Bearer "+ch.Key)
	return r, nil
}

func keyOf(resp *http.Response) string {
	if resp != nil && resp.Request != nil {
		if ch, ok := resp.Request.Context().Value(callKey{}).(*adaptor.Channel); ok {
			return ch.Key
		}
	}
	return ""
}

// DecodeResponse gathers the streamed answer into one chat.completion.
func (a *Adaptor) DecodeResponse(req *adaptor.Request, resp *http.Response) ([]byte, adaptor.Usage, error) {
	resp.Header.Set("Content-Type", "application/json") // what the client gets, not Coze's event stream
	var text, reasoning strings.Builder
	var id string
	usage, err := decode(resp, func(chatID, t, r string) error {
		id = chatID
		text.WriteString(t)
		reasoning.WriteString(r)
		return nil
	})
	if err != nil {
		return nil, usage, err
	}
	msg := convert.TextMessage(text.String())
	msg.ReasoningContent = reasoning.String()
	if id == "" {
		id = convert.ID()
	}
	out, err := convert.Reply("chatcmpl-"+id, req.Model, msg, "stop", usage)
	return out, usage, err
}

// DecodeStream passes the answer's deltas on.
func (a *Adaptor) DecodeStream(req *adaptor.Request, resp *http.Response, send func(adaptor.Event) error) (adaptor.Usage, error) {
	var stream *convert.Stream
	usage, err := decode(resp, func(chatID, t, r string) error {
		if stream == nil {
			stream = convert.NewStream(send, "chatcmpl-"+chatID, req.Model)
		}
		return stream.Delta(deltaOf(t, r))
	})
	if err != nil {
		return usage, err
	}
	if stream == nil {
		stream = convert.NewStream(send, "chatcmpl-"+convert.ID(), req.Model)
	}
	if err := stream.Finish("stop"); err != nil {
		return usage, err
	}
	return usage, stream.Usage(usage)
}
