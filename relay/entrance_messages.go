package relay

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"oneapi/pricing"
	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/anthropic"
	"oneapi/relay/entrance/messages"
	"oneapi/relay/oai"
	"oneapi/relay/tokenizer"
)

// messagesEntrance is Anthropic's Messages API: POST /v1/messages, for
// Claude Code and the Anthropic SDKs. Anthropic channels are passed the
// request untouched; every other channel gets it converted to the
// canonical chat request, and its reply converted back
// (relay/entrance/messages).
type messagesEntrance struct{}

var anthropicNative = anthropic.NewNative()

func (messagesEntrance) parse(body []byte, _ string) (*parsed, *apiError) {
	req, err := messages.Parse(body, false)
	if err != nil {
		return nil, badRequest("invalid_request_error", err.Error())
	}
	chat, err := messages.ToChat(req)
	if err != nil {
		return nil, badRequest("invalid_request_error", err.Error())
	}
	canonical, err := json.Marshal(chat)
	if err != nil {
		return nil, errInternal
	}
	return &parsed{mode: adaptor.ModeChat, body: canonical, native: body, chat: chat, model: req.Model,
		stream: req.Stream, maxOutput: req.MaxTokens, choices: 1}, nil
}

// key: Anthropic's SDKs send x-api-key; Claude Code with
// ANTHROPIC_AUTH_TOKEN sends Authorization: Bearer.
func (messagesEntrance) key(r *http.Request) string { return headerKey(r) }

func (messagesEntrance) writeError(w http.ResponseWriter, rid string, e *apiError) {
	metricRefused.WithLabelValues(strconv.Itoa(e.Status)).Inc()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("request-id", rid)
	w.WriteHeader(e.Status)
	_, _ = w.Write(messages.ErrorBody(anthropicErrorType(e), e.Message+" (request id: "+rid+")", rid))
}

// anthropicErrorType names a refusal in Anthropic's terms.
func anthropicErrorType(e *apiError) string {
	switch {
	case e.Type == "insufficient_quota":
		return "billing_error"
	case strings.HasSuffix(e.Code, "_error") && e.Code != "upstream_error":
		return e.Code // an Anthropic upstream's own type (overloaded_error ...)
	}
	return messages.ErrorType(e.Status)
}

func (messagesEntrance) native(channelType int) adaptor.Adaptor {
	if channelType == adaptor.TypeAnthropic {
		return anthropicNative
	}
	return nil
}

// nativeBody applies the channel's model mapping, its system prompt (which
// replaces the client's, as for chat) and the reservation's output limit
// to the client's own body.
func (messagesEntrance) nativeBody(p *parsed, model, systemPrompt string, maxOut int) ([]byte, error) {
	if model == p.model && systemPrompt == "" && (maxOut <= 0 || maxOut >= p.maxOutput) {
		return p.native, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(p.native, &m); err != nil {
		return nil, err
	}
	m["model"], _ = json.Marshal(model)
	if systemPrompt != "" {
		m["system"], _ = json.Marshal(systemPrompt)
	}
	if maxOut > 0 && maxOut < p.maxOutput {
		m["max_tokens"], _ = json.Marshal(maxOut)
	}
	return json.Marshal(m)
}

func (messagesEntrance) encodeReply(p *parsed, reply []byte, u pricing.Usage) ([]byte, error) {
	return messages.FromChat(reply, "", p.model, u)
}

func (messagesEntrance) newStream(p *parsed, rid string, passthrough bool) streamEncoder {
	if passthrough {
		return messagesPassthrough{rid}
	}
	return &messagesStream{s: messages.NewStream("msg_"+rid, p.model, p.promptTokens), rid: rid}
}

// messagesStream converts an OpenAI chat stream to Anthropic's events.
type messagesStream struct {
	s   *messages.Stream
	rid string
}

func (m *messagesStream) event(ev adaptor.Event, emit func(name, data []byte)) {
	m.s.Chunk(ev.Data, emit)
}

func (m *messagesStream) end(u pricing.Usage, emit func(name, data []byte)) { m.s.End(u, emit) }

func (m *messagesStream) fail(msg, code string, emit func(name, data []byte)) {
	m.s.Fail(streamErrorType(code), msg, m.rid, emit)
}

// messagesPassthrough sends an Anthropic channel's events as they came;
// only a break-off is the gateway's to tell.
type messagesPassthrough struct{ rid string }

func (messagesPassthrough) event(ev adaptor.Event, emit func(name, data []byte)) {
	emit(ev.Name, ev.Data)
}

func (messagesPassthrough) end(pricing.Usage, func(name, data []byte)) {}

func (m messagesPassthrough) fail(msg, code string, emit func(name, data []byte)) {
	emit([]byte("error"), messages.ErrorBody(streamErrorType(code), msg, m.rid))
}

func streamErrorType(code string) string {
	if strings.HasSuffix(code, "_error") && code != "upstream_error" {
		return code
	}
	return "api_error"
}

// countTokens serves POST /v1/messages/count_tokens with the gateway's own
// count of the prompt (nothing goes upstream, nothing is billed).
func (s *Server) countTokens(w http.ResponseWriter, r *http.Request, rid string) {
	ent := messagesEntrance{}
	c, aerr := s.authenticateKey(r, ent.key(r))
	if aerr != nil {
		ent.writeError(w, rid, aerr)
		return
	}
	body, aerr := s.readBody(w, r)
	if aerr != nil {
		ent.writeError(w, rid, aerr)
		return
	}
	req, err := messages.Parse(body, true)
	var chat *oai.ChatRequest
	if err == nil {
		chat, err = messages.ToChat(req)
	}
	if err != nil {
		ent.writeError(w, rid, badRequest("invalid_request_error", err.Error()))
		return
	}
	if !c.modelAllowed(req.Model) {
		ent.writeError(w, rid, modelNotAllowed(req.Model))
		return
	}
	if !s.state.Routes().Serves(c.user.Group, req.Model) {
		ent.writeError(w, rid, modelNotFound(req.Model))
		return
	}
	ctx, cancel := s.withTimeout(r.Context())
	defer cancel()
	n, err := tokenizer.CountChatRequest(ctx, chat)
	if err != nil {
		ent.writeError(w, rid, clientGone(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"input_tokens": n})
}

// anthropicModels answers GET /v1/models (and /v1/models/{id}) in
// Anthropic's shape, for clients that send anthropic-version.
func (s *Server) anthropicModels(w http.ResponseWriter, r *http.Request, rid, id string) {
	ent := messagesEntrance{}
	c, aerr := s.authenticateKey(r, ent.key(r))
	if aerr != nil {
		ent.writeError(w, rid, aerr)
		return
	}
	created := time.Unix(startTime, 0).UTC().Format(time.RFC3339)
	entry := func(m string) map[string]string {
		return map[string]string{"type": "model", "id": m, "display_name": m, "created_at": created}
	}
	routes := s.state.Routes()
	if id != "" {
		if !c.modelAllowed(id) || !routes.Serves(c.user.Group, id) {
			ent.writeError(w, rid, modelNotFound(id))
			return
		}
		writeJSON(w, http.StatusOK, entry(id))
		return
	}
	data := []map[string]string{}
	for _, m := range routes.Models(c.user.Group) {
		if c.modelAllowed(m) {
			data = append(data, entry(m))
		}
	}
	list := map[string]any{"data": data, "has_more": false, "first_id": nil, "last_id": nil}
	if len(data) > 0 {
		list["first_id"], list["last_id"] = data[0]["id"], data[len(data)-1]["id"]
	}
	writeJSON(w, http.StatusOK, list)
}
