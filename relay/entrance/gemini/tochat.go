package gemini

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"oneapi/relay/oai"
)

// RequestError is a request the gateway refuses: the client must change it
// (Gemini's INVALID_ARGUMENT).
type RequestError struct{ Msg string }

func (e *RequestError) Error() string { return e.Msg }

func bad(format string, a ...any) error { return &RequestError{fmt.Sprintf(format, a...)} }

// Parse decodes and checks a generateContent request.
func Parse(body []byte) (*Request, error) {
	var req Request
	if err := json.Unmarshal(body, &req); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return nil, bad("Invalid value at '%s' (%s)", te.Field, te.Value)
		}
		return nil, bad("Invalid JSON payload received.")
	}
	if len(req.Contents) == 0 {
		return nil, bad("* GenerateContentRequest.contents: contents is not specified")
	}
	for i, c := range req.Contents {
		if c.Role != "" && c.Role != "user" && c.Role != "model" && c.Role != "function" {
			return nil, bad("Please use a valid role: user, model. (contents[%d].role %q)", i, c.Role)
		}
		if len(c.Parts) == 0 {
			return nil, bad("* GenerateContentRequest.contents[%d].parts: contents.parts must not be empty.", i)
		}
	}
	return &req, nil
}

// ToChat converts a parsed request to the canonical OpenAI chat request;
// model is the one named in the URL. Lost on the way: safetySettings,
// cachedContent, topK, thinkingConfig, thought signatures and Google's own
// tools (they run only on Gemini channels, which get the request
// untouched).
func ToChat(req *Request, model string, stream bool) (*oai.ChatRequest, error) {
	chat := &oai.ChatRequest{Model: model, Stream: stream}
	if sys := req.SystemInstruction; sys != nil {
		var text []string
		for _, p := range sys.Parts {
			if p.Text != "" {
				text = append(text, p.Text)
			}
		}
		if len(text) > 0 {
			chat.Messages = append(chat.Messages, oai.Message{Role: "system", Content: oai.TextContent(strings.Join(text, "\n\n"))})
		}
	}
	// Gemini's calls have no ids (or optional ones): a function's result is
	// matched to the latest unanswered call of that name.
	ids := callIDs{open: map[string][]string{}}
	for i, c := range req.Contents {
		var err error
		if c.Role == "model" {
			chat.Messages, err = appendModel(chat.Messages, c.Parts, &ids)
		} else {
			chat.Messages, err = appendUser(chat.Messages, c.Parts, &ids)
		}
		if err != nil {
			return nil, bad("contents[%d]: %v", i, err)
		}
	}
	if err := convertTools(chat, req); err != nil {
		return nil, err
	}
	if g := req.GenerationConfig; g != nil {
		if err := convertConfig(chat, g); err != nil {
			return nil, err
		}
	}
	return chat, nil
}

// callIDs names the tool calls of a conversation.
type callIDs struct {
	n    int
	open map[string][]string // function name -> ids of unanswered calls
}

func (c *callIDs) call(fc *FunctionCall) string {
	id := fc.ID
	if id == "" {
		c.n++
		id = fmt.Sprintf("call_%d", c.n)
	}
	c.open[fc.Name] = append(c.open[fc.Name], id)
	return id
}

func (c *callIDs) result(fr *FunctionResponse) string {
	if fr.ID != "" {
		return fr.ID
	}
	if q := c.open[fr.Name]; len(q) > 0 {
		c.open[fr.Name] = q[1:]
		return q[0]
	}
	c.n++
	return fmt.Sprintf("call_%d", c.n)
}

