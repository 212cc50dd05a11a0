package bedrock

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"

	"oneapi/relay/adaptor"
	"oneapi/relay/oai"
)

// Embeddings go to InvokeModel, whose body is the model's own format:
// Amazon Titan text embeddings take one text per call, Cohere Embed a list.

type embedFamily int

const (
	embedUnknown embedFamily = iota
	embedTitan
	embedCohere
)

// embedFamilyOf tells the format by the model id (inference profiles such
// as "us.cohere.embed-v4:0" included).
func embedFamilyOf(modelID string) embedFamily {
	switch id := strings.ToLower(modelID); {
	case strings.Contains(id, "titan-embed"):
		return embedTitan
	case strings.Contains(id, "cohere.embed"):
		return embedCohere
	}
	return embedUnknown
}

type titanEmbedRequest struct {
	InputText  string `json:"inputText"`
	Dimensions *int   `json:"dimensions,omitempty"` // Titan v2 only
}

type titanEmbedResponse struct {
	Embedding           []float64 `json:"embedding"`
	InputTextTokenCount *int      `json:"inputTextTokenCount"`
}

type cohereEmbedRequest struct {
	Texts           []string `json:"texts"`
	InputType       string   `json:"input_type"`
	OutputDimension *int     `json:"output_dimension,omitempty"` // Embed v4
}

// cohereEmbedResponse's embeddings are a list of vectors, or by type
// ({"float":[...]}) when embedding_types was asked for.
type cohereEmbedResponse struct {
	Embeddings json.RawMessage `json:"embeddings"`
}

// embedBody converts an OpenAI embeddings body for the model's family.
func embedBody(body []byte, modelID string) ([]byte, error) {
	var r oai.EmbeddingRequest
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, clientError("invalid embeddings request body: %v", err)
	}
	texts, tokenIDs, err := r.ParseInput()
	if err != nil {
		return nil, clientError("input: %v", err)
	}
	if tokenIDs > 0 {
		return nil, clientError("Bedrock channels take embeddings input as text, not token ids")
	}
	if len(texts) == 0 {
		return nil, clientError("input is empty")
	}
	var v any
	switch embedFamilyOf(modelID) {
	case embedTitan:
		if len(texts) != 1 {
			return nil, clientError("Amazon Titan embeddings take one input per request, not %d", len(texts))
		}
		v = titanEmbedRequest{InputText: texts[0], Dimensions: r.Dimensions}
	case embedCohere:
		// search_document: what an OpenAI-style client embeds is most often
		// the corpus; OpenAI's API has no input type to say otherwise.
		v = cohereEmbedRequest{Texts: texts, InputType: "search_document", OutputDimension: r.Dimensions}
	default:
		return nil, clientError("Bedrock channels serve embeddings of Amazon Titan and Cohere Embed models, not %q", modelID)
	}
	out, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode embeddings request: %w", err)
	}
	return out, nil
}

// embeddingResponse is OpenAI's embeddings reply.
type embeddingResponse struct {
	Object string          `json:"object"` // "list"
	Data   []embeddingData `json:"data"`
	Model  string          `json:"model"`
	Usage  embeddingUsage  `json:"usage"`
}

type embeddingData struct {
	Object    string `json:"object"` // "embedding"
	Index     int    `json:"index"`
	Embedding any    `json:"embedding"` // []float64, or base64 of float32s
}

type embeddingUsage struct {
	PromptTokens int `json:"prompt_tokens"`
	TotalTokens  int `json:"total_tokens"`
}

// decodeEmbeddings converts an InvokeModel reply. The input token count is
// Bedrock's: the X-Amzn-Bedrock-Input-Token-Count header it sets on every
// InvokeModel reply, else Titan's inputTextTokenCount; without either the
// gateway's own count is shown and Usage.Reported is false.
func decodeEmbeddings(req *adaptor.Request, resp *http.Response, body []byte) ([]byte, adaptor.Usage, error) {
	var vectors [][]float64
	var bodyCount *int
	switch embedFamilyOf(ModelID(req.Model)) {
	case embedTitan:
		var tr titanEmbedResponse
		if err := json.Unmarshal(body, &tr); err != nil || tr.Embedding == nil {
			return nil, adaptor.Usage{}, invalidResponse(body, err)
		}
		vectors, bodyCount = [][]float64{tr.Embedding}, tr.InputTextTokenCount
	case embedCohere:
		var cr cohereEmbedResponse
		if err := json.Unmarshal(body, &cr); err != nil {
			return nil, adaptor.Usage{}, invalidResponse(body, err)
		}
		if json.Unmarshal(cr.Embeddings, &vectors) != nil {
			var byType struct {
				Float [][]float64 `json:"float"`
			}
			if json.Unmarshal(cr.Embeddings, &byType) != nil {
				return nil, adaptor.Usage{}, invalidResponse(body, nil)
			}
			vectors = byType.Float
		}
	default:
		return nil, adaptor.Usage{}, fmt.Errorf("model %q is not an embeddings model Bedrock channels serve", req.Model)
	}
	if len(vectors) == 0 {
		return nil, adaptor.Usage{}, invalidResponse(body, nil)
	}

	var u adaptor.Usage
	if n, err := strconv.Atoi(resp.Header.Get("X-Amzn-Bedrock-Input-Token-Count")); err == nil && n >= 0 {
		u.Input, u.Reported = n, true
	} else if bodyCount != nil {
		u.Input, u.Reported = *bodyCount, true
	}
	shown := u.Input
	if !u.Reported {
		shown = req.PromptTokens
	}

	var opts struct {
		EncodingFormat string `json:"encoding_format"`
	}
	_ = json.Unmarshal(req.Body, &opts) // NewRequest already decoded it
	out := embeddingResponse{Object: "list", Data: make([]embeddingData, len(vectors)), Model: req.Model,
		Usage: embeddingUsage{PromptTokens: shown, TotalTokens: shown}}
	for i, v := range vectors {
		var e any = v
		if v == nil {
			e = []float64{}
		}
		if opts.EncodingFormat == "base64" {
			e = base64Floats(v)
		}
		out.Data[i] = embeddingData{Object: "embedding", Index: i, Embedding: e}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, adaptor.Usage{}, fmt.Errorf("encode embeddings: %w", err)
	}
	return b, u, nil
}

// base64Floats encodes values as OpenAI does for encoding_format=base64
// (the default of OpenAI's SDKs): little-endian float32s.
func base64Floats(values []float64) string {
	b := make([]byte, 4*len(values))
	for i, f := range values {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(float32(f)))
	}
	return base64.StdEncoding.EncodeToString(b)
}
