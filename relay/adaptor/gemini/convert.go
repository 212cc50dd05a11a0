package gemini

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"oneapi/relay/oai"
)

// thoughtSignatureSep joins a Gemini thought signature to the tool call id
// given to the client. Clients send tool call ids back verbatim, so the
// signature Gemini 3 requires with its function calls survives the round
// trip through the OpenAI format, which has no field for it.
const thoughtSignatureSep = "__thought__"

// chatRequestBody decodes the OpenAI-format chat body and converts it.
func chatRequestBody(body []byte) (*generateContentRequest, error) {
	var r oai.ChatRequest
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, clientError("invalid chat request body: %v", err)
	}
	return toGeminiRequest(&r)
}

// ChatBody converts an OpenAI-format chat body to a generateContent body,
// the operator's safety settings included: what Vertex AI's Gemini models
// take too. A body Gemini cannot take is an *adaptor.UpstreamError of class
// ClassClient.
func ChatBody(body []byte) ([]byte, error) {
	cr, err := chatRequestBody(body)
	if err != nil {
		return nil, err
	}
	cr.SafetySettings = safetySettings()
	out, err := json.Marshal(cr)
	if err != nil {
		return nil, fmt.Errorf("encode Gemini request: %w", err)
	}
	return out, nil
}

// toGeminiRequest converts a chat request. Content Gemini cannot take
// (image URLs, unknown part types, malformed tool calls) is a client error.
func toGeminiRequest(r *oai.ChatRequest) (*generateContentRequest, error) {
	if len(r.Functions) > 0 || len(r.FunctionCall) > 0 {
		return nil, clientError("functions and function_call are not supported by Gemini channels; use tools and tool_choice")
	}
	out := &generateContentRequest{Contents: []content{}}
	var system []string
	toolNames := map[string]string{} // tool call id -> function name, for tool results
	for i := range r.Messages {
		m := &r.Messages[i]
		var (
			role  string
			parts []part
			err   error
		)
		switch m.Role {
		case "system", "developer":
			text, err := m.Text()
			if err != nil {
				return nil, clientError("messages[%d]: %v", i, err)
			}
			if text != "" {
				system = append(system, text)
			}
			continue
		case "user":
			role = "user"
			parts, err = userParts(m)
		case "assistant":
			role = "model"
			parts, err = assistantParts(m, toolNames)
		case "tool", "function":
			// Gemini takes function results in a user turn.
			role = "user"
			parts, err = toolResultParts(m, toolNames)
		default:
			return nil, clientError("messages[%d]: role %q is not supported by Gemini channels", i, m.Role)
		}
		if err != nil {
			return nil, clientError("messages[%d]: %v", i, err)
		}
		if len(parts) == 0 {
			continue // Gemini refuses empty turns
		}
		// Gemini wants turns to alternate, and all results of one round of
		// parallel calls in a single turn: consecutive same-role messages merge.
		if n := len(out.Contents); n > 0 && out.Contents[n-1].Role == role {
			out.Contents[n-1].Parts = append(out.Contents[n-1].Parts, parts...)
		} else {
			out.Contents = append(out.Contents, content{Role: role, Parts: parts})
		}
	}
	if len(system) > 0 {
		out.SystemInstruction = &content{Parts: []part{{Text: strings.Join(system, "\n\n")}}}
	}

	var err error
	if out.Tools, err = toGeminiTools(r.Tools); err != nil {
		return nil, err
	}
	if len(out.Tools) > 0 && len(r.ToolChoice) > 0 {
		if out.ToolConfig, err = toGeminiToolConfig(r.ToolChoice); err != nil {
			return nil, err
		}
	}
	if out.GenerationConfig, err = toGenerationConfig(r); err != nil {
		return nil, err
	}
	return out, nil
}

// userParts converts a user message's content parts.
func userParts(m *oai.Message) ([]part, error) {
	cps, err := m.Parts()
	if err != nil {
		return nil, err
	}
	parts := make([]part, 0, len(cps))
	for _, cp := range cps {
		switch cp.Type {
		case oai.PartText:
			if cp.Text != "" {
				parts = append(parts, part{Text: cp.Text})
			}
		case oai.PartImageURL:
			if cp.ImageURL == nil {
				return nil, fmt.Errorf("image_url part without an image_url")
			}
			b, err := imageBlob(cp.ImageURL.URL)
			if err != nil {
				return nil, err
			}
			parts = append(parts, part{InlineData: b})
		case oai.PartInputAudio:
			var a struct {
				Data   string `json:"data"`
				Format string `json:"format"` // "wav" or "mp3"
			}
			if err := json.Unmarshal(cp.InputAudio, &a); err != nil || a.Data == "" || a.Format == "" {
				return nil, fmt.Errorf("input_audio part needs data and format")
			}
			parts = append(parts, part{InlineData: &blob{MimeType: "audio/" + a.Format, Data: a.Data}})
		case oai.PartFile:
			var f struct {
				FileData string `json:"file_data"` // a data: URL
			}
			if err := json.Unmarshal(cp.File, &f); err != nil || f.FileData == "" {
				return nil, fmt.Errorf("Gemini channels take files only inline, as file_data with a base64 data: URL (not file_id)")
			}
			b, ok := parseDataURL(f.FileData)
			if !ok {
				return nil, fmt.Errorf("file_data must be a base64 data: URL (data:<mime type>;base64,<data>)")
			}
			parts = append(parts, part{InlineData: b})
		default:
			return nil, fmt.Errorf("content part type %q is not supported by Gemini channels", cp.Type)
		}
	}
	return parts, nil
}

