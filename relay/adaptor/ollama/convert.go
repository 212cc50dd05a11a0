package ollama

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"oneapi/relay/adaptor"
	"oneapi/relay/oai"
)

// chatRequest is POST /api/chat.
type chatRequest struct {
	Model    string          `json:"model"`
	Messages []message       `json:"messages"`
	Stream   bool            `json:"stream"` // Ollama streams unless told not to
	Tools    []oai.Tool      `json:"tools,omitempty"`
	Format   json.RawMessage `json:"format,omitempty"` // "json" or a JSON schema
	Options  *options        `json:"options,omitempty"`
}

type message struct {
	Role      string     `json:"role"`
	Content   string     `json:"content"`
	Thinking  string     `json:"thinking,omitempty"`
	Images    []string   `json:"images,omitempty"` // base64, no data: prefix
	ToolCalls []toolCall `json:"tool_calls,omitempty"`
	ToolName  string     `json:"tool_name,omitempty"`
}

type toolCall struct {
	Function struct {
		Name      string          `json:"name"`
		Arguments json.RawMessage `json:"arguments"` // an object, not a string as in OpenAI
	} `json:"function"`
}

// options are Ollama's model parameters.
type options struct {
	Temperature      *float64 `json:"temperature,omitempty"`
	TopP             *float64 `json:"top_p,omitempty"`
	NumPredict       *int     `json:"num_predict,omitempty"`
	Stop             []string `json:"stop,omitempty"`
	Seed             *int64   `json:"seed,omitempty"`
	FrequencyPenalty *float64 `json:"frequency_penalty,omitempty"`
	PresencePenalty  *float64 `json:"presence_penalty,omitempty"`
}

func (o *options) empty() bool {
	return o.Temperature == nil && o.TopP == nil && o.NumPredict == nil && len(o.Stop) == 0 && o.Seed == nil &&
		o.FrequencyPenalty == nil && o.PresencePenalty == nil
}

func newOptions(temperature, topP *float64, maxTokens int, stop []string, seed *int64, freq, pres *float64) *options {
	o := &options{Temperature: temperature, TopP: topP, Stop: stop, Seed: seed, FrequencyPenalty: freq, PresencePenalty: pres}
	if maxTokens > 0 {
		o.NumPredict = &maxTokens
	}
	if o.empty() {
		return nil
	}
	return o
}

func toChatRequest(req *adaptor.Request) ([]byte, error) {
	var chat oai.ChatRequest
	if err := json.Unmarshal(req.Body, &chat); err != nil {
		return nil, clientError("invalid_request", "invalid chat request: %v", err)
	}
	if chat.N != nil && *chat.N > 1 {
		return nil, clientError("unsupported_parameter", "n > 1 is not supported by Ollama.")
	}
	out := chatRequest{Model: req.Model, Stream: req.Stream, Tools: chat.Tools}
	if out.Model == "" {
		out.Model = chat.Model
	}
	// Tool results name their call by id; Ollama wants the function name.
	toolNames := map[string]string{}
	for i, m := range chat.Messages {
		om := message{Role: m.Role}
		if m.Role == "developer" {
			om.Role = "system"
		}
		parts, err := m.Parts()
		if err != nil {
			return nil, clientError("invalid_message", "messages[%d]: %v", i, err)
		}
		var text strings.Builder
		for _, p := range parts {
			switch p.Type {
			case oai.PartText:
				if text.Len() > 0 {
					text.WriteByte('\n')
				}
				text.WriteString(p.Text)
			case oai.PartImageURL:
				data, ok := dataURLBase64(p.ImageURL)
				if !ok {
					return nil, clientError("unsupported_content", "messages[%d]: Ollama takes images as data: URLs (base64), not by link.", i)
				}
				om.Images = append(om.Images, data)
			default:
				return nil, clientError("unsupported_content", "messages[%d]: %s content is not supported by Ollama.", i, p.Type)
			}
		}
		om.Content = text.String()
		om.Thinking = m.ReasoningContent
		for _, tc := range m.ToolCalls {
			var c toolCall
			c.Function.Name = tc.Function.Name
			args := strings.TrimSpace(tc.Function.Arguments)
			if args == "" {
				args = "{}"
			}
			if !json.Valid([]byte(args)) {
				return nil, clientError("invalid_message", "messages[%d]: tool call arguments must be JSON.", i)
			}
			c.Function.Arguments = json.RawMessage(args)
			om.ToolCalls = append(om.ToolCalls, c)
			toolNames[tc.ID] = tc.Function.Name
		}
		if m.Role == "tool" {
			om.ToolName = toolNames[m.ToolCallID]
		}
		out.Messages = append(out.Messages, om)
	}
	if rf := chat.ResponseFormat; rf != nil {
		switch rf.Type {
		case "json_object":
			out.Format = json.RawMessage(`"json"`)
		case "json_schema":
			var js struct {
				Schema json.RawMessage `json:"schema"`
			}
			if json.Unmarshal(rf.JSONSchema, &js) == nil && len(js.Schema) > 0 {
				out.Format = js.Schema
			}
		}
	}
	stop, err := chat.StopSequences()
	if err != nil {
		return nil, clientError("invalid_request", "stop: %v", err)
	}
	out.Options = newOptions(chat.Temperature, chat.TopP, chat.MaxOutputTokens(), stop, chat.Seed, chat.FrequencyPenalty, chat.PresencePenalty)
	return json.Marshal(out)
}

