package relay

import (
	"net/http"

	"oneapi/pricing"
	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/gemini"
	geminient "oneapi/relay/entrance/gemini"
	"oneapi/relay/tokenizer"
)

// geminiEmbedEntrance is Gemini's embedContent and batchEmbedContents:
// passed through to Gemini channels, converted to the embeddings mode for
// the others. Billed as embeddings: the gateway's count of the input.
type geminiEmbedEntrance struct {
	model string
	batch bool
}

var (
	geminiEmbedNative      = &gemini.NativeEmbed{}
	geminiBatchEmbedNative = &gemini.NativeEmbed{Batch: true}
)

func (e geminiEmbedEntrance) parse(body []byte, _ string) (*parsed, *apiError) {
	if e.model == "" {
		return nil, errNoModel
	}
	canonical, err := geminient.EmbeddingsBody(body, e.model, e.batch)
	if err != nil {
		return nil, badRequest("invalid_request_error", err.Error())
	}
	p, aerr := parseRequest(adaptor.ModeEmbeddings, canonical, "")
	if aerr != nil {
		return nil, aerr
	}
	p.native = body
	return p, nil
}

func (geminiEmbedEntrance) key(r *http.Request) string { return geminiKey(r) }

func (geminiEmbedEntrance) writeError(w http.ResponseWriter, rid string, e *apiError) {
	writeGeminiError(w, rid, e)
}

func (e geminiEmbedEntrance) native(channelType int) adaptor.Adaptor {
	switch {
	case channelType != adaptor.TypeGemini:
		return nil
	case e.batch:
		return geminiBatchEmbedNative
	}
	return geminiEmbedNative
}

// nativeBody keeps the client's body; a batch's inner model names follow
// the channel's model mapping.
func (e geminiEmbedEntrance) nativeBody(p *parsed, model, _ string, _ int) ([]byte, error) {
	if !e.batch || model == p.model {
		return p.native, nil
	}
	return geminient.WithModel(p.native, model)
}

func (e geminiEmbedEntrance) encodeReply(_ *parsed, reply []byte, _ pricing.Usage) ([]byte, error) {
	return geminient.FromEmbeddings(reply, e.batch)
}

func (geminiEmbedEntrance) newStream(*parsed, string, bool) streamEncoder { return nil }

// geminiCountTokens serves :countTokens with the gateway's own count of
// the prompt (nothing goes upstream, nothing is billed). The body is a
// request's contents, or {"generateContentRequest": {...}}.
func (s *Server) geminiCountTokens(w http.ResponseWriter, r *http.Request, rid, model string) {
	c, aerr := s.authenticateKey(r, geminiKey(r))
	if aerr != nil {
		writeGeminiError(w, rid, aerr)
		return
	}
	body, aerr := s.readBody(w, r)
	if aerr != nil {
		writeGeminiError(w, rid, aerr)
		return
	}
	chat, err := geminient.CountBody(body, model)
	if err != nil {
		writeGeminiError(w, rid, badRequest("invalid_request_error", err.Error()))
		return
	}
	if !c.modelAllowed(model) {
		writeGeminiError(w, rid, modelNotAllowed(model))
		return
	}
	if !s.state.Routes().Serves(c.user.Group, model) {
		writeGeminiError(w, rid, modelNotFound(model))
		return
	}
	ctx, cancel := s.withTimeout(r.Context())
	defer cancel()
	n, err := tokenizer.CountChatRequest(ctx, chat)
	if err != nil {
		writeGeminiError(w, rid, clientGone(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"totalTokens": n})
}