// imageBlob takes an image given as a data: URL. The gateway never fetches
// a URL a client sends (that would let clients make it reach any host).
func imageBlob(u string) (*blob, error) {
	if b, ok := parseDataURL(u); ok {
		return b, nil
	}
	lower := strings.ToLower(u)
	if strings.HasPrefix(lower, "http://") || strings.HasPrefix(lower, "https://") {
		return nil, fmt.Errorf("Gemini channels need images inline, as data: URLs (data:image/png;base64,...); the gateway does not fetch image URLs")
	}
	return nil, fmt.Errorf("image_url must be a base64 data: URL (data:image/png;base64,...)")
}

// parseDataURL splits data:<mime type>[;params];base64,<data>.
func parseDataURL(u string) (*blob, bool) {
	if len(u) < 5 || !strings.EqualFold(u[:5], "data:") {
		return nil, false
	}
	meta, data, ok := strings.Cut(u[5:], ",")
	if !ok || data == "" {
		return nil, false
	}
	meta, isBase64 := strings.CutSuffix(meta, ";base64")
	mimeType, _, _ := strings.Cut(meta, ";")
	if !isBase64 || mimeType == "" {
		return nil, false
	}
	return &blob{MimeType: mimeType, Data: data}, true
}

// assistantParts converts an assistant message: its text, then its tool
// calls. It records each call's function name for the tool results that
// follow.
func assistantParts(m *oai.Message, toolNames map[string]string) ([]part, error) {
	text, err := m.Text()
	if err != nil {
		return nil, err
	}
	var parts []part
	if text != "" {
		parts = append(parts, part{Text: text})
	}
	for _, tc := range m.ToolCalls {
		if tc.Function.Name == "" {
			return nil, fmt.Errorf("tool call %q has no function name", tc.ID)
		}
		args := bytes.TrimSpace([]byte(tc.Function.Arguments))
		if len(args) == 0 {
			args = []byte("{}")
		}
		if args[0] != '{' || !json.Valid(args) {
			return nil, fmt.Errorf("arguments of tool call %q are not a JSON object", tc.ID)
		}
		toolNames[tc.ID] = tc.Function.Name
		_, signature, _ := strings.Cut(tc.ID, thoughtSignatureSep)
		parts = append(parts, part{
			FunctionCall:     &functionCall{Name: tc.Function.Name, Args: args},
			ThoughtSignature: signature,
		})
	}
	return parts, nil
}

// toolResultParts converts a tool (or legacy function) message into a
// functionResponse, named after the call it answers.
func toolResultParts(m *oai.Message, toolNames map[string]string) ([]part, error) {
	name := toolNames[m.ToolCallID]
	if name == "" {
		name = m.Name
	}
	if name == "" {
		return nil, fmt.Errorf("tool message with tool_call_id %q does not answer a tool call of an earlier assistant message", m.ToolCallID)
	}
	text, err := m.Text()
	if err != nil {
		return nil, err
	}
	// Gemini wants an object; a result that is one is passed as is.
	response := json.RawMessage(bytes.TrimSpace([]byte(text)))
	if len(response) == 0 || response[0] != '{' || !json.Valid(response) {
		response, _ = json.Marshal(map[string]string{"content": text})
	}
	return []part{{FunctionResponse: &functionResponse{Name: name, Response: response}}}, nil
}

// toGeminiTools converts function tools into one Gemini tool holding all
// their declarations.
func toGeminiTools(tools []oai.Tool) ([]tool, error) {
	if len(tools) == 0 {
		return nil, nil
	}
	decls := make([]functionDeclaration, 0, len(tools))
	for i, t := range tools {
		if t.Type != "function" || t.Function == nil {
			return nil, clientError("tools[%d]: tool type %q is not supported by Gemini channels", i, t.Type)
		}
		params := bytes.TrimSpace(t.Function.Parameters)
		if string(params) == "null" {
			params = nil
		}
		decls = append(decls, functionDeclaration{
			Name:                 t.Function.Name,
			Description:          t.Function.Description,
			ParametersJSONSchema: params,
		})
	}
	return []tool{{FunctionDeclarations: decls}}, nil
}

