package tgi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"oneapi/relay/adaptor"
	"oneapi/relay/oai"
)

// generateRequest is TGI's native POST /generate and /generate_stream body.
type generateRequest struct {
	Inputs     string         `json:"inputs"`
	Parameters generateParams `json:"parameters"`
	Stream     bool           `json:"stream,omitempty"`
}

type generateParams struct {
	MaxNewTokens     *int     `json:"max_new_tokens,omitempty"`
	DoSample         bool     `json:"do_sample"`
	Temperature      *float64 `json:"temperature,omitempty"`
	TopP             *float64 `json:"top_p,omitempty"`
	FrequencyPenalty *float64 `json:"frequency_penalty,omitempty"`
	Stop             []string `json:"stop,omitempty"`
	Seed             *int64   `json:"seed,omitempty"`
	ReturnFullText   bool     `json:"return_full_text"`
	// Details is always on: the server's own token counts come with it.
	Details bool `json:"details"`
}

// sampling fills the sampling parameters as TGI takes them: temperature
// must be > 0 (0 means greedy: no sampling) and top_p inside (0, 1).
// OpenAI's default is sampling at temperature 1, so no temperature samples.
func (p *generateParams) sampling(temperature, topP *float64) {
	p.DoSample = temperature == nil || *temperature > 0
	if temperature != nil && *temperature > 0 {
		p.Temperature = temperature
	}
	if topP != nil && *topP > 0 && *topP < 1 {
		p.TopP = topP
	}
}

// toGenerateFromChat turns a chat request into a native generate call: the
// messages as a plain transcript ("System: ..., User: ..., Assistant:"),
// which base models continue well. Servers with the Messages API apply the
// model's own chat template instead; tools and images need it.
func toGenerateFromChat(req *adaptor.Request) (string, []byte, error) {
	var chat oai.ChatRequest
	if err := json.Unmarshal(req.Body, &chat); err != nil {
		return "", nil, clientError("invalid_request", "invalid chat request: %v", err)
	}
	if len(chat.Tools) > 0 || len(chat.Functions) > 0 {
		return "", nil, clientError("unsupported_parameter", "Tools need TGI's Messages API (TGI 1.4 or later); this channel uses the native generate API.")
	}
	if chat.N != nil && *chat.N > 1 {
		return "", nil, clientError("unsupported_parameter", "n > 1 is not supported by TGI's generate API.")
	}
	var b strings.Builder
	for i, m := range chat.Messages {
		parts, err := m.Parts()
		if err != nil {
			return "", nil, clientError("invalid_message", "messages[%d]: %v", i, err)
		}
		for _, p := range parts {
			if p.Type != oai.PartText {
				return "", nil, clientError("unsupported_content", "messages[%d]: %s content needs TGI's Messages API with a vision model; this channel uses the native generate API.", i, p.Type)
			}
		}
		text, _ := m.Text()
		switch m.Role {
		case "system", "developer":
			b.WriteString("System: ")
		case "user":
			b.WriteString("User: ")
		case "assistant":
			b.WriteString("Assistant: ")
		default:
			return "", nil, clientError("invalid_message", "messages[%d]: role %q needs TGI's Messages API; this channel uses the native generate API.", i, m.Role)
		}
		b.WriteString(text)
		b.WriteString("\n\n")
	}
	b.WriteString("Assistant:")
	stop, err := chat.StopSequences()
	if err != nil {
		return "", nil, clientError("invalid_request", "stop: %v", err)
	}
	// The transcript's next turn ends the answer, within TGI's default
	// limit of 4 stop sequences.
	if len(stop) < 4 {
		stop = append(stop, "\nUser:")
	}
	g := generateRequest{Inputs: b.String(), Stream: req.Stream, Parameters: generateParams{
		Stop: stop, Seed: chat.Seed, FrequencyPenalty: chat.FrequencyPenalty, Details: true,
	}}
	g.Parameters.sampling(chat.Temperature, chat.TopP)
	if n := chat.MaxOutputTokens(); n > 0 {
		g.Parameters.MaxNewTokens = &n
	}
	return nativePath(req.Stream), mustJSON(g), nil
}

// completionRequest is what a completion call to TGI uses.
type completionRequest struct {
	Prompt           json.RawMessage `json:"prompt"`
	MaxTokens        *int            `json:"max_tokens"`
	Temperature      *float64        `json:"temperature"`
	TopP             *float64        `json:"top_p"`
	FrequencyPenalty *float64        `json:"frequency_penalty"`
	Stop             json.RawMessage `json:"stop"`
	Seed             *int64          `json:"seed"`
	N                *int            `json:"n"`
	Echo             bool            `json:"echo"`
}

// toGenerateFromCompletion turns a completion request with one prompt into
// a native generate call.
func toGenerateFromCompletion(req *adaptor.Request) (string, []byte, error) {
	var c completionRequest
	if err := json.Unmarshal(req.Body, &c); err != nil {
		return "", nil, clientError("invalid_request", "invalid completion request: %v", err)
	}
	cr := oai.CompletionRequest{Prompt: c.Prompt}
	texts, ids, err := cr.ParsePrompt()
	if err != nil || ids > 0 || len(texts) != 1 {
		return "", nil, clientError("invalid_prompt", "TGI channels take one text prompt per completion request.")
	}
	if c.N != nil && *c.N > 1 {
		return "", nil, clientError("unsupported_parameter", "n > 1 is not supported by TGI's generate API.")
	}
	stop, err := (&oai.ChatRequest{Stop: c.Stop}).StopSequences()
	if err != nil {
		return "", nil, clientError("invalid_request", "stop: %v", err)
	}
	g := generateRequest{Inputs: texts[0], Stream: req.Stream, Parameters: generateParams{
		Stop: stop, Seed: c.Seed, FrequencyPenalty: c.FrequencyPenalty, ReturnFullText: c.Echo, Details: true,
		MaxNewTokens: c.MaxTokens,
	}}
	g.Parameters.sampling(c.Temperature, c.TopP)
	return nativePath(req.Stream), mustJSON(g), nil
}

