package pricing

import "math"

// Usage is what one request consumed, in named counters. Totals follow
// OpenAI's convention: Input counts every prompt token, those read from or
// written to a prompt cache and audio and image tokens included; Output
// counts every generated token, reasoning, audio and image tokens included.
// The other counters are parts of those totals (WebSearch excepted: it
// counts tool calls). Adaptors fill it from what each provider reports
// (Anthropic's input_tokens leaves the cache out, so its adaptor adds it in).
type Usage struct {
	Input      int `json:"input"`
	CacheRead  int `json:"cache_read,omitempty"`  // of Input: read from the prompt cache
	CacheWrite int `json:"cache_write,omitempty"` // of Input: written to the prompt cache
	AudioIn    int `json:"audio_in,omitempty"`    // of Input
	ImageIn    int `json:"image_in,omitempty"`    // of Input
	Output     int `json:"output"`
	Reasoning  int `json:"reasoning,omitempty"`  // of Output
	AudioOut   int `json:"audio_out,omitempty"`  // of Output
	ImageOut   int `json:"image_out,omitempty"`  // of Output
	WebSearch  int `json:"web_search,omitempty"` // web search tool calls
}

// Normalize clamps every counter to ≥ 0 and makes the parts fit their
// totals: a total smaller than its parts (a vendor that reports cached tokens
// beside the prompt rather than inside it) grows to hold them, so no part is
// billed twice or lost.
func (u *Usage) Normalize() {
	for _, p := range []*int{&u.Input, &u.CacheRead, &u.CacheWrite, &u.AudioIn, &u.ImageIn,
		&u.Output, &u.Reasoning, &u.AudioOut, &u.ImageOut, &u.WebSearch} {
		if *p < 0 {
			*p = 0
		}
	}
	if in := satAdd(u.CacheRead, u.CacheWrite, u.AudioIn, u.ImageIn); u.Input < in {
		u.Input = in
	}
	if out := satAdd(u.AudioOut, u.ImageOut); u.Output < out {
		u.Output = out
	}
	u.Reasoning = min(u.Reasoning, u.Output)
}

// Total is Input + Output.
func (u Usage) Total() int { return satAdd(u.Input, u.Output) }

func satAdd(xs ...int) int {
	s := 0
	for _, x := range xs {
		if x > math.MaxInt32 || s > math.MaxInt32 {
			return math.MaxInt32 * 2
		}
		s += x
	}
	return s
}

// Price is one model's price for one group in One API's units: Model is
// quota per input token (ratio 1 = $2 per 1M tokens), the others are
// multipliers of it, as One API's completion ratio is. Options.Price fills
// every field; a kind of token with no price of its own costs Model (× 1).
type Price struct {
	Model      float64 // input
	Completion float64 // output ÷ input
	CacheRead  float64 // cache read ÷ input
	CacheWrite float64 // cache write ÷ input
	AudioIn    float64 // audio input ÷ input
	AudioOut   float64 // audio output ÷ input
	ImageIn    float64 // image input ÷ input
	ImageOut   float64 // image output ÷ input
	WebSearch  float64 // quota per web search call (before the group ratio)
	Group      float64
}

// Cost is what u costs at p: ceil(group × (model × weighted tokens +
// web search)), at least 1 when anything was used at a non-zero price, and
// saturated at MaxQuota instead of overflowing. Never negative.
func Cost(p Price, u Usage) int64 {
	u.Normalize()
	textIn := u.Input - u.CacheRead - u.CacheWrite - u.AudioIn - u.ImageIn
	textOut := u.Output - u.AudioOut - u.ImageOut
	tokens := float64(textIn) +
		float64(u.CacheRead)*nonNeg(p.CacheRead) +
		float64(u.CacheWrite)*nonNeg(p.CacheWrite) +
		float64(u.AudioIn)*nonNeg(p.AudioIn) +
		float64(u.ImageIn)*nonNeg(p.ImageIn) +
		float64(textOut)*nonNeg(p.Completion) +
		float64(u.AudioOut)*nonNeg(p.AudioOut) +
		float64(u.ImageOut)*nonNeg(p.ImageOut)
	f := (tokens*nonNeg(p.Model) + float64(u.WebSearch)*nonNeg(p.WebSearch)) * nonNeg(p.Group)
	return toQuota(f, p.Model*p.Group != 0 && u.Total()+u.WebSearch > 0)
}

// PerCall is the cost of a request priced per call rather than per token
// (an image: n × size factor), One API's rule: model × group × 1000 × units.
func PerCall(p Price, units float64) int64 {
	return toQuota(nonNeg(p.Model)*nonNeg(p.Group)*1000*nonNeg(units), p.Model*p.Group != 0 && units > 0)
}

// AffordableOutput is how many output tokens quota pays for once the prompt
// (input tokens, billed at the input price) is paid: what a request may be
// allowed to generate so that it cannot cost more than was reserved. It is
// -1 when the prompt alone costs more, and math.MaxInt32 when output is free.
func AffordableOutput(p Price, promptTokens int, quota int64) int {
	perOut := nonNeg(p.Model) * nonNeg(p.Group) * nonNeg(p.Completion)
	left := float64(quota) - float64(max(promptTokens, 0))*nonNeg(p.Model)*nonNeg(p.Group)
	switch {
	case left < 0:
		return -1
	case perOut == 0:
		return math.MaxInt32
	}
	n := math.Floor(left / perOut)
	if n >= math.MaxInt32 {
		return math.MaxInt32
	}
	return int(n)
}

func nonNeg(f float64) float64 {
	if !(f > 0) || math.IsInf(f, 0) { // NaN, negatives and infinities price nothing
		return 0
	}
	return f
}

// toQuota rounds a non-negative cost up to whole quota, saturating; used
// makes it at least 1.
func toQuota(f float64, used bool) int64 {
	if f >= MaxQuota || math.IsInf(f, 1) {
		return MaxQuota
	}
	q := int64(math.Ceil(f))
	if q <= 0 && used {
		return 1
	}
	return max(q, 0)
}