// dataURLBase64 returns the base64 payload of a data: URL image.
func dataURLBase64(img *oai.ImageURL) (string, bool) {
	if img == nil {
		return "", false
	}
	rest, ok := strings.CutPrefix(img.URL, "data:")
	if !ok {
		return "", false
	}
	meta, data, ok := strings.Cut(rest, ",")
	if !ok || !strings.HasSuffix(meta, ";base64") {
		return "", false
	}
	return data, true
}

// generateRequest is POST /api/generate.
type generateRequest struct {
	Model   string   `json:"model"`
	Prompt  string   `json:"prompt"`
	Suffix  string   `json:"suffix,omitempty"`
	Stream  bool     `json:"stream"`
	Options *options `json:"options,omitempty"`
}

func toGenerateRequest(req *adaptor.Request) ([]byte, error) {
	var c struct {
		Model            string          `json:"model"`
		Prompt           json.RawMessage `json:"prompt"`
		Suffix           string          `json:"suffix"`
		MaxTokens        *int            `json:"max_tokens"`
		Temperature      *float64        `json:"temperature"`
		TopP             *float64        `json:"top_p"`
		FrequencyPenalty *float64        `json:"frequency_penalty"`
		PresencePenalty  *float64        `json:"presence_penalty"`
		Stop             json.RawMessage `json:"stop"`
		Seed             *int64          `json:"seed"`
		N                *int            `json:"n"`
	}
	if err := json.Unmarshal(req.Body, &c); err != nil {
		return nil, clientError("invalid_request", "invalid completion request: %v", err)
	}
	texts, ids, err := (&oai.CompletionRequest{Prompt: c.Prompt}).ParsePrompt()
	if err != nil || ids > 0 || len(texts) != 1 {
		return nil, clientError("invalid_prompt", "Ollama channels take one text prompt per completion request.")
	}
	if c.N != nil && *c.N > 1 {
		return nil, clientError("unsupported_parameter", "n > 1 is not supported by Ollama.")
	}
	stop, err := (&oai.ChatRequest{Stop: c.Stop}).StopSequences()
	if err != nil {
		return nil, clientError("invalid_request", "stop: %v", err)
	}
	max := 0
	if c.MaxTokens != nil {
		max = *c.MaxTokens
	}
	model := req.Model
	if model == "" {
		model = c.Model
	}
	return json.Marshal(generateRequest{Model: model, Prompt: texts[0], Suffix: c.Suffix, Stream: req.Stream,
		Options: newOptions(c.Temperature, c.TopP, max, stop, c.Seed, c.FrequencyPenalty, c.PresencePenalty)})
}

// embedRequest is POST /api/embed.
type embedRequest struct {
	Model      string          `json:"model"`
	Input      json.RawMessage `json:"input"`
	Dimensions *int            `json:"dimensions,omitempty"`
}

func toEmbedRequest(req *adaptor.Request) ([]byte, error) {
	var e oai.EmbeddingRequest
	if err := json.Unmarshal(req.Body, &e); err != nil {
		return nil, clientError("invalid_request", "invalid embeddings request: %v", err)
	}
	if _, ids, err := e.ParseInput(); err != nil || ids > 0 {
		return nil, clientError("invalid_input", "Ollama embeds text: input must be a string or an array of strings.")
	}
	model := req.Model
	if model == "" {
		model = e.Model
	}
	return json.Marshal(embedRequest{Model: model, Input: e.Input, Dimensions: e.Dimensions})
}

// fromToolCalls turns Ollama's tool calls (arguments as objects, no ids)
// into OpenAI's, numbered from first.
func fromToolCalls(calls []toolCall, first int, withIndex bool) []oai.ToolCall {
	out := make([]oai.ToolCall, 0, len(calls))
	for i, c := range calls {
		args := bytes.TrimSpace(c.Function.Arguments)
		if len(args) == 0 || string(args) == "null" {
			args = []byte("{}")
		}
		tc := oai.ToolCall{ID: "call_" + strconv.Itoa(first+i), Type: "function",
			Function: oai.FunctionCall{Name: c.Function.Name, Arguments: string(args)}}
		if withIndex {
			n := first + i
			tc.Index = &n
		}
		out = append(out, tc)
	}
	return out
}
