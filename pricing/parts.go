package pricing

// Prices of the parts of a request that do not cost the input price: cache
// reads and writes, audio and image tokens, relative to the model's input
// price, for the common models whose providers list them; and the models'
// maximum output, which a reservation must cover.
var (
	DefaultCacheRatio = map[string]float64{
		// OpenAI: cached input at a quarter (GPT-4o family) or a tenth (GPT-5) of the input price.
		"gpt-4o": 0.5, "gpt-4o-2024-08-06": 0.5, "gpt-4o-2024-11-20": 0.5, "gpt-4o-mini": 0.5, "gpt-4o-mini-2024-07-18": 0.5,
		"gpt-4.1": 0.25, "gpt-4.1-mini": 0.25, "gpt-4.1-nano": 0.25, "o1": 0.5, "o3": 0.25, "o3-mini": 0.5, "o4-mini": 0.25,
		"gpt-5": 0.1, "gpt-5-mini": 0.1, "gpt-5-nano": 0.1, "gpt-5-chat-latest": 0.1,
		// Anthropic: cache reads at a tenth of the input price.
		"claude-3-5-haiku-20241022": 0.1, "claude-3-5-haiku-latest": 0.1, "claude-3-7-sonnet-20250219": 0.1, "claude-3-7-sonnet-latest": 0.1,
		"claude-sonnet-4-20250514": 0.1, "claude-sonnet-4-5": 0.1, "claude-sonnet-4-5-20250929": 0.1,
		"claude-opus-4-20250514": 0.1, "claude-opus-4-1": 0.1, "claude-opus-4-1-20250805": 0.1,
		"claude-haiku-4-5": 0.1, "claude-haiku-4-5-20251001": 0.1, "claude-3-haiku-20240307": 0.12,
		// Google: implicit and explicit cache hits at a quarter (2.5: a tenth).
		"gemini-2.5-pro": 0.25, "gemini-2.5-flash": 0.25, "gemini-2.5-flash-lite": 0.25, "gemini-2.0-flash": 0.25,
		// DeepSeek: cache hits at a tenth.
		"deepseek-chat": 0.1, "deepseek-reasoner": 0.1,
	}
	// Anthropic's 5-minute cache writes cost 1.25 times the input price.
	DefaultCacheWriteRatio = map[string]float64{
		"claude-3-5-haiku-20241022": 1.25, "claude-3-5-haiku-latest": 1.25, "claude-3-7-sonnet-20250219": 1.25, "claude-3-7-sonnet-latest": 1.25,
		"claude-sonnet-4-20250514": 1.25, "claude-sonnet-4-5": 1.25, "claude-sonnet-4-5-20250929": 1.25,
		"claude-opus-4-20250514": 1.25, "claude-opus-4-1": 1.25, "claude-opus-4-1-20250805": 1.25,
		"claude-haiku-4-5": 1.25, "claude-haiku-4-5-20251001": 1.25, "claude-3-haiku-20240307": 1.2,
	}
	DefaultAudioRatio           = map[string]float64{"gpt-4o-audio-preview": 16, "gpt-4o-mini-audio-preview": 66.667, "gpt-4o-transcribe": 2.4, "gpt-4o-mini-transcribe": 2.4}
	DefaultAudioCompletionRatio = map[string]float64{"gpt-4o-audio-preview": 32, "gpt-4o-mini-audio-preview": 133.333}
	// gpt-image-1: text input $5, image input $10, image output $40 per 1M tokens.
	DefaultImageRatio           = map[string]float64{"gpt-image-1": 2}
	DefaultImageCompletionRatio = map[string]float64{"gpt-image-1": 8}
)

// DefaultWebSearchCallQuota is what one web search tool call costs (before
// the group ratio): $10 per 1000 calls, OpenAI's and Anthropic's list price,
// at the default QuotaPerUnit.
const DefaultWebSearchCallQuota = 5000

// maxOutputs are the models' documented maximum output tokens.
var maxOutputs = map[string]int{
	"gpt-4o": 16384, "gpt-4o-2024-08-06": 16384, "gpt-4o-2024-11-20": 16384, "chatgpt-4o-latest": 16384,
	"gpt-4o-mini": 16384, "gpt-4o-mini-2024-07-18": 16384, "gpt-4.1": 32768, "gpt-4.1-mini": 32768, "gpt-4.1-nano": 32768,
	"gpt-4": 8192, "gpt-4-turbo": 4096, "gpt-3.5-turbo": 4096, "gpt-3.5-turbo-0125": 4096,
	"gpt-5": 128000, "gpt-5-mini": 128000, "gpt-5-nano": 128000, "gpt-5-chat-latest": 16384,
	"o1": 100000, "o1-mini": 65536, "o3": 100000, "o3-mini": 100000, "o4-mini": 100000,
	"claude-3-haiku-20240307": 4096, "claude-3-5-haiku-20241022": 8192, "claude-3-5-haiku-latest": 8192,
	"claude-3-5-sonnet-20240620": 8192, "claude-3-5-sonnet-20241022": 8192, "claude-3-5-sonnet-latest": 8192,
	"claude-3-7-sonnet-20250219": 64000, "claude-3-7-sonnet-latest": 64000, "claude-3-opus-20240229": 4096,
	"claude-sonnet-4-20250514": 64000, "claude-sonnet-4-5": 64000, "claude-sonnet-4-5-20250929": 64000,
	"claude-opus-4-20250514": 32000, "claude-opus-4-1": 32000, "claude-opus-4-1-20250805": 32000,
	"claude-haiku-4-5": 64000, "claude-haiku-4-5-20251001": 64000,
	"gemini-1.5-flash": 8192, "gemini-1.5-pro": 8192, "gemini-2.0-flash": 8192, "gemini-2.0-flash-lite": 8192,
	"gemini-2.5-flash": 65535, "gemini-2.5-flash-lite": 65535, "gemini-2.5-pro": 65535,
	"deepseek-chat": 8192, "deepseek-reasoner": 65536,
}

// MaxOutput is the model's maximum output tokens as its provider documents
// it, or 0 when unknown.
func MaxOutput(model string) int { return maxOutputs[model] }
