// Package pricing holds One API's price model: per-model ratios, completion
// ratios and group ratios, and the formula that turns token usage into quota.
//
// One ratio unit is $0.002 per 1K tokens ($2 per 1M), so a model's ratio is
// its input list price per 1M tokens divided by 2, and its completion ratio is
// output price ÷ input price. With the default QuotaPerUnit, 500 000 quota = 1 USD.
package pricing

import "math"

// Quota is One API's formula: ceil((prompt + completion × completionRatio) ×
// modelRatio × groupRatio), and at least 1 for a priced model.
func Quota(promptTokens, completionTokens int, modelRatio, completionRatio, groupRatio float64) int64 {
	ratio := modelRatio * groupRatio
	f := math.Ceil((float64(promptTokens) + float64(completionTokens)*completionRatio) * ratio)
	if f >= MaxQuota {
		// An absurd max_tokens must not wrap around to a tiny reservation:
		// saturate, so that no balance covers it.
		return MaxQuota
	}
	q := int64(f)
	if ratio != 0 && q <= 0 {
		q = 1
	}
	return q
}

// MaxQuota is what any request can cost at most: far beyond every balance,
// and small enough that sums of a few of them do not overflow.
const MaxQuota = 1 << 60

// Defaults for the settings of this package, under One API's option keys.
const (
	DefaultQuotaPerUnit = 500_000
	// DefaultUnpricedRatio is what a model with no price is billed at, as
	// One API does (30 = $60 per 1M tokens: deliberately expensive, so a
	// forgotten price never undercharges).
	DefaultUnpricedRatio = 30
)

// DefaultGroupRatio is the group multiplier table.
var DefaultGroupRatio = map[string]float64{"default": 1, "vip": 1, "svip": 1}

// price is input and output USD per 1M tokens.
type price struct{ in, out float64 }

// listPrices are the providers' public list prices (USD per 1M tokens) of the
// common models. Audio, image and moderation models keep One API's ratios.
var listPrices = map[string]price{
	// OpenAI
	"gpt-3.5-turbo": {0.5, 1.5}, "gpt-3.5-turbo-0125": {0.5, 1.5},
	"gpt-4": {30, 60}, "gpt-4-turbo": {10, 30}, "gpt-4-turbo-2024-04-09": {10, 30},
	"gpt-4o": {2.5, 10}, "gpt-4o-2024-08-06": {2.5, 10}, "gpt-4o-2024-11-20": {2.5, 10}, "chatgpt-4o-latest": {5, 15},
	"gpt-4o-mini": {0.15, 0.6}, "gpt-4o-mini-2024-07-18": {0.15, 0.6},
	"gpt-4.1": {2, 8}, "gpt-4.1-mini": {0.4, 1.6}, "gpt-4.1-nano": {0.1, 0.4},
	"gpt-5": {1.25, 10}, "gpt-5-mini": {0.25, 2}, "gpt-5-nano": {0.05, 0.4}, "gpt-5-chat-latest": {1.25, 10},
	"o1": {15, 60}, "o1-mini": {1.1, 4.4}, "o1-pro": {150, 600},
	"o3": {2, 8}, "o3-mini": {1.1, 4.4}, "o3-pro": {20, 80}, "o4-mini": {1.1, 4.4},
	"text-embedding-3-small": {0.02, 0.02}, "text-embedding-3-large": {0.13, 0.13}, "text-embedding-ada-002": {0.1, 0.1},
	"davinci-002": {2, 2}, "babbage-002": {0.4, 0.4}, "gpt-3.5-turbo-instruct": {1.5, 2},
	// Anthropic
	"claude-3-haiku-20240307": {0.25, 1.25}, "claude-3-5-haiku-20241022": {0.8, 4}, "claude-3-5-haiku-latest": {0.8, 4},
	"claude-3-opus-20240229": {15, 75}, "claude-3-5-sonnet-20240620": {3, 15}, "claude-3-5-sonnet-20241022": {3, 15},
	"claude-3-5-sonnet-latest": {3, 15}, "claude-3-7-sonnet-20250219": {3, 15}, "claude-3-7-sonnet-latest": {3, 15},
	"claude-sonnet-4-20250514": {3, 15}, "claude-sonnet-4-5": {3, 15}, "claude-sonnet-4-5-20250929": {3, 15},
	"claude-opus-4-20250514": {15, 75}, "claude-opus-4-1": {15, 75}, "claude-opus-4-1-20250805": {15, 75},
	"claude-haiku-4-5": {1, 5}, "claude-haiku-4-5-20251001": {1, 5},
	// Google Gemini
	"gemini-1.5-flash": {0.075, 0.3}, "gemini-1.5-pro": {1.25, 5},
	"gemini-2.0-flash": {0.1, 0.4}, "gemini-2.0-flash-lite": {0.075, 0.3},
	"gemini-2.5-flash": {0.3, 2.5}, "gemini-2.5-flash-lite": {0.1, 0.4}, "gemini-2.5-pro": {1.25, 10},
	"text-embedding-004": {0.02, 0.02},
	// DeepSeek
	"deepseek-chat": {0.28, 0.42}, "deepseek-reasoner": {0.28, 0.42},
	// Alibaba Qwen (international list prices)
	"qwen-turbo": {0.05, 0.2}, "qwen-plus": {0.4, 1.2}, "qwen-max": {1.6, 6.4},
	"qwen3-max": {1.2, 6}, "qwen3-coder-plus": {1, 5}, "qwen-long": {0.07, 0.28},
	// Zhipu GLM
	"glm-4-plus": {0.7, 0.7}, "glm-4-air": {0.14, 0.14}, "glm-4-flash": {0, 0},
	"glm-4.5": {0.6, 2.2}, "glm-4.5-air": {0.2, 1.1}, "glm-4.6": {0.6, 2.2},
}

// fixedRatios are models billed per request, per image, per second or per
// character in One API, kept at One API's ratios.
var fixedRatios = map[string]float64{
	"dall-e-2": 8, "dall-e-3": 20, "gpt-image-1": 5,
	"whisper-1": 15, "tts-1": 7.5, "tts-1-hd": 15, "tts-1-1106": 7.5, "tts-1-hd-1106": 15,
	"text-moderation-latest": 0.1, "text-moderation-stable": 0.1, "omni-moderation-latest": 0.1,
}

// DefaultModelRatio and DefaultCompletionRatio are the shipped price tables;
// operators edit them in settings (ModelRatio, CompletionRatio).
var DefaultModelRatio, DefaultCompletionRatio = buildDefaults()

func buildDefaults() (map[string]float64, map[string]float64) {
	mr := make(map[string]float64, len(listPrices)+len(fixedRatios))
	cr := make(map[string]float64, len(listPrices))
	for m, p := range listPrices {
		mr[m] = p.in / 2
		if p.in > 0 && p.out != p.in {
			cr[m] = math.Round(p.out/p.in*1000) / 1000
		}
	}
	for m, r := range fixedRatios {
		mr[m] = r
	}
	return mr, cr
}
