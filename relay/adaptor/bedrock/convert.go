package bedrock

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"oneapi/relay/oai"
)

// converseBody decodes the OpenAI-format chat body (it, not adaptor.Request's
// Chat, has the channel's system prompt) and converts it.
func converseBody(body []byte) ([]byte, error) {
	var chat oai.ChatRequest
	if err := json.Unmarshal(body, &chat); err != nil {
		return nil, clientError("invalid chat request body: %v", err)
	}
	cr, err := toConverseRequest(&chat)
	if err != nil {
		return nil, err
	}
	out, err := json.Marshal(cr)
	if err != nil {
		return nil, fmt.Errorf("encode Converse request: %w", err)
	}
	return out, nil
}

// toConverseRequest converts a chat request. Fields Converse has no
// equivalent for (n, seed, penalties, logprobs, json_object mode, user) are
// dropped, as Bedrock's own OpenAI-compatible endpoint does; what cannot be
// sent at all (image URLs, audio, legacy functions) is a client error.
func toConverseRequest(r *oai.ChatRequest) (*converseRequest, error) {
	if len(r.Functions) > 0 || len(r.FunctionCall) > 0 {
		return nil, clientError("functions and function_call are not supported by Bedrock channels: use tools and tool_choice")
	}
	out := &converseRequest{Messages: []message{}}
	docs := 0 // documents get unique names, as Converse requires
	usesTools := false
	for i := range r.Messages {
		m := &r.Messages[i]
		var (
			role   string
			blocks []contentBlock
			err    error
		)
		switch m.Role {
		case "system", "developer":
			text, err := m.Text()
			if err != nil {
				return nil, clientError("messages[%d]: %v", i, err)
			}
			if text != "" {
				out.System = append(out.System, systemBlock{Text: text})
			}
			continue
		case "user":
			role = "user"
			blocks, err = userBlocks(m, &docs)
		case "assistant":
			role = "assistant"
			blocks, err = assistantBlocks(m)
			usesTools = usesTools || len(m.ToolCalls) > 0
		case "tool":
			// Converse takes tool results in a user turn.
			role = "user"
			blocks, err = toolResultBlocks(m, &docs)
			usesTools = true
		default:
			return nil, clientError("messages[%d]: role %q is not supported by Bedrock channels", i, m.Role)
		}
		if err != nil {
			return nil, clientError("messages[%d]: %v", i, err)
		}
		if len(blocks) == 0 {
			continue // Converse refuses a turn without content
		}
		// Turns must alternate, and the results of one round of parallel
		// calls go in one turn: consecutive turns of a role merge.
		if n := len(out.Messages); n > 0 && out.Messages[n-1].Role == role {
			out.Messages[n-1].Content = append(out.Messages[n-1].Content, blocks...)
		} else {
			out.Messages = append(out.Messages, message{Role: role, Content: blocks})
		}
	}

	stop, err := r.StopSequences()
	if err != nil {
		return nil, clientError("stop: %v", err)
	}
	ic := inferenceConfig{MaxTokens: r.MaxOutputTokens(), Temperature: r.Temperature, TopP: r.TopP, StopSequences: stop}
	if ic.MaxTokens > 0 || ic.Temperature != nil || ic.TopP != nil || len(ic.StopSequences) > 0 {
		out.InferenceConfig = &ic
	}
	if out.ToolConfig, err = toToolConfig(r.Tools, r.ToolChoice, usesTools); err != nil {
		return nil, err
	}
	if out.OutputConfig, err = toOutputConfig(r.ResponseFormat); err != nil {
		return nil, err
	}
	return out, nil
}

// userBlocks converts a user message's parts: text, inline images and
// inline files (documents).
func userBlocks(m *oai.Message, docs *int) ([]contentBlock, error) {
	parts, err := m.Parts()
	if err != nil {
		return nil, err
	}
	blocks := make([]contentBlock, 0, len(parts))
	for _, p := range parts {
		switch p.Type {
		case oai.PartText:
			if p.Text != "" {
				blocks = append(blocks, contentBlock{Text: p.Text})
			}
		case oai.PartImageURL:
			if p.ImageURL == nil {
				return nil, fmt.Errorf("image_url part without an image_url")
			}
			img, err := imageFromURL(p.ImageURL.URL)
			if err != nil {
				return nil, err
			}
			blocks = append(blocks, contentBlock{Image: img})
		case oai.PartFile:
			doc, err := documentFromFile(p.File, docs)
			if err != nil {
				return nil, err
			}
			blocks = append(blocks, contentBlock{Document: doc})
		default:
			return nil, fmt.Errorf("content part type %q is not supported by Bedrock channels", p.Type)
		}
	}
	return blocks, nil
}

// imageFormats are the image types Converse takes, by media type.
var imageFormats = map[string]string{
	"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg", "image/gif": "gif", "image/webp": "webp",
}

