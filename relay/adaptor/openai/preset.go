package openai

import "oneapi/relay/adaptor"

// Preset is what one OpenAI-compatible vendor does differently from
// OpenAI itself: where its API sits under a bare host, how it takes the key,
// the headers it wants and how its models are listed. Every vendor quirk
// lives here, in one table, never as a special case in the relay. The
// default base URL of each type is in adaptor.Types (the console shows it).
type Preset struct {
	// Prefix is the API version path put after a base URL that is a bare
	// host: "/v1" for most, Doubao's "/api/v3", Qianfan's "/v2". A base URL
	// that already ends in a version segment gets only the endpoint.
	Prefix string
	// Root: the API is at the host's root with no version at all
	// (Perplexity's https://api.perplexity.ai/chat/completions).
	Root bool
	// Paths replace an endpoint's path (without "/v1"), per mode: MiniMax's
	// chat is /text/chatcompletion_v2.
	Paths map[adaptor.Mode]string
	// Azure: /openai/deployments/{model}/{endpoint}?api-version=...
	Azure bool
	// KeyHeader carries the key as is; "" means "Authorization: Bearer KEY".
	KeyHeader string
	// ConfigHeaders sends a channel config value as a header, by config
	// key: OpenRouter's attribution headers, OpenAI's organization.
	ConfigHeaders map[string]string
	// Models is what "fetch models" offers for a vendor with no model
	// listing endpoint; empty means GET {prefix}/models.
	Models []string
}

// commonConfigHeaders apply to every OpenAI-type channel: OpenAI's own
// organization and project, which proxies in front of OpenAI pass on.
var commonConfigHeaders = map[string]string{"organization": "OpenAI-Organization", "project": "OpenAI-Project"}

// v1 is the preset of a vendor that copies OpenAI exactly: /v1 under the
// host, a bearer key, GET /v1/models.
var v1 = Preset{Prefix: "/v1"}

// presets has every OpenAI-compatible channel type (TestPresetsCoverTypes).
// Sources: One API's per-vendor adaptors (relay/adaptor/*/main.go) and the
// vendors' API docs.
var presets = map[int]Preset{
	adaptor.TypeOpenAI: v1, adaptor.TypeAPI2D: v1, adaptor.TypeCloseAI: v1, adaptor.TypeOpenAISB: v1,
	adaptor.TypeOpenAIMax: v1, adaptor.TypeOhMyGPT: v1, adaptor.TypeCustom: v1, adaptor.TypeAils: v1,
	adaptor.TypeAIProxy: v1, adaptor.TypeAPI2GPT: v1, adaptor.TypeAIGC2D: v1, adaptor.TypeFastGPT: v1,
	adaptor.TypeOpenAICompatible: v1,

	adaptor.TypeAzure: {Prefix: "/v1", Azure: true, KeyHeader: "api-key"},

	// Self-hosted servers: the base is wherever the operator runs them;
	// their /v1/models lists what they serve.
	adaptor.TypeVLLM: v1, adaptor.TypeSGLang: v1, adaptor.TypeLMStudio: v1,
	// Hugging Face's router to its Inference Providers: the default base
	// already ends in /v1; models are org/model, or org/model:provider to
	// pin one provider.
	adaptor.TypeHuggingFaceRouter: v1,

	adaptor.TypeSiliconFlow: v1, adaptor.TypeTogetherAI: v1, adaptor.TypeFireworks: v1,
	adaptor.TypeNovita: v1, // its base already ends in /v3/openai
	adaptor.TypeXAI:    v1, adaptor.TypeMistral: v1, adaptor.TypeGroq: v1, adaptor.TypeDeepSeek: v1,
	adaptor.TypeMoonshot: v1, adaptor.TypeStepFun: v1, adaptor.TypeLingYiWanWu: v1,

	adaptor.TypeDoubao:  {Prefix: "/api/v3", Models: []string{"doubao-seed-1-6-250615", "doubao-seed-1-6-thinking-250715", "doubao-seed-1-6-flash-250715", "doubao-1-5-pro-32k-250115", "doubao-1-5-pro-256k-250115", "doubao-1-5-lite-32k-250115", "doubao-1-5-vision-pro-32k-250115", "doubao-embedding-text-240715"}},
	adaptor.TypeMinimax: {Prefix: "/v1", Paths: map[adaptor.Mode]string{adaptor.ModeChat: "/text/chatcompletion_v2"}, Models: []string{"MiniMax-M1", "MiniMax-Text-01", "abab6.5s-chat", "abab6.5g-chat", "abab5.5s-chat", "embo-01"}},
	adaptor.TypeOpenRouter: {Prefix: "/v1", ConfigHeaders: map[string]string{
		// https://openrouter.ai/docs/api-reference/overview#headers: the
		// app's URL and name, for OpenRouter's rankings.
		"referer": "HTTP-Referer", "title": "X-Title",
	}},
	adaptor.TypePerplexity:             {Root: true, Models: []string{"sonar", "sonar-pro", "sonar-reasoning", "sonar-reasoning-pro", "sonar-deep-research", "r1-1776"}},
	adaptor.TypeBaichuan:               {Prefix: "/v1", Models: []string{"Baichuan4-Turbo", "Baichuan4-Air", "Baichuan4", "Baichuan3-Turbo", "Baichuan3-Turbo-128k", "Baichuan2-Turbo", "Baichuan-Text-Embedding"}},
	adaptor.TypeAI360:                  {Prefix: "/v1", Models: []string{"360gpt2-o1", "360gpt2-pro", "360gpt-pro", "360gpt-turbo", "360gpt-turbo-responsibility-8k", "embedding-bert-512-v1", "embedding_s1_v1"}},
	adaptor.TypeBaiduV2:                {Prefix: "/v2", Models: []string{"ernie-4.5-turbo-128k", "ernie-4.5-turbo-32k", "ernie-x1-turbo-32k", "ernie-4.0-turbo-8k", "ernie-3.5-8k", "ernie-speed-128k", "ernie-lite-8k", "deepseek-v3", "deepseek-r1", "embedding-v1", "bge-large-zh"}},
	adaptor.TypeXunfeiV2:               {Prefix: "/v1", Models: []string{"lite", "generalv3", "pro-128k", "generalv3.5", "max-32k", "4.0Ultra", "x1"}},
	adaptor.TypeAliBailian:             {Prefix: "/compatible-mode/v1"},
	adaptor.TypeGeminiOpenAICompatible: {Prefix: "/v1beta/openai"},
}

// PresetFor returns the preset of a channel type; a type missing from the
// table (there is none among the OpenAI-compatible ones) is taken as OpenAI.
func PresetFor(channelType int) Preset {
	if p, ok := presets[channelType]; ok {
		return p
	}
	return v1
}
