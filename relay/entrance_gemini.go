package relay

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"oneapi/pricing"
	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/gemini"
	geminient "oneapi/relay/entrance/gemini"
)

// geminiEntrance is Google's Generative Language API:
// POST /v1beta/models/{model}:generateContent and :streamGenerateContent,
// for Gemini CLI and Google's SDKs. Gemini channels are passed the request
// untouched; every other channel gets it converted to the canonical chat
// request, and its reply converted back (relay/entrance/gemini).
type geminiEntrance struct {
	model  string // from the URL: Gemini's body names none
	stream bool
	// sse: the client asked alt=sse; without it a stream is one JSON array.
	sse bool
}

var geminiNative = gemini.NewNative()

// serveGemini routes /v1beta/models/{model}:{method} (and its /v1 form).
func (s *Server) serveGemini(w http.ResponseWriter, r *http.Request, rid, rest string) {
	i := strings.LastIndexByte(rest, ':')
	model, method := rest[:i], rest[i+1:]
	ent := geminiEntrance{model: model}
	if r.Method != http.MethodPost {
		ent.writeError(w, rid, &apiError{http.StatusMethodNotAllowed, "invalid_request_error", "method_not_allowed", r.Method + " " + r.URL.Path + ": use POST"})
		return
	}
	switch method {
	case "generateContent":
		s.relay(w, r, rid, ent)
	case "streamGenerateContent":
		ent.stream, ent.sse = true, r.URL.Query().Get("alt") == "sse"
		s.relay(w, r, rid, ent)
	case "countTokens":
		s.geminiCountTokens(w, r, rid, model)
	case "embedContent", "batchEmbedContents":
		s.relay(w, r, rid, geminiEmbedEntrance{model: model, batch: method == "batchEmbedContents"})
	default:
		ent.writeError(w, rid, &apiError{http.StatusNotFound, "invalid_request_error", "unknown_url", "Method models." + method + " is not served by this gateway."})
	}
}

func (e geminiEntrance) parse(body []byte, _ string) (*parsed, *apiError) {
	if e.model == "" {
		return nil, errNoModel
	}
	req, err := geminient.Parse(body)
	if err != nil {
		return nil, badRequest("invalid_request_error", err.Error())
	}
	chat, err := geminient.ToChat(req, e.model, e.stream)
	if err != nil {
		return nil, badRequest("invalid_request_error", err.Error())
	}
	canonical, err := json.Marshal(chat)
	if err != nil {
		return nil, errInternal
	}
	maxOut := 0
	if req.GenerationConfig != nil {
		maxOut = req.GenerationConfig.MaxOutputTokens
	}
	return &parsed{mode: adaptor.ModeChat, body: canonical, native: body, chat: chat, model: e.model,
		stream: e.stream, maxOutput: maxOut, choices: 1}, nil
}

// key: Google's SDKs and Gemini CLI send x-goog-api-key; some clients put
// ?key= in the URL (which is why URLs are never logged).
func (geminiEntrance) key(r *http.Request) string { return geminiKey(r) }

func geminiKey(r *http.Request) string {
	if k := headerKey(r); k != "" {
		return k
	}
	return strings.TrimSpace(r.URL.Query().Get("key"))
}

func (geminiEntrance) writeError(w http.ResponseWriter, rid string, e *apiError) {
	writeGeminiError(w, rid, e)
}

