package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"oneapi/relay/adaptor"
	"oneapi/relay/oai"
	"oneapi/relay/tokenizer"
)

// parsed is what the relay needs from a request body.
type parsed struct {
	mode          adaptor.Mode
	body          []byte
	contentType   string // "" = JSON
	model         string
	stream        bool
	wantUsage     bool // the client asked for stream usage itself
	streamOptions bool // the body has a stream_options member
	chat          *oai.ChatRequest

	// ent is the protocol the client speaks (entrance.go); native is its
	// original body, sent untouched to channels that speak that protocol
	// too, with the client's headers (some of which are forwarded).
	ent    entrance
	native []byte
	header http.Header

	// What countPrompt counts, besides chat: texts, plus token ids given
	// as numbers (completions, embeddings).
	texts    []string
	tokenIDs int

	promptTokens int
	// maxOutput is the output limit the client set (0: none); choices is n.
	maxOutput int
	choices   int
	// perCall, when > 0, is a fixed price multiplier instead of tokens:
	// images (count × size factor). Quota = modelRatio × groupRatio × 1000 × perCall.
	perCall float64
	// imageTokens is the most image output tokens an image request can
	// produce, for models priced by token (gpt-image-1).
	imageTokens int
}

// readBody reads the whole body within the limit. Bodies are read before
// anything goes upstream: they must be parsed anyway, and streaming a body
// through under load can lose requests (golang/go#40747).
//
// The read is also bounded in time (Config.BodyReadTimeout): the server has no
// ReadTimeout, since answers stream for minutes, so a client trickling its
// body would otherwise hold a connection and a goroutine as long as it likes
// (slowloris). The deadline is lifted once the body is in: left in
// place it would cancel the request (net/http's background read of the
// connection fails on it) while the answer is still streaming.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *apiError) {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(s.cfg.BodyReadTimeout)) // not supported by every ResponseWriter: then no deadline
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		// The deadline stays: net/http drains an unread body before it
		// answers, and must not wait for this client any longer.
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errBodyTooLarge
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, &apiError{http.StatusRequestTimeout, "invalid_request_error", "body_timeout", "The request body did not arrive in time."}
		}
		return nil, badRequest("body_read_failed", "Could not read the request body.")
	}
	_ = rc.SetReadDeadline(time.Time{})
	return decodeBody(r.Header.Get("Content-Encoding"), body, s.cfg.MaxBodyBytes) // body_decode.go
}