func nativePath(stream bool) string {
	if stream {
		return pathGenerateStream
	}
	return pathGenerate
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // plain structs of strings and numbers always encode
	}
	return b
}

// generateResponse is /generate's reply (older servers wrap it in an array).
type generateResponse struct {
	GeneratedText string           `json:"generated_text"`
	Details       *generateDetails `json:"details"`
}

type generateDetails struct {
	FinishReason    string            `json:"finish_reason"`
	GeneratedTokens *int              `json:"generated_tokens"`
	InputLength     *int              `json:"input_length"` // stream details only
	Prefill         []json.RawMessage `json:"prefill"`
}

// finishReason maps TGI's finish reasons to OpenAI's.
func finishReason(r string) string {
	switch r {
	case "length":
		return "length"
	case "eos_token", "stop_sequence", "":
		return "stop"
	}
	return r
}

// maxGenerateReply bounds a /generate reply: details list every token.
const maxGenerateReply = 64 << 20

func (a *Adaptor) fromGenerate(req *adaptor.Request, resp *http.Response) ([]byte, adaptor.Usage, error) {
	defer resp.Body.Close()
	body, err := adaptor.ReadBody(resp, maxGenerateReply)
	if err != nil {
		return nil, adaptor.Usage{}, adaptor.TransportError(err)
	}
	var g generateResponse
	trimmed := strings.TrimSpace(string(body))
	switch {
	case strings.HasPrefix(trimmed, "["):
		var arr []generateResponse
		if err := json.Unmarshal(body, &arr); err != nil || len(arr) != 1 {
			return nil, adaptor.Usage{}, badReply("generate reply", body, err)
		}
		g = arr[0]
	default:
		var probe struct {
			GeneratedText *string         `json:"generated_text"`
			Error         json.RawMessage `json:"error"`
		}
		if err := json.Unmarshal(body, &probe); err != nil {
			return nil, adaptor.Usage{}, badReply("generate reply", body, err)
		}
		if len(probe.Error) > 0 && string(probe.Error) != "null" {
			return nil, adaptor.Usage{}, errorFromBody(http.StatusBadGateway, resp.Header, body, requestKey(resp))
		}
		if probe.GeneratedText == nil {
			return nil, adaptor.Usage{}, badReply("generate reply", body, errors.New("no generated_text"))
		}
		_ = json.Unmarshal(body, &g)
	}
	usage := generateUsage(req, resp.Header, g.Details)
	fr := "stop"
	if g.Details != nil {
		fr = finishReason(g.Details.FinishReason)
	}
	id, created := a.newID(), a.now().Unix()
	var out any
	if req.Mode == adaptor.ModeCompletions {
		out = completionResponse{ID: "cmpl-" + id, Object: "text_completion", Created: created, Model: req.Model,
			Choices: []completionChoice{{Text: g.GeneratedText, FinishReason: &fr}}, Usage: wireUsage(usage)}
	} else {
		out = oai.ChatResponse{ID: "chatcmpl-" + id, Object: "chat.completion", Created: created, Model: req.Model,
			Choices: []oai.ChatChoice{{Message: oai.Message{Role: "assistant", Content: oai.TextContent(g.GeneratedText)}, FinishReason: fr}},
			Usage:   wireUsage(usage)}
	}
	return mustJSON(out), usage, nil
}

// generateUsage is the server's own count: output from
// details.generated_tokens (or x-generated-tokens), input from
// details.input_length, x-prompt-tokens or the prefill tokens. Only when the
// server says nothing of the input is the gateway's count used; with no
// output count at all the usage is left unreported, for the relay to count.
func generateUsage(req *adaptor.Request, h http.Header, d *generateDetails) adaptor.Usage {
	out, outOK := -1, false
	if d != nil && d.GeneratedTokens != nil {
		out, outOK = *d.GeneratedTokens, true
	} else if n, err := strconv.Atoi(h.Get("X-Generated-Tokens")); err == nil && n >= 0 {
		out, outOK = n, true
	}
	if !outOK {
		return adaptor.Usage{}
	}
	in := req.PromptTokens
	switch n, err := strconv.Atoi(h.Get("X-Prompt-Tokens")); {
	case d != nil && d.InputLength != nil:
		in = *d.InputLength
	case err == nil && n >= 0:
		in = n
	case d != nil && len(d.Prefill) > 0:
		in = len(d.Prefill)
	}
	u := adaptor.Usage{Reported: true}
	u.Input, u.Output = in, out
	return u
}

func wireUsage(u adaptor.Usage) *oai.Usage {
	if !u.Reported {
		return nil
	}
	return &oai.Usage{PromptTokens: u.Input, CompletionTokens: u.Output, TotalTokens: u.Input + u.Output}
}

// completionResponse is OpenAI's text completion and its stream chunks.
type completionResponse struct {
	ID      string             `json:"id"`
	Object  string             `json:"object"`
	Created int64              `json:"created"`
	Model   string             `json:"model"`
	Choices []completionChoice `json:"choices"`
	Usage   *oai.Usage         `json:"usage,omitempty"`
}

type completionChoice struct {
	Text         string          `json:"text"`
	Index        int             `json:"index"`
	Logprobs     json.RawMessage `json:"logprobs"`
	FinishReason *string         `json:"finish_reason"`
}