// imageFromURL takes an image given as a base64 data: URL. Bedrock fetches
// no URL, and the gateway never fetches one a client sends (that would let
// clients make it reach any host).
func imageFromURL(u string) (*imageBlock, error) {
	mediaType, data, ok := parseDataURL(u)
	if !ok {
		lower := strings.ToLower(u)
		if strings.HasPrefix(lower, "http://") || strings.HasPrefix(lower, "https://") {
			return nil, fmt.Errorf("Bedrock channels need images inline, as data: URLs (data:image/png;base64,...); the gateway does not fetch image URLs")
		}
		return nil, fmt.Errorf("image_url must be a base64 data: URL (data:image/png;base64,...)")
	}
	format, ok := imageFormats[strings.ToLower(mediaType)]
	if !ok {
		return nil, fmt.Errorf("image type %q is not supported by Bedrock (png, jpeg, gif, webp)", mediaType)
	}
	return &imageBlock{Format: format, Source: bytesSource{Bytes: data}}, nil
}

// documentFormats are the document types Converse takes, by media type.
var documentFormats = map[string]string{
	"application/pdf": "pdf", "text/csv": "csv", "text/html": "html", "text/plain": "txt", "text/markdown": "md",
	"application/msword": "doc", "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
	"application/vnd.ms-excel": "xls", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
}

// documentFromFile takes a file part given inline ({"file_data":"data:..."}).
func documentFromFile(raw json.RawMessage, docs *int) (*documentBlock, error) {
	var f struct {
		FileData string `json:"file_data"`
	}
	if err := json.Unmarshal(raw, &f); err != nil || f.FileData == "" {
		return nil, fmt.Errorf("Bedrock channels take files only inline, as file_data with a base64 data: URL (not file_id)")
	}
	mediaType, data, ok := parseDataURL(f.FileData)
	if !ok {
		return nil, fmt.Errorf("file_data must be a base64 data: URL (data:<media type>;base64,<data>)")
	}
	format, ok := documentFormats[strings.ToLower(mediaType)]
	if !ok {
		return nil, fmt.Errorf("file type %q is not supported by Bedrock (pdf, csv, doc, docx, xls, xlsx, html, txt, md)", mediaType)
	}
	*docs++
	return &documentBlock{Format: format, Name: fmt.Sprintf("document-%d", *docs), Source: bytesSource{Bytes: data}}, nil
}

// parseDataURL splits data:<media type>[;params];base64,<data>.
func parseDataURL(u string) (mediaType, data string, ok bool) {
	if len(u) < 5 || !strings.EqualFold(u[:5], "data:") {
		return "", "", false
	}
	meta, data, found := strings.Cut(u[5:], ",")
	meta, isBase64 := strings.CutSuffix(meta, ";base64")
	mediaType, _, _ = strings.Cut(meta, ";")
	if !found || !isBase64 || mediaType == "" || data == "" {
		return "", "", false
	}
	return mediaType, data, true
}

// assistantBlocks converts an assistant turn: its text, then its tool calls.
func assistantBlocks(m *oai.Message) ([]contentBlock, error) {
	text, err := m.Text()
	if err != nil {
		return nil, err
	}
	var blocks []contentBlock
	if text != "" {
		blocks = append(blocks, contentBlock{Text: text})
	}
	for _, tc := range m.ToolCalls {
		if tc.ID == "" || tc.Function.Name == "" {
			return nil, fmt.Errorf("a tool call needs an id and a function name")
		}
		args := bytes.TrimSpace([]byte(tc.Function.Arguments))
		if len(args) == 0 {
			args = []byte("{}")
		}
		if args[0] != '{' || !json.Valid(args) {
			return nil, fmt.Errorf("arguments of tool call %q are not a JSON object", tc.ID)
		}
		blocks = append(blocks, contentBlock{ToolUse: &toolUseBlock{ToolUseID: tc.ID, Name: tc.Function.Name, Input: args}})
	}
	return blocks, nil
}

// toolResultBlocks converts a tool message to a toolResult block: its text
// (and images) as the result's content.
func toolResultBlocks(m *oai.Message, docs *int) ([]contentBlock, error) {
	if m.ToolCallID == "" {
		return nil, fmt.Errorf("tool message without tool_call_id")
	}
	parts, err := userBlocks(m, docs)
	if err != nil {
		return nil, err
	}
	content := make([]toolResultContent, 0, len(parts))
	for _, b := range parts {
		switch {
		case b.Image != nil:
			content = append(content, toolResultContent{Image: b.Image})
		case b.Document != nil:
			return nil, fmt.Errorf("files are not supported in tool results by Bedrock channels")
		default:
			content = append(content, toolResultContent{Text: b.Text})
		}
	}
	if len(content) == 0 {
		content = append(content, toolResultContent{Text: ""})
	}
	return []contentBlock{{ToolResult: &toolResultBlock{ToolUseID: m.ToolCallID, Content: content}}}, nil
}

// defaultInputSchema is the schema of a function declared without
// parameters: Converse requires one.
var defaultInputSchema = json.RawMessage(`{"type":"object","properties":{}}`)