// toGeminiToolConfig maps tool_choice: "none", "auto", "required" or
// {"type":"function","function":{"name":...}}.
func toGeminiToolConfig(choice json.RawMessage) (*toolConfig, error) {
	choice = bytes.TrimSpace(choice)
	if string(choice) == "null" {
		return nil, nil
	}
	var s string
	if json.Unmarshal(choice, &s) == nil {
		mode := map[string]string{"none": "NONE", "auto": "AUTO", "required": "ANY"}[s]
		if mode == "" {
			return nil, clientError("tool_choice %q is not supported by Gemini channels", s)
		}
		return &toolConfig{FunctionCallingConfig: functionCallingConfig{Mode: mode}}, nil
	}
	var named struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if err := json.Unmarshal(choice, &named); err != nil || named.Type != "function" || named.Function.Name == "" {
		return nil, clientError(`tool_choice must be "none", "auto", "required" or {"type":"function","function":{"name":...}}`)
	}
	return &toolConfig{FunctionCallingConfig: functionCallingConfig{
		Mode:                 "ANY",
		AllowedFunctionNames: []string{named.Function.Name},
	}}, nil
}

// toGenerationConfig maps the sampling options; nil when none is set.
func toGenerationConfig(r *oai.ChatRequest) (*generationConfig, error) {
	stop, err := r.StopSequences()
	if err != nil {
		return nil, clientError("stop: %v", err)
	}
	gc := generationConfig{
		Temperature:     r.Temperature,
		TopP:            r.TopP,
		MaxOutputTokens: r.MaxOutputTokens(),
		StopSequences:   stop,
		Seed:            r.Seed,
	}
	if r.N != nil {
		gc.CandidateCount = *r.N
	}
	// Some Gemini models refuse penalties outright ("Penalty is not enabled
	// for models/..."), and many clients send 0 by default: send only real ones.
	if r.PresencePenalty != nil && *r.PresencePenalty != 0 {
		gc.PresencePenalty = r.PresencePenalty
	}
	if r.FrequencyPenalty != nil && *r.FrequencyPenalty != 0 {
		gc.FrequencyPenalty = r.FrequencyPenalty
	}
	if rf := r.ResponseFormat; rf != nil {
		switch rf.Type {
		case "json_object":
			gc.ResponseMimeType = "application/json"
		case "json_schema":
			gc.ResponseMimeType = "application/json"
			var js struct {
				Schema json.RawMessage `json:"schema"`
			}
			if len(rf.JSONSchema) > 0 {
				if err := json.Unmarshal(rf.JSONSchema, &js); err != nil {
					return nil, clientError("response_format.json_schema: %v", err)
				}
			}
			if s := bytes.TrimSpace(js.Schema); len(s) > 0 && string(s) != "null" {
				gc.ResponseJSONSchema = s
			}
		case "text", "":
		default:
			return nil, clientError("response_format type %q is not supported by Gemini channels", rf.Type)
		}
	}
	if isZero(&gc) {
		return nil, nil
	}
	return &gc, nil
}

func isZero(gc *generationConfig) bool {
	return gc.Temperature == nil && gc.TopP == nil && gc.MaxOutputTokens == 0 && len(gc.StopSequences) == 0 &&
		gc.CandidateCount == 0 && gc.PresencePenalty == nil && gc.FrequencyPenalty == nil && gc.Seed == nil &&
		gc.ResponseMimeType == "" && len(gc.ResponseJSONSchema) == 0
}

// embedRequestBody converts an OpenAI embeddings body: one request per
// input string.
func embedRequestBody(body []byte, model string) (*batchEmbedRequest, error) {
	var r oai.EmbeddingRequest
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, clientError("invalid embeddings request body: %v", err)
	}
	texts, tokenIDs, err := r.ParseInput()
	if err != nil {
		return nil, clientError("input: %v", err)
	}
	if tokenIDs > 0 {
		return nil, clientError("Gemini channels take embeddings input as text, not token ids")
	}
	if len(texts) == 0 {
		return nil, clientError("input is empty")
	}
	if model == "" {
		model = r.Model
	}
	name := "models/" + strings.TrimPrefix(model, "models/")
	out := &batchEmbedRequest{Requests: make([]embedContentRequest, len(texts))}
	for i, t := range texts {
		out.Requests[i] = embedContentRequest{Model: name, Content: content{Parts: []part{{Text: t}}}}
		if r.Dimensions != nil {
			out.Requests[i].OutputDimensionality = *r.Dimensions
		}
	}
	return out, nil
}
