package tgi

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"
	"strconv"

	"oneapi/relay/adaptor"
	"oneapi/relay/oai"
)

// embedRequest is TEI's POST /embed body.
type embedRequest struct {
	Inputs     json.RawMessage `json:"inputs"` // a string, strings, token ids
	Truncate   bool            `json:"truncate"`
	Dimensions *int            `json:"dimensions,omitempty"`
}

func toEmbed(ch *adaptor.Channel, req *adaptor.Request) (string, []byte, error) {
	var e oai.EmbeddingRequest
	if err := json.Unmarshal(req.Body, &e); err != nil {
		return "", nil, clientError("invalid_request", "invalid embeddings request: %v", err)
	}
	if e.EncodingFormat != "" && e.EncodingFormat != "float" && e.EncodingFormat != "base64" {
		return "", nil, clientError("invalid_encoding_format", "encoding_format must be float or base64.")
	}
	return pathEmbed, mustJSON(embedRequest{Inputs: e.Input, Truncate: ch.Config["truncate"] == "true", Dimensions: e.Dimensions}), nil
}

// maxEmbedReply bounds a TEI reply: a batch of large vectors as JSON text.
const maxEmbedReply = 128 << 20

// fromEmbed turns TEI's [[...], ...] into OpenAI's embeddings list, each
// vector as the server wrote it (or as base64 of float32s when the client
// asked for base64), with the usage of x-compute-tokens.
func (a *Adaptor) fromEmbed(req *adaptor.Request, resp *http.Response) ([]byte, adaptor.Usage, error) {
	defer resp.Body.Close()
	body, err := adaptor.ReadBody(resp, maxEmbedReply)
	if err != nil {
		return nil, adaptor.Usage{}, adaptor.TransportError(err)
	}
	var vecs []json.RawMessage
	if err := json.Unmarshal(body, &vecs); err != nil {
		return nil, adaptor.Usage{}, badReply("embeddings reply", body, err)
	}
	var e oai.EmbeddingRequest
	_ = json.Unmarshal(req.Body, &e)
	type item struct {
		Object    string `json:"object"`
		Index     int    `json:"index"`
		Embedding any    `json:"embedding"`
	}
	items := make([]item, len(vecs))
	for i, v := range vecs {
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
		} else if len(v) == 0 || v[0] != '[' {
			return nil, adaptor.Usage{}, badReply("embedding", v, nil)
		}
		items[i] = item{Object: "embedding", Index: i, Embedding: emb}
	}
	usage := computeTokens(resp.Header)
	out := struct {
		Object string     `json:"object"`
		Data   []item     `json:"data"`
		Model  string     `json:"model"`
		Usage  *oai.Usage `json:"usage,omitempty"`
	}{"list", items, req.Model, wireUsage(usage)}
	return mustJSON(out), usage, nil
}

// computeTokens is TEI's own count of what it read, x-compute-tokens; the
// usage is unreported (the relay counts) without it.
func computeTokens(h http.Header) adaptor.Usage {
	n, err := strconv.Atoi(h.Get("X-Compute-Tokens"))
	if err != nil || n < 0 {
		return adaptor.Usage{}
	}
	u := adaptor.Usage{Reported: true}
	u.Input = n
	return u
}

// rerankRequest is TEI's POST /rerank body.
type rerankRequest struct {
	Query      string   `json:"query"`
	Texts      []string `json:"texts"`
	ReturnText bool     `json:"return_text"`
	Truncate   bool     `json:"truncate"`
}

func toRerank(ch *adaptor.Channel, req *adaptor.Request) (string, []byte, error) {
	var r oai.RerankRequest
	if err := json.Unmarshal(req.Body, &r); err != nil {
		return "", nil, clientError("invalid_request", "invalid rerank request: %v", err)
	}
	texts, err := r.Texts()
	if err != nil {
		return "", nil, clientError("invalid_input", "documents: %v", err)
	}
	return pathRerank, mustJSON(rerankRequest{Query: r.Query, Texts: texts, ReturnText: r.ReturnDocuments != nil && *r.ReturnDocuments,
		Truncate: ch.Config["truncate"] == "true"}), nil
}

// fromRerank turns TEI's [{"index","score","text"}] (best first) into the
// rerank answer, cut to top_n.
func (a *Adaptor) fromRerank(req *adaptor.Request, resp *http.Response) ([]byte, adaptor.Usage, error) {
	defer resp.Body.Close()
	body, err := adaptor.ReadBody(resp, maxEmbedReply)
	if err != nil {
		return nil, adaptor.Usage{}, adaptor.TransportError(err)
	}
	var ranks []struct {
		Index int      `json:"index"`
		Score *float64 `json:"score"`
		Text  *string  `json:"text"`
	}
	if err := json.Unmarshal(body, &ranks); err != nil {
		return nil, adaptor.Usage{}, badReply("rerank reply", body, err)
	}
	var r oai.RerankRequest
	_ = json.Unmarshal(req.Body, &r)
	results := make([]oai.RerankResult, 0, len(ranks))
	for _, k := range ranks {
		if k.Score == nil || k.Index < 0 || k.Index >= len(r.Documents) {
			return nil, adaptor.Usage{}, badReply("rerank result", body, nil)
		}
		res := oai.RerankResult{Index: k.Index, RelevanceScore: *k.Score}
		if k.Text != nil {
			res.Document = &oai.RerankDocument{Text: *k.Text}
		}
		results = append(results, res)
	}
	if r.TopN != nil && *r.TopN >= 0 && *r.TopN < len(results) {
		results = results[:*r.TopN]
	}
	usage := computeTokens(resp.Header)
	return mustJSON(oai.RerankResponse{ID: "rerank-" + a.newID(), Object: "rerank", Model: req.Model, Results: results, Usage: wireUsage(usage)}), usage, nil
}
