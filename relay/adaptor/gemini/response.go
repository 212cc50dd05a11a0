package gemini

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"oneapi/relay/adaptor"
	"oneapi/relay/oai"
)

// maxResponseSize bounds a non-stream reply held in memory.
const maxResponseSize = 64 << 20

// decodeChat converts a generateContent reply.
func decodeChat(req *adaptor.Request, resp *http.Response, body []byte) ([]byte, adaptor.Usage, error) {
	var gr generateContentResponse
	if err := json.Unmarshal(body, &gr); err != nil {
		return nil, adaptor.Usage{}, invalidResponse(body)
	}
	if gr.Error != nil {
		return nil, adaptor.Usage{}, bodyError(gr.Error, requestKey(resp))
	}
	if len(gr.Candidates) == 0 && blockReason(&gr) == "" {
		return nil, adaptor.Usage{}, invalidResponse(body)
	}
	out, err := json.Marshal(fromGeminiResponse(&gr, req.Model, time.Now()))
	if err != nil {
		return nil, adaptor.Usage{}, fmt.Errorf("encode chat completion: %w", err)
	}
	return out, toUsage(gr.UsageMetadata), nil
}

func invalidResponse(body []byte) *adaptor.UpstreamError {
	return &adaptor.UpstreamError{
		Status:  http.StatusBadGateway,
		Message: "Gemini answered 2xx without a usable reply: " + adaptor.Snippet(body, 200),
		Type:    "upstream_error",
		Class:   adaptor.ClassRetry,
	}
}

// fromGeminiResponse builds the chat.completion. A prompt Gemini blocked
// (promptFeedback.blockReason, no candidates) becomes one choice with empty
// content, a refusal naming the reason and finish_reason "content_filter",
// as OpenAI reports its own content filter; the prompt tokens stay billed.
func fromGeminiResponse(gr *generateContentResponse, model string, now time.Time) *oai.ChatResponse {
	cr := &oai.ChatResponse{
		ID:      completionID(gr),
		Object:  "chat.completion",
		Created: now.Unix(),
		Model:   model,
		Choices: make([]oai.ChatChoice, 0, len(gr.Candidates)),
		Usage:   toOAIUsage(gr.UsageMetadata),
	}
	if reason := blockReason(gr); reason != "" {
		refusal := blockedMessage(reason)
		cr.Choices = append(cr.Choices, oai.ChatChoice{
			Message:      oai.Message{Role: "assistant", Content: oai.TextContent(""), Refusal: &refusal},
			FinishReason: "content_filter",
		})
		return cr
	}
	for i := range gr.Candidates {
		c := &gr.Candidates[i]
		text, calls := candidateDelta(c)
		msg := oai.Message{Role: "assistant", ToolCalls: calls}
		switch {
		case text != "":
			msg.Content = oai.TextContent(text)
		case len(calls) > 0:
			msg.Content = json.RawMessage("null") // as OpenAI sends for tool calls only
		default:
			msg.Content = oai.TextContent("")
		}
		cr.Choices = append(cr.Choices, oai.ChatChoice{
			Index:        choiceIndex(c, i),
			Message:      msg,
			FinishReason: finishReason(c.FinishReason, len(calls) > 0),
		})
	}
	return cr
}

// candidateDelta returns a candidate's answer text (thought summaries
// left out) and its function calls as OpenAI tool calls (Index unset).
func candidateDelta(c *candidate) (string, []oai.ToolCall) {
	var (
		text  strings.Builder
		calls []oai.ToolCall
	)
	for _, p := range c.Content.Parts {
		switch {
		case p.Thought:
		case p.FunctionCall != nil:
			args := "{}"
			var compact bytes.Buffer
			if len(p.FunctionCall.Args) > 0 && json.Compact(&compact, p.FunctionCall.Args) == nil && compact.String() != "null" {
				args = compact.String()
			}
			id := "call_" + randomID()
			if p.ThoughtSignature != "" {
				id += thoughtSignatureSep + p.ThoughtSignature
			}
			calls = append(calls, oai.ToolCall{
				ID:       id,
				Type:     "function",
				Function: oai.FunctionCall{Name: p.FunctionCall.Name, Arguments: args},
			})
		default:
			text.WriteString(p.Text)
		}
	}
	return text.String(), calls
}

// choiceIndex is the candidate's index; Google omits index 0, so a missing
// index falls back to the position in the list.
func choiceIndex(c *candidate, position int) int {
	if c.Index != 0 {
		return c.Index
	}
	return position
}

