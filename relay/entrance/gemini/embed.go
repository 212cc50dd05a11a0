package gemini

import (
	"encoding/json"
	"fmt"
	"strings"
)

// EmbedRequest is the body of embedContent; BatchEmbedRequest that of
// batchEmbedContents.
type EmbedRequest struct {
	Model                string  `json:"model,omitempty"`
	Content              Content `json:"content"`
	TaskType             string  `json:"taskType,omitempty"`
	OutputDimensionality int     `json:"outputDimensionality,omitempty"`
}

// BatchEmbedRequest is {"requests":[EmbedRequest...]}.
type BatchEmbedRequest struct {
	Requests []EmbedRequest `json:"requests"`
}

// EmbeddingsBody converts an embedContent (batch false) or
// batchEmbedContents body to the canonical OpenAI embeddings request: one
// input per request, its text parts joined. Lost: taskType and title.
func EmbeddingsBody(body []byte, model string, batch bool) ([]byte, error) {
	var reqs []EmbedRequest
	if batch {
		var b BatchEmbedRequest
		if err := json.Unmarshal(body, &b); err != nil {
			return nil, bad("Invalid JSON payload received.")
		}
		if len(b.Requests) == 0 {
			return nil, bad("* BatchEmbedContentsRequest.requests: requests is not specified")
		}
		reqs = b.Requests
	} else {
		var r EmbedRequest
		if err := json.Unmarshal(body, &r); err != nil {
			return nil, bad("Invalid JSON payload received.")
		}
		reqs = []EmbedRequest{r}
	}
	inputs := make([]string, len(reqs))
	dims := 0
	for i, r := range reqs {
		if m := strings.TrimPrefix(r.Model, "models/"); m != "" && m != model {
			return nil, bad("requests[%d].model: %q differs from the model in the URL", i, r.Model)
		}
		var text []string
		for _, p := range r.Content.Parts {
			if p.Text != "" {
				text = append(text, p.Text)
			} else if p.InlineData != nil || p.FileData != nil {
				return nil, bad("requests[%d].content: only text parts are embedded on this channel", i)
			}
		}
		if len(text) == 0 {
			return nil, bad("requests[%d].content: no text to embed", i)
		}
		inputs[i] = strings.Join(text, "\n")
		if r.OutputDimensionality > 0 {
			dims = r.OutputDimensionality
		}
	}
	out := map[string]any{"model": model, "input": inputs}
	if dims > 0 {
		out["dimensions"] = dims
	}
	return json.Marshal(out)
}

// FromEmbeddings converts an OpenAI embeddings list to embedContent's
// reply ({"embedding":{"values"}}) or batchEmbedContents'
// ({"embeddings":[...]}).
func FromEmbeddings(reply []byte, batch bool) ([]byte, error) {
	var list struct {
		Data []struct {
			Index     int       `json:"index"`
			Embedding []float64 `json:"embedding"`
		} `json:"data"`
	}
	if err := json.Unmarshal(reply, &list); err != nil {
		return nil, fmt.Errorf("embeddings reply: %w", err)
	}
	type values struct {
		Values []float64 `json:"values"`
	}
	vs := make([]values, len(list.Data))
	for _, d := range list.Data {
		if d.Index < 0 || d.Index >= len(vs) {
			return nil, fmt.Errorf("embeddings reply: index %d out of range", d.Index)
		}
		vs[d.Index] = values{d.Embedding}
	}
	if batch {
		return json.Marshal(map[string]any{"embeddings": vs})
	}
	if len(vs) != 1 {
		return nil, fmt.Errorf("embeddings reply: %d embeddings for one request", len(vs))
	}
	return json.Marshal(map[string]any{"embedding": vs[0]})
}

// WithModel sets every request's model of a batchEmbedContents body to
// "models/"+model (a channel's model mapping: Gemini wants them to match
// the URL's).
func WithModel(body []byte, model string) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, err
	}
	var reqs []map[string]json.RawMessage
	if err := json.Unmarshal(m["requests"], &reqs); err != nil {
		return nil, err
	}
	name, _ := json.Marshal("models/" + model)
	for _, r := range reqs {
		r["model"] = name
	}
	m["requests"], _ = json.Marshal(reqs)
	return json.Marshal(m)
}