// writeGeminiError answers a refusal in Google's error shape, with the
// statuses Gemini uses: a wrong key is 400 INVALID_ARGUMENT, an exhausted
// quota 429 RESOURCE_EXHAUSTED.
func writeGeminiError(w http.ResponseWriter, rid string, e *apiError) {
	metricRefused.WithLabelValues(strconv.Itoa(e.Status)).Inc()
	status, msg := e.Status, e.Message
	switch {
	case e.Code == "invalid_api_key":
		status, msg = http.StatusBadRequest, "API key not valid. Please pass a valid API key."
	case e.Type == "insufficient_quota":
		status = http.StatusTooManyRequests
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(geminient.ErrorBody(status, geminient.Status(status), msg+" (request id: "+rid+")"))
}

func (geminiEntrance) native(channelType int) adaptor.Adaptor {
	if channelType == adaptor.TypeGemini {
		return geminiNative
	}
	return nil
}

// nativeBody keeps the client's body; the model goes in the URL. The
// channel's system prompt replaces the client's systemInstruction (as for
// chat) and the reservation's output limit caps maxOutputTokens.
func (geminiEntrance) nativeBody(p *parsed, _, systemPrompt string, maxOut int) ([]byte, error) {
	capOut := maxOut > 0 && (p.maxOutput == 0 || maxOut < p.maxOutput)
	if systemPrompt == "" && !capOut {
		return p.native, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(p.native, &m); err != nil {
		return nil, err
	}
	if systemPrompt != "" {
		m["systemInstruction"], _ = json.Marshal(geminient.Content{Parts: []geminient.Part{{Text: systemPrompt}}})
	}
	if capOut {
		var g map[string]json.RawMessage
		if raw, ok := m["generationConfig"]; ok {
			if err := json.Unmarshal(raw, &g); err != nil {
				return nil, err
			}
		}
		if g == nil {
			g = map[string]json.RawMessage{}
		}
		g["maxOutputTokens"], _ = json.Marshal(maxOut)
		m["generationConfig"], _ = json.Marshal(g)
	}
	return json.Marshal(m)
}

func (geminiEntrance) encodeReply(p *parsed, reply []byte, u pricing.Usage) ([]byte, error) {
	return geminient.FromChat(reply, p.model, u)
}

func (e geminiEntrance) newStream(p *parsed, rid string, passthrough bool) streamEncoder {
	f := &geminiFrames{array: !e.sse}
	if passthrough {
		return &geminiPassthrough{f}
	}
	return &geminiStream{s: geminient.NewStream(rid, p.model), f: f}
}

// geminiFrames writes a stream's items: as SSE data events (alt=sse), or
// as the elements of one JSON array, Gemini's stream form without alt=sse.
type geminiFrames struct {
	array bool
	n     int // items written
}

func (f *geminiFrames) put(data []byte, emit func(name, data []byte)) {
	if !f.array {
		emit(nil, data)
		return
	}
	sep := ",\r\n"
	if f.n == 0 {
		sep = "["
	}
	f.n++
	emit(nil, append([]byte(sep), data...))
}

func (f *geminiFrames) close(emit func(name, data []byte)) {
	if !f.array {
		return
	}
	if f.n == 0 {
		emit(nil, []byte("[]"))
		return
	}
	emit(nil, []byte("]"))
}

func (f *geminiFrames) fail(msg, code string, emit func(name, data []byte)) {
	f.put(geminient.ErrorBody(http.StatusInternalServerError, "INTERNAL", msg), emit)
	f.close(emit)
}

// rawFrames: an array stream is not SSE; the stream writer sends its
// items as they are (selfFramed).
func (f *geminiFrames) rawFrames() (bool, string) { return f.array, "application/json; charset=UTF-8" }

// geminiStream converts an OpenAI chat stream to Gemini's items.
type geminiStream struct {
	s *geminient.Stream
	f *geminiFrames
}

func (g *geminiStream) event(ev adaptor.Event, emit func(name, data []byte)) {
	g.s.Chunk(ev.Data, func(d []byte) { g.f.put(d, emit) })
}

func (g *geminiStream) end(u pricing.Usage, emit func(name, data []byte)) {
	g.s.End(u, func(d []byte) { g.f.put(d, emit) })
	g.f.close(emit)
}

func (g *geminiStream) fail(msg, code string, emit func(name, data []byte)) {
	g.f.fail(msg, code, emit)
}

func (g *geminiStream) rawFrames() (bool, string) { return g.f.rawFrames() }

// geminiPassthrough sends a Gemini channel's items as they came.
type geminiPassthrough struct{ f *geminiFrames }

func (g *geminiPassthrough) event(ev adaptor.Event, emit func(name, data []byte)) {
	g.f.put(ev.Data, emit)
}

func (g *geminiPassthrough) end(_ pricing.Usage, emit func(name, data []byte)) { g.f.close(emit) }

func (g *geminiPassthrough) fail(msg, code string, emit func(name, data []byte)) {
	g.f.fail(msg, code, emit)
}

func (g *geminiPassthrough) rawFrames() (bool, string) { return g.f.rawFrames() }
