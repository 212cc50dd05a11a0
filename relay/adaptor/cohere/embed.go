package cohere

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"

	"oneapi/relay/adaptor"
	"oneapi/relay/oai"
)

// embedRequest is POST /v2/embed.
type embedRequest struct {
	Model           string   `json:"model"`
	Texts           []string `json:"texts"`
	InputType       string   `json:"input_type"`
	EmbeddingTypes  []string `json:"embedding_types"`
	OutputDimension *int     `json:"output_dimension,omitempty"`
}

func toEmbedRequest(ch *adaptor.Channel, req *adaptor.Request) ([]byte, error) {
	var e struct {
		oai.EmbeddingRequest
		InputType string `json:"input_type"` // Cohere's own, which clients may send as an extra field
	}
	if err := json.Unmarshal(req.Body, &e); err != nil {
		return nil, clientError("invalid_request", "invalid embeddings request: %v", err)
	}
	texts, ids, err := e.ParseInput()
	if err != nil || ids > 0 || len(texts) == 0 {
		return nil, clientError("invalid_input", "Cohere embeds text: input must be a string or an array of strings.")
	}
	it := e.InputType
	if it == "" {
		it = ch.Config["input_type"]
	}
	if it == "" {
		it = "search_document"
	}
	model := req.Model
	if model == "" {
		model = e.Model
	}
	return json.Marshal(embedRequest{Model: model, Texts: texts, InputType: it, EmbeddingTypes: []string{"float"}, OutputDimension: e.Dimensions})
}

// meta is the meta member of embed and rerank replies.
type meta struct {
	BilledUnits *struct {
		InputTokens *float64 `json:"input_tokens"`
		SearchUnits *float64 `json:"search_units"`
	} `json:"billed_units"`
}

func fromEmbed(req *adaptor.Request, body []byte) ([]byte, adaptor.Usage, error) {
	var r struct {
		Embeddings *struct {
			Float []json.RawMessage `json:"float"`
		} `json:"embeddings"`
		Meta *meta `json:"meta"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.Embeddings == nil || r.Embeddings.Float == nil {
		return nil, adaptor.Usage{}, badReply("embed reply", body, err)
	}
	var e oai.EmbeddingRequest
	_ = json.Unmarshal(req.Body, &e)
	type item struct {
		Object    string `json:"object"`
		Index     int    `json:"index"`
		Embedding any    `json:"embedding"`
	}
	items := make([]item, len(r.Embeddings.Float))
	for i, v := range r.Embeddings.Float {
		if len(v) == 0 || v[0] != '[' {
			return nil, adaptor.Usage{}, badReply("embedding", v, nil)
		}
		var emb any = v
		if e.EncodingFormat == "base64" {
			var fs []float32
			if err := json.Unmarshal(v, &fs); err != nil {
				return nil, adaptor.Usage{}, badReply("embedding", v, err)
			}
			buf := make([]byte, 4*len(fs))
			for j, f := range fs {
				binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(f))
			}
			emb = base64.StdEncoding.EncodeToString(buf)
		}
		items[i] = item{Object: "embedding", Index: i, Embedding: emb}
	}
	var u adaptor.Usage
	if r.Meta != nil && r.Meta.BilledUnits != nil && r.Meta.BilledUnits.InputTokens != nil {
		u.Reported, u.Input = true, int(*r.Meta.BilledUnits.InputTokens)
	}
	out := struct {
		Object string     `json:"object"`
		Data   []item     `json:"data"`
		Model  string     `json:"model"`
		Usage  *oai.Usage `json:"usage,omitempty"`
	}{"list", items, req.Model, wireUsage(u)}
	b, err := json.Marshal(out)
	return b, u, err
}

// rerankRequest is POST /v2/rerank.
type rerankRequest struct {
	Model     string   `json:"model"`
	Query     string   `json:"query"`
	Documents []string `json:"documents"`
	TopN      *int     `json:"top_n,omitempty"`
}

func toRerankRequest(req *adaptor.Request) ([]byte, error) {
	var r oai.RerankRequest
	if err := json.Unmarshal(req.Body, &r); err != nil {
		return nil, clientError("invalid_request", "invalid rerank request: %v", err)
	}
	docs, err := r.Texts()
	if err != nil {
		return nil, clientError("invalid_input", "documents: %v", err)
	}
	model := req.Model
	if model == "" {
		model = r.Model
	}
	return json.Marshal(rerankRequest{Model: model, Query: r.Query, Documents: docs, TopN: r.TopN})
}

// fromRerank converts the results, adding the documents from the request
// when the client asked for them (v2 no longer returns them). Cohere bills
// rerank in search units, which are not tokens: the usage is left
// unreported, and the relay bills its own count of the query and documents.
func fromRerank(req *adaptor.Request, body []byte) ([]byte, adaptor.Usage, error) {
	var r struct {
		ID      string `json:"id"`
		Results []struct {
			Index          int      `json:"index"`
			RelevanceScore *float64 `json:"relevance_score"`
		} `json:"results"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.Results == nil {
		return nil, adaptor.Usage{}, badReply("rerank reply", body, err)
	}
	var rq oai.RerankRequest
	_ = json.Unmarshal(req.Body, &rq)
	docs, _ := rq.Texts()
	withDocs := rq.ReturnDocuments != nil && *rq.ReturnDocuments
	out := oai.RerankResponse{ID: r.ID, Object: "rerank", Model: req.Model, Results: make([]oai.RerankResult, 0, len(r.Results))}
	for _, x := range r.Results {
		if x.RelevanceScore == nil || x.Index < 0 || x.Index >= len(docs) {
			return nil, adaptor.Usage{}, badReply("rerank result", body, nil)
		}
		res := oai.RerankResult{Index: x.Index, RelevanceScore: *x.RelevanceScore}
		if withDocs {
			res.Document = &oai.RerankDocument{Text: docs[x.Index]}
		}
		out.Results = append(out.Results, res)
	}
	b, err := json.Marshal(out)
	return b, adaptor.Usage{}, err
}
