package replicate

import (
	"encoding/json"
	"strconv"
	"strings"

	"oneapi/relay/adaptor/convert"
	"oneapi/relay/oai"
)

// chatInput is the input of a language model's prediction, in the names
// Replicate's official language models take.
type chatInputs struct {
	Prompt           string   `json:"prompt"`
	SystemPrompt     string   `json:"system_prompt,omitempty"`
	MaxTokens        int      `json:"max_tokens,omitempty"`
	Temperature      *float64 `json:"temperature,omitempty"`
	TopP             *float64 `json:"top_p,omitempty"`
	PresencePenalty  *float64 `json:"presence_penalty,omitempty"`
	FrequencyPenalty *float64 `json:"frequency_penalty,omitempty"`
	Seed             *int64   `json:"seed,omitempty"`
	StopSequences    string   `json:"stop_sequences,omitempty"`
}

// chatInput turns a chat into a prompt: system messages become
// system_prompt; a single user turn is the prompt as it is, a longer
// conversation a transcript ending where the assistant speaks next.
func chatInput(body []byte) (*chatInputs, error) {
	cr, err := convert.ChatRequest(body)
	if err != nil {
		return nil, err
	}
	if err := convert.NoTools(cr, "Replicate"); err != nil {
		return nil, err
	}
	in := &chatInputs{MaxTokens: cr.MaxOutputTokens(), Temperature: cr.Temperature, TopP: cr.TopP,
		PresencePenalty: cr.PresencePenalty, FrequencyPenalty: cr.FrequencyPenalty, Seed: cr.Seed}
	stops, err := cr.StopSequences()
	if err != nil {
		return nil, convert.ClientError("stop: %v", err)
	}
	in.StopSequences = strings.Join(stops, ",")
	var system []string
	type turn struct{ role, text string }
	var turns []turn
	for i := range cr.Messages {
		m := &cr.Messages[i]
		text, err := convert.Text(m, "Replicate")
		if err != nil {
			return nil, err
		}
		switch m.Role {
		case "system", "developer":
			system = append(system, text)
		case "user", "assistant":
			turns = append(turns, turn{m.Role, text})
		default:
			return nil, convert.ClientError("Replicate takes user, assistant and system messages, not %q", m.Role)
		}
	}
	if len(turns) == 0 {
		return nil, convert.ClientError("the conversation has no user message")
	}
	in.SystemPrompt = strings.Join(system, "\n")
	if len(turns) == 1 && turns[0].role == "user" {
		in.Prompt = turns[0].text
		return in, nil
	}
	var b strings.Builder
	for _, t := range turns {
		name := "User"
		if t.role == "assistant" {
			name = "Assistant"
		}
		b.WriteString(name + ": " + t.text + "\n")
	}
	b.WriteString("Assistant:")
	in.Prompt = b.String()
	return in, nil
}

type imageInputs struct {
	Prompt      string `json:"prompt"`
	AspectRatio string `json:"aspect_ratio,omitempty"`
	NumOutputs  int    `json:"num_outputs,omitempty"`
}

// aspectRatios are those the official image models take.
var aspectRatios = map[string]bool{"1:1": true, "16:9": true, "21:9": true, "3:2": true, "2:3": true, "4:5": true, "5:4": true, "3:4": true, "4:3": true, "9:16": true, "9:21": true}

// imageInput maps an OpenAI image request: size "1792x1024" becomes the
// aspect ratio "7:4" if the models know it (else the model's default), n
// becomes num_outputs. Results are URLs; b64_json is refused rather than
// fetched from the delivery host.
func imageInput(body []byte) (*imageInputs, error) {
	var ir struct {
		oai.ImageRequest
		ResponseFormat string `json:"response_format"`
	}
	if err := json.Unmarshal(body, &ir); err != nil {
		return nil, convert.ClientError("the request body is not an image request: %v", err)
	}
	if ir.Prompt == "" {
		return nil, convert.ClientError("prompt must not be empty")
	}
	if ir.ResponseFormat == "b64_json" {
		return nil, convert.ClientError(`Replicate predictions return URLs: ask for response_format "url"`)
	}
	in := &imageInputs{Prompt: ir.Prompt}
	if w, h, ok := strings.Cut(ir.Size, "x"); ok {
		wi, err1 := strconv.Atoi(w)
		hi, err2 := strconv.Atoi(h)
		if err1 == nil && err2 == nil && wi > 0 && hi > 0 {
			g := gcd(wi, hi)
			if r := strconv.Itoa(wi/g) + ":" + strconv.Itoa(hi/g); aspectRatios[r] {
				in.AspectRatio = r
			}
		}
	}
	if ir.N != nil && *ir.N > 1 {
		in.NumOutputs = *ir.N
	}
	return in, nil
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