// toToolConfig converts tools and tool_choice. Converse has no "none": the
// tools are then left out, unless the conversation already holds tool calls
// or results, which Converse refuses without a toolConfig; there the model
// may still call a tool.
func toToolConfig(tools []oai.Tool, rawChoice json.RawMessage, usesTools bool) (*toolConfig, error) {
	choice, none, err := toToolChoice(rawChoice)
	if err != nil {
		return nil, err
	}
	if len(tools) == 0 || (none && !usesTools) {
		return nil, nil
	}
	tc := &toolConfig{Tools: make([]toolEntry, 0, len(tools))}
	for i, t := range tools {
		if t.Type != "function" || t.Function == nil {
			return nil, clientError("tools[%d]: tool type %q is not supported by Bedrock channels", i, t.Type)
		}
		schema := bytes.TrimSpace(t.Function.Parameters)
		if len(schema) == 0 || string(schema) == "null" {
			schema = defaultInputSchema
		}
		tc.Tools = append(tc.Tools, toolEntry{ToolSpec: toolSpec{
			Name: t.Function.Name, Description: t.Function.Description, InputSchema: inputSchema{JSON: schema},
		}})
	}
	if !none {
		tc.ToolChoice = choice
	}
	return tc, nil
}

// toToolChoice maps "auto", "required", "none" and a named function.
func toToolChoice(raw json.RawMessage) (choice *toolChoice, none bool, err error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, false, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		switch s {
		case "auto":
			return &toolChoice{Auto: &struct{}{}}, false, nil
		case "required":
			return &toolChoice{Any: &struct{}{}}, false, nil
		case "none":
			return nil, true, nil
		}
		return nil, false, clientError("tool_choice %q is not supported by Bedrock channels", s)
	}
	var named struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if err := json.Unmarshal(raw, &named); err != nil || named.Type != "function" || named.Function.Name == "" {
		return nil, false, clientError(`tool_choice must be "none", "auto", "required" or {"type":"function","function":{"name":...}}`)
	}
	return &toolChoice{Tool: &namedTool{Name: named.Function.Name}}, false, nil
}

// toOutputConfig maps response_format json_schema to Converse's structured
// output; json_object has no equivalent and is dropped.
func toOutputConfig(rf *oai.ResponseFormat) (*outputConfig, error) {
	if rf == nil || rf.Type != "json_schema" {
		return nil, nil
	}
	var js struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Schema      json.RawMessage `json:"schema"`
	}
	if err := json.Unmarshal(rf.JSONSchema, &js); err != nil || len(bytes.TrimSpace(js.Schema)) == 0 {
		return nil, clientError("response_format.json_schema needs a schema")
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, js.Schema); err != nil {
		return nil, clientError("response_format.json_schema.schema: %v", err)
	}
	return &outputConfig{TextFormat: textFormat{Type: "json_schema", Structure: formatStructure{
		JSONSchema: jsonSchemaDefinition{Schema: compact.String(), Name: js.Name, Description: js.Description},
	}}}, nil
}

// fromConverseResponse builds the chat.completion.
func fromConverseResponse(cr *converseResponse, id, model string, created int64) *oai.ChatResponse {
	var (
		text, reasoning strings.Builder
		calls           []oai.ToolCall
	)
	if m := cr.Output.Message; m != nil {
		for _, b := range m.Content {
			switch {
			case b.ToolUse != nil:
				calls = append(calls, oai.ToolCall{
					ID: b.ToolUse.ToolUseID, Type: "function",
					Function: oai.FunctionCall{Name: b.ToolUse.Name, Arguments: compactArguments(b.ToolUse.Input)},
				})
			case b.ReasoningContent != nil && b.ReasoningContent.ReasoningText != nil:
				reasoning.WriteString(b.ReasoningContent.ReasoningText.Text)
			default:
				text.WriteString(b.Text)
			}
		}
	}
	msg := oai.Message{Role: "assistant", Content: oai.TextContent(text.String()), ToolCalls: calls, ReasoningContent: reasoning.String()}
	if text.Len() == 0 && len(calls) > 0 {
		msg.Content = json.RawMessage("null") // as OpenAI answers a tool-calling turn
	}
	out := &oai.ChatResponse{
		ID: id, Object: "chat.completion", Created: created, Model: model,
		Choices: []oai.ChatChoice{{Message: msg, FinishReason: finishReason(cr.StopReason)}},
	}
	if cr.Usage != nil {
		out.Usage = cr.Usage.toOAI()
	}
	return out
}

// compactArguments returns a toolUse input as OpenAI's arguments string.
func compactArguments(input json.RawMessage) string {
	var b bytes.Buffer
	if len(input) == 0 || json.Compact(&b, input) != nil || b.String() == "null" {
		return "{}"
	}
	return b.String()
}

// finishReason maps Converse's stopReason to OpenAI's finish_reason.
func finishReason(stopReason string) string {
	switch stopReason {
	case "max_tokens", "model_context_window_exceeded":
		return "length"
	case "tool_use":
		return "tool_calls"
	case "guardrail_intervened", "content_filtered":
		return "content_filter"
	}
	return "stop" // end_turn, stop_sequence and reasons Bedrock may add
}