// appendUser converts a user turn: function responses become tool
// messages (first: OpenAI wants them right after the calls), the rest one
// user message.
func appendUser(msgs []oai.Message, parts []Part, ids *callIDs) ([]oai.Message, error) {
	var cps []oai.ContentPart
	for _, p := range parts {
		switch {
		case p.FunctionResponse != nil:
			fr := p.FunctionResponse
			resp := strings.TrimSpace(string(fr.Response))
			if resp == "" {
				resp = "{}"
			}
			msgs = append(msgs, oai.Message{Role: "tool", ToolCallID: ids.result(fr), Name: fr.Name, Content: oai.TextContent(resp)})
		case p.InlineData != nil:
			cp, err := dataPart(p.InlineData)
			if err != nil {
				return nil, err
			}
			cps = append(cps, cp)
		case p.FileData != nil:
			if !strings.HasPrefix(p.FileData.MimeType, "image/") && p.FileData.MimeType != "" {
				return nil, fmt.Errorf("fileData of type %q is served only by Gemini channels", p.FileData.MimeType)
			}
			cps = append(cps, oai.ContentPart{Type: oai.PartImageURL, ImageURL: &oai.ImageURL{URL: p.FileData.FileURI}})
		case p.FunctionCall != nil:
			return nil, errors.New("functionCall parts belong in a model turn")
		case p.Text != "" && !p.Thought:
			cps = append(cps, oai.ContentPart{Type: oai.PartText, Text: p.Text})
		}
	}
	if len(cps) == 0 {
		return msgs, nil
	}
	var content json.RawMessage
	if len(cps) == 1 && cps[0].Type == oai.PartText {
		content = oai.TextContent(cps[0].Text)
	} else {
		var err error
		if content, err = json.Marshal(cps); err != nil {
			return nil, err
		}
	}
	return append(msgs, oai.Message{Role: "user", Content: content}), nil
}

// dataPart is inline data as an OpenAI part: images as data URLs, PDFs as
// files; other kinds only Gemini channels take.
func dataPart(b *Blob) (oai.ContentPart, error) {
	if b.Data == "" || b.MimeType == "" {
		return oai.ContentPart{}, errors.New("inlineData needs mimeType and data")
	}
	url := "data:" + b.MimeType + ";base64," + b.Data
	switch {
	case strings.HasPrefix(b.MimeType, "image/"):
		return oai.ContentPart{Type: oai.PartImageURL, ImageURL: &oai.ImageURL{URL: url}}, nil
	case b.MimeType == "application/pdf":
		file, _ := json.Marshal(map[string]string{"filename": "document.pdf", "file_data": url})
		return oai.ContentPart{Type: oai.PartFile, File: file}, nil
	}
	return oai.ContentPart{}, fmt.Errorf("inlineData of type %q is served only by Gemini channels", b.MimeType)
}

// appendModel converts a model turn: text, thoughts as reasoning_content,
// function calls as tool calls.
func appendModel(msgs []oai.Message, parts []Part, ids *callIDs) ([]oai.Message, error) {
	m := oai.Message{Role: "assistant"}
	var text, thought []string
	for _, p := range parts {
		switch {
		case p.FunctionCall != nil:
			fc := p.FunctionCall
			args := strings.TrimSpace(string(fc.Args))
			if args == "" || args == "null" {
				args = "{}"
			}
			m.ToolCalls = append(m.ToolCalls, oai.ToolCall{ID: ids.call(fc), Type: "function", Function: oai.FunctionCall{Name: fc.Name, Arguments: args}})
		case p.Thought:
			thought = append(thought, p.Text)
		case p.Text != "":
			text = append(text, p.Text)
		case p.InlineData != nil, p.FileData != nil, p.FunctionResponse != nil:
			return nil, errors.New("a model turn may hold only text and functionCall parts on this channel")
		}
	}
	if len(text) > 0 {
		m.Content = oai.TextContent(strings.Join(text, ""))
	}
	m.ReasoningContent = strings.Join(thought, "")
	if len(m.Content) == 0 && len(m.ToolCalls) == 0 {
		return msgs, nil
	}
	return append(msgs, m), nil
}