// parseRequest validates the body for its mode. It does not count the
// prompt (countPrompt does, once the cheap refusals are made).
func parseRequest(mode adaptor.Mode, body []byte, contentType string) (p *parsed, aerr *apiError) {
	p = &parsed{mode: mode, body: body, choices: 1}
	switch mode {
	case adaptor.ModeAudioTranscription, adaptor.ModeAudioTranslation:
		return parseMultipart(p, contentType)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, badRequest("missing_body", "The request body is empty: send a JSON object.")
	}
	switch mode {
	case adaptor.ModeChat:
		var req oai.ChatRequest
		if err := json.Unmarshal(body, &req); err != nil {
			return nil, jsonError(err)
		}
		if req.Model == "" {
			return nil, errNoModel
		}
		if len(req.Messages) == 0 {
			return nil, badRequest("missing_messages", "'messages' must be a non-empty array.")
		}
		for i := range req.Messages {
			if req.Messages[i].Role == "" {
				return nil, badRequest("invalid_message", fmt.Sprintf("messages[%d]: 'role' is required.", i))
			}
			if _, err := req.Messages[i].Parts(); err != nil {
				return nil, badRequest("invalid_message", fmt.Sprintf("messages[%d]: content must be a string or an array of content parts.", i))
			}
		}
		if n := req.MaxOutputTokens(); n < 0 {
			return nil, badRequest("invalid_max_tokens", "max_tokens must not be negative.")
		}
		p.chat, p.model, p.stream = &req, req.Model, req.Stream
		p.wantUsage = req.StreamOptions != nil && req.StreamOptions.IncludeUsage
		p.streamOptions = req.StreamOptions != nil
		p.maxOutput = req.MaxOutputTokens()
		if p.choices, aerr = choicesOf(req.N); aerr != nil {
			return nil, aerr
		}
	case adaptor.ModeCompletions:
		var req oai.CompletionRequest
		if err := json.Unmarshal(body, &req); err != nil {
			return nil, jsonError(err)
		}
		texts, ids, err := req.ParsePrompt()
		if err != nil {
			return nil, badRequest("invalid_prompt", "'prompt' must be a string or an array of strings or token ids.")
		}
		p.model, p.stream = req.Model, req.Stream
		p.wantUsage = req.StreamOptions != nil && req.StreamOptions.IncludeUsage
		p.streamOptions = req.StreamOptions != nil
		if req.MaxTokens != nil {
			if *req.MaxTokens < 0 {
				return nil, badRequest("invalid_max_tokens", "max_tokens must not be negative.")
			}
			p.maxOutput = *req.MaxTokens
		}
		if p.choices, aerr = choicesOf(req.N); aerr != nil {
			return nil, aerr
		}
		p.texts, p.tokenIDs = texts, ids
	case adaptor.ModeEmbeddings, adaptor.ModeModerations:
		var req oai.EmbeddingRequest // moderations share {model, input}
		if err := json.Unmarshal(body, &req); err != nil {
			return nil, jsonError(err)
		}
		texts, ids, err := req.ParseInput()
		if err != nil || (len(texts) == 0 && ids == 0) {
			return nil, badRequest("invalid_input", "'input' must be a non-empty string or array.")
		}
		if req.Model == "" && mode == adaptor.ModeModerations {
			req.Model = "omni-moderation-latest" // OpenAI's default
			p.body = setJSONField(body, "model", req.Model)
		}
		p.model = req.Model
		p.texts, p.tokenIDs = texts, ids
	case adaptor.ModeImages:
		var req oai.ImageRequest
		if err := json.Unmarshal(body, &req); err != nil {
			return nil, jsonError(err)
		}
		if req.Prompt == "" {
			return nil, badRequest("missing_prompt", "'prompt' is required.")
		}
		if req.Model == "" {
			req.Model = "dall-e-2" // OpenAI's default
			p.body = setJSONField(body, "model", req.Model)
		}
		n := 1
		if req.N != nil {
			n = *req.N
		}
		if n < 1 || n > 10 {
			return nil, badRequest("invalid_n", "'n' must be between 1 and 10.")
		}
		p.model = req.Model
		p.perCall = float64(n) * imageSizeFactor(req.Size, req.Quality)
		p.imageTokens = n * imageOutputTokens(req.Size, req.Quality)
		p.texts = []string{req.Prompt}
	case adaptor.ModeAudioSpeech:
		var req oai.SpeechRequest
		if err := json.Unmarshal(body, &req); err != nil {
			return nil, jsonError(err)
		}
		if req.Input == "" {
			return nil, badRequest("missing_input", "'input' is required.")
		}
		p.model = req.Model
		// Speech is priced per input character (One API's rule).
		p.promptTokens = utf8.RuneCountInString(req.Input)
	case adaptor.ModeRerank:
		var req oai.RerankRequest
		if err := json.Unmarshal(body, &req); err != nil {
			return nil, jsonError(err)
		}
		docs, err := req.Texts()
		if err != nil || len(docs) == 0 || req.Query == "" {
			return nil, badRequest("invalid_input", "'query' must be a non-empty string and 'documents' a non-empty array of strings or {\"text\": ...} objects.")
		}
		p.model = req.Model
		p.texts = append(docs, req.Query)
	case adaptor.ModeResponses:
		var req struct {
			Model           string          `json:"model"`
			Stream          bool            `json:"stream"`
			MaxOutputTokens *int            `json:"max_output_tokens"`
			Input           json.RawMessage `json:"input"`
			Instructions    string          `json:"instructions"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			return nil, jsonError(err)
		}
		p.model, p.stream = req.Model, req.Stream
		if req.MaxOutputTokens != nil {
			if *req.MaxOutputTokens < 0 {
				return nil, badRequest("invalid_max_tokens", "max_output_tokens must not be negative.")
			}
			p.maxOutput = *req.MaxOutputTokens
		}
		// An estimate for the reservation; upstream reports the real usage.
		p.texts = []string{req.Instructions, string(req.Input)}
	}
	if p.model == "" {
		return nil, errNoModel
	}
	return p, nil
}

func jsonError(err error) *apiError {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return badRequest("invalid_type", fmt.Sprintf("'%s' has the wrong type: %s is not valid there.", te.Field, te.Value))
	}
	return errBadJSON
}

// countPrompt counts the prompt tokens, stopping when ctx ends.
func (p *parsed) countPrompt(ctx context.Context) error {
	n := p.tokenIDs
	if p.chat != nil {
		c, err := tokenizer.CountChatRequest(ctx, p.chat)
		if err != nil {
			return err
		}
		n += c
	}
	for _, t := range p.texts {
		c, err := tokenizer.CountPrompt(ctx, p.model, t)
		if err != nil {
			return err
		}
		n += c
	}
	if p.mode != adaptor.ModeAudioSpeech { // speech: characters, already set
		p.promptTokens = n
	}
	return nil
}

// choicesOf checks n, the number of answers asked for.
func choicesOf(n *int) (int, *apiError) {
	if n == nil {
		return 1, nil
	}
	if *n < 1 || *n > 128 {
		return 0, badRequest("invalid_n", "'n' must be between 1 and 128.")
	}
	return *n, nil
}

// imageOutputTokens is what gpt-image-1 writes for one image of a size and
// quality (OpenAI's table; "auto" taken at its largest): the most an image
// request priced by token can cost.
func imageOutputTokens(size, quality string) int {
	row := [3]int{272, 1056, 4160} // 1024x1024: low, medium, high
	switch size {
	case "1024x1536", "1536x1024", "auto", "":
		row = [3]int{408, 1584, 6240}
	}
	switch quality {
	case "low":
		return row[0]
	case "medium":
		return row[1]
	}
	return row[2]
}

// imageSizeFactor is One API's image price multiplier by size and quality.
func imageSizeFactor(size, quality string) float64 {
	f := 1.0
	switch size {
	case "256x256":
		f = 0.4
	case "512x512":
		f = 0.45
	case "1024x1792", "1792x1024", "1536x1024", "1024x1536":
		f = 2
	}
	if quality == "hd" || quality == "high" {
		f *= 2
	}
	return f
}

// parseMultipart reads the model from an audio upload without copying the file.
func parseMultipart(p *parsed, contentType string) (*parsed, *apiError) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return nil, badRequest("invalid_content_type", "Audio uploads must be multipart/form-data.")
	}
	p.contentType = contentType
	mr := multipart.NewReader(bytes.NewReader(p.body), params["boundary"])
	hasFile := false
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, badRequest("invalid_multipart", "The multipart body is malformed.")
		}
		switch part.FormName() {
		case "model":
			b, _ := io.ReadAll(io.LimitReader(part, 256))
			p.model = strings.TrimSpace(string(b))
		case "file":
			hasFile = true
		}
	}
	if !hasFile {
		return nil, badRequest("missing_file", "'file' is required.")
	}
	if p.model == "" {
		return nil, errNoModel
	}
	return p, nil
}

// replaceMultipartModel rebuilds an upload with another model name, for
// channels whose model mapping renames it.
func replaceMultipartModel(body []byte, contentType, model string) ([]byte, error) {
	_, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil, err
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	var out bytes.Buffer
	mw := multipart.NewWriter(&out)
	if err := mw.SetBoundary(params["boundary"]); err != nil {
		return nil, err
	}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		w, err := mw.CreatePart(part.Header)
		if err != nil {
			return nil, err
		}
		if part.FormName() == "model" {
			_, err = io.WriteString(w, model)
		} else {
			_, err = io.Copy(w, part)
		}
		if err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// setJSONField returns body with a top-level field set to value (any JSON-encodable).
func setJSONField(body []byte, key string, value any) []byte {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return body
	}
	v, err := json.Marshal(value)
	if err != nil {
		return body
	}
	m[key] = v
	out, err := json.Marshal(m)
	if err != nil {
		return body
	}
	return out
}

// includeUsageSuffix asks an OpenAI-type upstream for usage in its stream.
var includeUsageSuffix = []byte(`,"stream_options":{"include_usage":true}}`)

// upstreamBody returns the body for one channel: the client's bytes when
// nothing changes (the common case, no re-encoding), otherwise a copy with the
// mapped model, the channel's system prompt, stream usage requested and the
// output limit maxOut (> 0) the reservation pays for.
func upstreamBody(p *parsed, upstreamModel, systemPrompt string, maxOut int) ([]byte, error) {
	if p.contentType != "" { // multipart audio upload
		if upstreamModel == p.model {
			return p.body, nil
		}
		return replaceMultipartModel(p.body, p.contentType, upstreamModel)
	}
	needUsage := p.stream && !p.wantUsage && (p.mode == adaptor.ModeChat || p.mode == adaptor.ModeCompletions)
	needSystem := systemPrompt != "" && p.mode == adaptor.ModeChat
	if upstreamModel == p.model && !needSystem && maxOut <= 0 {
		if !needUsage {
			return p.body, nil
		}
		if !p.streamOptions {
			// Fast path: append the field before the closing brace.
			b := bytes.TrimRight(p.body, " \t\r\n")
			if len(b) > 1 && b[len(b)-1] == '}' {
				out := make([]byte, 0, len(b)+len(includeUsageSuffix))
				out = append(out, b[:len(b)-1]...)
				return append(out, includeUsageSuffix...), nil
			}
		}
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(p.body, &m); err != nil {
		return nil, err
	}
	if upstreamModel != p.model {
		m["model"], _ = json.Marshal(upstreamModel)
	}
	if needUsage {
		var so map[string]json.RawMessage
		_ = json.Unmarshal(m["stream_options"], &so)
		if so == nil {
			so = map[string]json.RawMessage{}
		}
		so["include_usage"] = json.RawMessage("true")
		m["stream_options"], _ = json.Marshal(so)
	}
	if needSystem {
		msgs := append([]oai.Message(nil), p.chat.Messages...)
		sys := oai.Message{Role: "system", Content: oai.TextContent(systemPrompt)}
		// The channel's prompt is forced: it replaces a client system message at the top.
		if len(msgs) > 0 && msgs[0].Role == "system" {
			msgs[0] = sys
		} else {
			msgs = append([]oai.Message{sys}, msgs...)
		}
		m["messages"], _ = json.Marshal(msgs)
	}
	if maxOut > 0 {
		setOutputLimit(m, p.mode, upstreamModel, maxOut)
	}
	return json.Marshal(m)
}

// setOutputLimit writes the output limit in the field the mode and model
// take: max_output_tokens for the Responses API; for chat,
// max_completion_tokens where the client used it or the model refuses
// max_tokens (OpenAI's reasoning families), else max_tokens.
func setOutputLimit(m map[string]json.RawMessage, mode adaptor.Mode, model string, n int) {
	v := json.RawMessage(strconv.Itoa(n))
	switch {
	case mode == adaptor.ModeResponses:
		m["max_output_tokens"] = v
	case mode == adaptor.ModeChat && (m["max_completion_tokens"] != nil || rejectsMaxTokens(model)):
		delete(m, "max_tokens")
		m["max_completion_tokens"] = v
	default:
		m["max_tokens"] = v
	}
}
