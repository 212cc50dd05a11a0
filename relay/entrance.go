package relay

import (
	"encoding/json"
	"net/http"
	"strings"
	"unicode"

	"oneapi/pricing"
	"oneapi/relay/adaptor"
)

// An entrance is the protocol a client speaks to the gateway: OpenAI's
// (chat, completions, embeddings ..., Responses), Anthropic's Messages or
// Gemini's generateContent. The entrance parses its protocol's request
// into the canonical one (the OpenAI chat request: every adaptor serves
// it), finds the key where its clients send it, and speaks its protocol
// back: replies, stream events and errors. Between the entrance and the
// adaptor the relay is one: auth → route → reserve → adaptor → settle
// (relay.go).
//
// Where the channel speaks the entrance's own protocol (Messages to an
// Anthropic channel) the request goes through untouched: native returns
// the adaptor that passes it on, and the reply comes back as it was.
type entrance interface {
	// parse validates the body and makes the canonical request of it.
	parse(body []byte, contentType string) (*parsed, *apiError)
	// key is the issued key the request carries, "" when none.
	key(r *http.Request) string
	// writeError answers a refusal in the entrance's error shape.
	writeError(w http.ResponseWriter, rid string, e *apiError)
	// native is the passthrough adaptor for a channel type that speaks the
	// entrance's protocol, nil when the request must be converted.
	native(channelType int) adaptor.Adaptor
	// nativeBody is the body a native adaptor sends: the client's, with
	// the channel's model mapping, system prompt and the output limit the
	// reservation pays for (maxOut > 0) applied.
	nativeBody(p *parsed, model, systemPrompt string, maxOut int) ([]byte, error)
	// encodeReply turns a converted non-stream reply (OpenAI format) into
	// the entrance's; u is what the request is billed for.
	encodeReply(p *parsed, reply []byte, u pricing.Usage) ([]byte, error)
	// newStream returns the encoder of one stream's events; passthrough
	// says the events come from a native adaptor, already in the
	// entrance's protocol.
	newStream(p *parsed, rid string, passthrough bool) streamEncoder
}

// streamEncoder writes one stream's events in the entrance's protocol. It
// runs under the stream writer's lock; emit appends one event.
type streamEncoder interface {
	// event converts one event of the adaptor (OpenAI chunks, or native
	// events on a passthrough).
	event(ev adaptor.Event, emit func(name, data []byte))
	// end closes a stream that ended normally, with the usage billed.
	end(u pricing.Usage, emit func(name, data []byte))
	// fail ends a stream that broke off with an error event.
	fail(msg, code string, emit func(name, data []byte))
}

// openAIEntrance is /v1 in OpenAI's protocol: the adaptors already speak
// it, so replies pass as they are.
type openAIEntrance struct {
	mode adaptor.Mode
	// pathModel is the model named in the URL (/v1/engines/{model}/embeddings),
	// used when the body names none.
	pathModel string
}

func (e openAIEntrance) parse(body []byte, contentType string) (*parsed, *apiError) {
	if e.pathModel != "" {
		var m struct {
			Model string `json:"model"`
		}
		if json.Unmarshal(body, &m) == nil && m.Model == "" {
			body = setJSONField(body, "model", e.pathModel)
		}
	}
	return parseRequest(e.mode, body, contentType)
}

func (openAIEntrance) key(r *http.Request) string { return headerKey(r) }

func (openAIEntrance) writeError(w http.ResponseWriter, rid string, e *apiError) {
	writeError(w, rid, e)
}

func (openAIEntrance) native(int) adaptor.Adaptor { return nil }

func (openAIEntrance) nativeBody(p *parsed, _, _ string, _ int) ([]byte, error) { return p.body, nil }

func (openAIEntrance) encodeReply(_ *parsed, reply []byte, _ pricing.Usage) ([]byte, error) {
	return reply, nil
}

func (openAIEntrance) newStream(*parsed, string, bool) streamEncoder { return nil }

// headerKey finds the key in the headers the SDKs send it in:
// Authorization: Bearer (OpenAI and most), x-api-key (Anthropic's),
// x-goog-api-key (Google's). A key in the URL is taken only by the Gemini
// entrance, whose clients put it there.
func headerKey(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		h = h[7:]
	}
	if h = strings.TrimSpace(h); h != "" {
		return h
	}
	if k := strings.TrimSpace(r.Header.Get("x-api-key")); k != "" {
		return k
	}
	return strings.TrimSpace(r.Header.Get("x-goog-api-key"))
}

// clientSessionNote is the log row's note of the client's session, for the
// coding agents that name theirs (Claude Code's X-Claude-Code-Session-Id):
// an operator can then find one session's requests. The id is the
// client's, so it is bounded and kept to printable characters.
func clientSessionNote(r *http.Request) string {
	id := r.Header.Get("X-Claude-Code-Session-Id")
	if id == "" {
		return ""
	}
	if len(id) > 128 {
		id = id[:128]
	}
	id = strings.Map(func(c rune) rune {
		if c > unicode.MaxASCII || !unicode.IsPrint(c) {
			return -1
		}
		return c
	}, id)
	return "claude-code session " + id
}