func convertTools(chat *oai.ChatRequest, req *Request) error {
	for _, t := range req.Tools {
		for _, fd := range t.FunctionDeclarations {
			if fd.Name == "" {
				return bad("tools.functionDeclarations.name: a function needs a name")
			}
			params := fd.ParametersJSONSchema
			if len(params) == 0 && len(fd.Parameters) > 0 {
				params = jsonSchema(fd.Parameters)
			}
			if len(params) == 0 {
				params = json.RawMessage(`{"type":"object","properties":{}}`)
			}
			chat.Tools = append(chat.Tools, oai.Tool{Type: "function", Function: &oai.Function{Name: fd.Name, Description: fd.Description, Parameters: params}})
		}
	}
	tc := req.ToolConfig
	if tc == nil || tc.FunctionCallingConfig == nil || len(chat.Tools) == 0 {
		return nil
	}
	fc := tc.FunctionCallingConfig
	switch strings.ToUpper(fc.Mode) {
	case "", "AUTO", "MODE_UNSPECIFIED", "VALIDATED":
		chat.ToolChoice = json.RawMessage(`"auto"`)
	case "NONE":
		chat.ToolChoice = json.RawMessage(`"none"`)
	case "ANY":
		if len(fc.AllowedFunctionNames) == 1 {
			chat.ToolChoice, _ = json.Marshal(map[string]any{"type": "function", "function": map[string]string{"name": fc.AllowedFunctionNames[0]}})
		} else {
			chat.ToolChoice = json.RawMessage(`"required"`)
		}
	default:
		return bad("toolConfig.functionCallingConfig.mode: %q is not one of AUTO, ANY, NONE", fc.Mode)
	}
	return nil
}

func convertConfig(chat *oai.ChatRequest, g *GenerationConfig) error {
	chat.Temperature, chat.TopP = g.Temperature, g.TopP
	chat.PresencePenalty, chat.FrequencyPenalty, chat.Seed = g.PresencePenalty, g.FrequencyPenalty, g.Seed
	if g.MaxOutputTokens > 0 {
		n := g.MaxOutputTokens
		chat.MaxTokens = &n
	}
	if len(g.StopSequences) > 0 {
		chat.Stop, _ = json.Marshal(g.StopSequences)
	}
	if g.CandidateCount > 1 {
		return bad("generationConfig.candidateCount: only 1 candidate is served on this channel")
	}
	switch g.ResponseMimeType {
	case "", "text/plain":
	case "application/json":
		schema := g.ResponseJSONSchema
		if len(schema) == 0 && len(g.ResponseSchema) > 0 {
			schema = jsonSchema(g.ResponseSchema)
		}
		if len(schema) == 0 {
			chat.ResponseFormat = &oai.ResponseFormat{Type: "json_object"}
			break
		}
		js, _ := json.Marshal(map[string]any{"name": "response", "schema": schema})
		chat.ResponseFormat = &oai.ResponseFormat{Type: "json_schema", JSONSchema: js}
	default:
		return bad("generationConfig.responseMimeType: %q is served only by Gemini channels", g.ResponseMimeType)
	}
	return nil
}

// jsonSchema turns Gemini's OpenAPI-subset schema into JSON Schema: type
// names are upper case there ("OBJECT"), lower case in JSON Schema.
func jsonSchema(raw json.RawMessage) json.RawMessage {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return raw
	}
	b, err := json.Marshal(lowerTypes(v))
	if err != nil {
		return raw
	}
	return b
}

func lowerTypes(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if s, ok := e.(string); ok && k == "type" {
				x[k] = strings.ToLower(s)
			} else {
				x[k] = lowerTypes(e)
			}
		}
	case []any:
		for i, e := range x {
			x[i] = lowerTypes(e)
		}
	}
	return v
}

// CountBody reads a countTokens body ({"contents": ...} or
// {"generateContentRequest": {...}}) as the chat request whose prompt is
// counted.
func CountBody(body []byte, model string) (*oai.ChatRequest, error) {
	var wrapped struct {
		GenerateContentRequest json.RawMessage `json:"generateContentRequest"`
	}
	if json.Unmarshal(body, &wrapped) == nil && len(wrapped.GenerateContentRequest) > 0 {
		body = wrapped.GenerateContentRequest
	}
	req, err := Parse(body)
	if err != nil {
		return nil, err
	}
	return ToChat(req, model, false)
}