// finishReason maps Gemini's finishReason to OpenAI's.
func finishReason(reason string, calledTools bool) string {
	switch reason {
	case "MAX_TOKENS":
		return "length"
	case "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII",
		"IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION":
		return "content_filter"
	}
	if calledTools {
		return "tool_calls"
	}
	return "stop"
}

func blockReason(gr *generateContentResponse) string {
	if len(gr.Candidates) == 0 && gr.PromptFeedback != nil {
		return gr.PromptFeedback.BlockReason
	}
	return ""
}

func blockedMessage(reason string) string {
	return "Gemini blocked the prompt (" + reason + ")."
}

// completionID uses Gemini's responseId when there is one.
func completionID(gr *generateContentResponse) string {
	if gr.ResponseID != "" {
		return "chatcmpl-" + gr.ResponseID
	}
	return "chatcmpl-" + randomID()
}

// toUsage counts thinking tokens as output (Google bills them so) and
// tool-use prompt tokens (grounding) as input; cached content is part of
// promptTokenCount, priced apart; audio and image parts come from the
// per-modality details.
func toUsage(m *usageMetadata) adaptor.Usage {
	if m == nil {
		return adaptor.Usage{}
	}
	u := adaptor.Usage{Reported: true}
	u.Input = m.PromptTokenCount + m.ToolUsePromptTokenCount
	u.CacheRead = m.CachedContentTokenCount
	u.Output = m.CandidatesTokenCount + m.ThoughtsTokenCount
	u.Reasoning = m.ThoughtsTokenCount
	for _, d := range m.PromptTokensDetails {
		if d.Modality == "AUDIO" {
			u.AudioIn += d.TokenCount
		}
	}
	for _, d := range m.CandidatesTokensDetails {
		switch d.Modality {
		case "AUDIO":
			u.AudioOut += d.TokenCount
		case "IMAGE":
			u.ImageOut += d.TokenCount
		}
	}
	return u
}

func toOAIUsage(m *usageMetadata) *oai.Usage {
	if m == nil {
		return nil
	}
	u := toUsage(m)
	ou := &oai.Usage{
		PromptTokens:     u.Input,
		CompletionTokens: u.Output,
		TotalTokens:      u.Input + u.Output,
	}
	if m.CachedContentTokenCount > 0 {
		ou.PromptTokensDetails = &oai.PromptTokensDetails{CachedTokens: m.CachedContentTokenCount}
	}
	if m.ThoughtsTokenCount > 0 {
		ou.CompletionTokensDetails = &oai.CompletionTokensDetails{ReasoningTokens: m.ThoughtsTokenCount}
	}
	return ou
}

// decodeEmbeddings converts a batchEmbedContents reply. Gemini reports no
// token usage for embeddings: the body carries the gateway's own count of
// the input (what is billed), and Usage.Reported is false.
func decodeEmbeddings(req *adaptor.Request, body []byte) ([]byte, adaptor.Usage, error) {
	var br batchEmbedResponse
	if err := json.Unmarshal(body, &br); err != nil || len(br.Embeddings) == 0 {
		return nil, adaptor.Usage{}, invalidResponse(body)
	}
	var opts struct {
		Model          string `json:"model"`
		EncodingFormat string `json:"encoding_format"`
	}
	_ = json.Unmarshal(req.Body, &opts) // NewRequest already decoded it
	model := req.Model
	if model == "" {
		model = opts.Model
	}
	out := embeddingResponse{Object: "list", Data: make([]embeddingData, len(br.Embeddings)), Model: model,
		Usage: embeddingUsage{PromptTokens: req.PromptTokens, TotalTokens: req.PromptTokens}}
	for i, e := range br.Embeddings {
		var v any = e.Values
		if e.Values == nil {
			v = []float64{}
		}
		if opts.EncodingFormat == "base64" {
			v = base64Floats(e.Values)
		}
		out.Data[i] = embeddingData{Object: "embedding", Index: i, Embedding: v}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, adaptor.Usage{}, fmt.Errorf("encode embeddings: %w", err)
	}
	var u adaptor.Usage
	u.Input = req.PromptTokens
	return b, u, nil
}

// base64Floats encodes values as OpenAI does for encoding_format=base64:
// little-endian float32s. (OpenAI's SDKs ask for base64 by default.)
func base64Floats(values []float64) string {
	b := make([]byte, 4*len(values))
	for i, f := range values {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(float32(f)))
	}
	return base64.StdEncoding.EncodeToString(b)
}
