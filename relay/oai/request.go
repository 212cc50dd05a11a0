package oai

import (
	"bytes"
	"encoding/json"
	"errors"
)

// EmbeddingRequest is the body of POST /v1/embeddings.
type EmbeddingRequest struct {
	Model string `json:"model"`
	// Input is a string, an array of strings, an array of token ids or an
	// array of such arrays. Read it with ParseInput.
	Input          json.RawMessage `json:"input"`
	EncodingFormat string          `json:"encoding_format,omitempty"`
	Dimensions     *int            `json:"dimensions,omitempty"`
	User           string          `json:"user,omitempty"`
}

// ParseInput returns the text inputs, and the number of tokens given
// directly as token ids (which need no counting).
func (r *EmbeddingRequest) ParseInput() (texts []string, tokenIDs int, err error) {
	return parsePrompt(r.Input)
}

// CompletionRequest is the body of the legacy POST /v1/completions, reduced to
// what the relay needs for metering.
type CompletionRequest struct {
	Model         string          `json:"model"`
	Prompt        json.RawMessage `json:"prompt"` // same shapes as EmbeddingRequest.Input
	MaxTokens     *int            `json:"max_tokens,omitempty"`
	N             *int            `json:"n,omitempty"`
	Stream        bool            `json:"stream,omitempty"`
	StreamOptions *StreamOptions  `json:"stream_options,omitempty"`
}

// ParsePrompt returns the text prompts and the count of prompt token ids.
func (r *CompletionRequest) ParsePrompt() (texts []string, tokenIDs int, err error) {
	return parsePrompt(r.Prompt)
}

// ImageRequest is the body of POST /v1/images/generations, reduced to what
// the relay needs for metering.
type ImageRequest struct {
	Model   string `json:"model,omitempty"`
	Prompt  string `json:"prompt"`
	N       *int   `json:"n,omitempty"`
	Size    string `json:"size,omitempty"`
	Quality string `json:"quality,omitempty"`
}

// SpeechRequest is the body of POST /v1/audio/speech, reduced to what the
// relay needs for metering.
type SpeechRequest struct {
	Model string `json:"model"`
	Input string `json:"input"`
	Voice string `json:"voice,omitempty"`
}

// Model is one entry of GET /v1/models.
type Model struct {
	ID      string `json:"id"`
	Object  string `json:"object"` // "model"
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

// ModelList is the body of GET /v1/models.
type ModelList struct {
	Object string  `json:"object"` // "list"
	Data   []Model `json:"data"`
}

// parsePrompt decodes a string | []string | []int | [][]int field.
func parsePrompt(raw json.RawMessage) (texts []string, tokenIDs int, err error) {
	c := bytes.TrimLeft(raw, " \t\r\n")
	if len(c) == 0 || string(c) == "null" {
		return nil, 0, nil
	}
	switch c[0] {
	case '"':
		var s string
		if err := json.Unmarshal(c, &s); err != nil {
			return nil, 0, err
		}
		return []string{s}, 0, nil
	case '[':
		var items []json.RawMessage
		if err := json.Unmarshal(c, &items); err != nil {
			return nil, 0, err
		}
		for _, it := range items {
			it = bytes.TrimLeft(it, " \t\r\n")
			if len(it) == 0 {
				continue
			}
			switch it[0] {
			case '"':
				var s string
				if err := json.Unmarshal(it, &s); err != nil {
					return nil, 0, err
				}
				texts = append(texts, s)
			case '[':
				var ids []int
				if err := json.Unmarshal(it, &ids); err != nil {
					return nil, 0, err
				}
				tokenIDs += len(ids)
			default:
				tokenIDs++ // one token id of a flat []int
			}
		}
		return texts, tokenIDs, nil
	}
	return nil, 0, errors.New("input: want a string or an array")
}

// RerankRequest is the body of POST /v1/rerank, the shape Cohere, Jina and
// the TEI-based servers share.
type RerankRequest struct {
	Model string `json:"model"`
	Query string `json:"query"`
	// Documents are strings or {"text": ...} objects; read them with Texts.
	Documents       []json.RawMessage `json:"documents"`
	TopN            *int              `json:"top_n,omitempty"`
	ReturnDocuments *bool             `json:"return_documents,omitempty"`
}

// Texts returns the documents' texts.
func (r *RerankRequest) Texts() ([]string, error) {
	out := make([]string, 0, len(r.Documents))
	for _, d := range r.Documents {
		d = bytes.TrimLeft(d, " \t\r\n")
		if len(d) > 0 && d[0] == '"' {
			var s string
			if err := json.Unmarshal(d, &s); err != nil {
				return nil, err
			}
			out = append(out, s)
			continue
		}
		var o struct {
			Text *string `json:"text"`
		}
		if err := json.Unmarshal(d, &o); err != nil || o.Text == nil {
			return nil, errors.New("a document is a string or an object with a text")
		}
		out = append(out, *o.Text)
	}
	return out, nil
}

// RerankResult is one entry of a RerankResponse: the document's index in
// the request, its score and, when asked for, the document.
type RerankResult struct {
	Index          int             `json:"index"`
	RelevanceScore float64         `json:"relevance_score"`
	Document       *RerankDocument `json:"document,omitempty"`
}

// RerankDocument is a returned document.
type RerankDocument struct {
	Text string `json:"text"`
}

// RerankResponse is the gateway's answer to /v1/rerank: results best first.
type RerankResponse struct {
	ID      string         `json:"id"`
	Object  string         `json:"object"` // "rerank"
	Model   string         `json:"model"`
	Results []RerankResult `json:"results"`
	Usage   *Usage         `json:"usage,omitempty"`
}
