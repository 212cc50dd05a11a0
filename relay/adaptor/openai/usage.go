package openai

import (
	"encoding/json"

	"oneapi/relay/adaptor"
)

// wireUsage accepts every usage shape OpenAI and compatible vendors send:
// chat, completions and embeddings (prompt_tokens, completion_tokens, with
// their *_details), the Responses API, images and transcriptions
// (input_tokens, output_tokens, with input_tokens_details — or
// input_token_details, as transcriptions spell it), and DeepSeek's cache
// counts (prompt_cache_hit_tokens).
type wireUsage struct {
	PromptTokens       int            `json:"prompt_tokens"`
	CompletionTokens   int            `json:"completion_tokens"`
	TotalTokens        int            `json:"total_tokens"`
	InputTokens        int            `json:"input_tokens"`
	OutputTokens       int            `json:"output_tokens"`
	PromptDetails      *tokenDetails  `json:"prompt_tokens_details"`
	CompletionDetails  *tokenDetails  `json:"completion_tokens_details"`
	InputDetails       *tokenDetails  `json:"input_tokens_details"`
	InputDetailsSingle *tokenDetails  `json:"input_token_details"`
	OutputDetails      *tokenDetails  `json:"output_tokens_details"`
	PromptCacheHit     int            `json:"prompt_cache_hit_tokens"`
	ServerToolUse      *serverToolUse `json:"server_tool_use"`
}

type tokenDetails struct {
	CachedTokens    int `json:"cached_tokens"`
	AudioTokens     int `json:"audio_tokens"`
	ImageTokens     int `json:"image_tokens"`
	ReasoningTokens int `json:"reasoning_tokens"`
}

type serverToolUse struct {
	WebSearchRequests int `json:"web_search_requests"`
}

// parseUsage decodes a usage object (raw JSON) for mode. ok is false when it
// is null or not an object.
func parseUsage(raw []byte, mode adaptor.Mode) (adaptor.Usage, bool) {
	if adaptor.IsNull(raw) || raw[0] != '{' {
		return adaptor.Usage{}, false
	}
	var w wireUsage
	if err := json.Unmarshal(raw, &w); err != nil {
		return adaptor.Usage{}, false
	}
	return w.toUsage(mode), true
}

func (w *wireUsage) toUsage(mode adaptor.Mode) adaptor.Usage {
	u := adaptor.Usage{Reported: true}
	u.Input, u.Output = w.PromptTokens, w.CompletionTokens
	if u.Input == 0 && u.Output == 0 {
		u.Input, u.Output = w.InputTokens, w.OutputTokens
	}
	// Some vendors only fill total_tokens (One API's DoResponse handles the
	// same case); the split is unknown, so bill it as output.
	if u.Input == 0 && u.Output == 0 && w.TotalTokens > 0 {
		if mode == adaptor.ModeRerank || mode == adaptor.ModeEmbeddings {
			u.Input = w.TotalTokens // nothing is generated: it is all input
		} else {
			u.Output = w.TotalTokens
		}
	}
	for _, d := range []*tokenDetails{w.PromptDetails, w.InputDetails, w.InputDetailsSingle} {
		if d != nil {
			u.CacheRead = max(u.CacheRead, d.CachedTokens)
			u.AudioIn = max(u.AudioIn, d.AudioTokens)
			u.ImageIn = max(u.ImageIn, d.ImageTokens)
		}
	}
	if w.PromptCacheHit > 0 && u.CacheRead == 0 {
		u.CacheRead = w.PromptCacheHit
	}
	for _, d := range []*tokenDetails{w.CompletionDetails, w.OutputDetails} {
		if d != nil {
			u.Reasoning = max(u.Reasoning, d.ReasoningTokens)
			u.AudioOut = max(u.AudioOut, d.AudioTokens)
			u.ImageOut = max(u.ImageOut, d.ImageTokens)
		}
	}
	if mode == adaptor.ModeImages && u.ImageOut == 0 {
		// gpt-image-1 reports the generated image as output tokens.
		u.ImageOut = u.Output
	}
	if w.ServerToolUse != nil {
		u.WebSearch = w.ServerToolUse.WebSearchRequests
	}
	u.Normalize()
	return u
}
