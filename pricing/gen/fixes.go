package main

// Corrections of the mirrored LiteLLM table, each checked against the
// provider's published price list, and the few list prices neither source
// has for a model the project priced before. Keep this list short: a fix
// belongs upstream (BerriAI/litellm) too.

// litellmFixes patch entries by LiteLLM key.
var litellmFixes = map[string]func(*entry){
	// Listed as an embedding model with no output price; Gemini 1.5 Flash is
	// a chat model at $0.075 in and $0.30 out per 1M tokens (≤128k).
	"gemini/gemini-1.5-flash": func(e *entry) { e.mode, e.output = "chat", 0.3 },
}

// manualPrices are list prices (USD per 1M tokens) of models neither LiteLLM's
// table nor One API's defaults price; their source column reads "manual".
var manualPrices = map[string]entry{
	// Alibaba Model Studio (China): ¥0.5 in, ¥2 out per 1M tokens.
	"qwen-long": {mode: "chat", input: 0.07, output: 0.28, maxInput: 10000000, maxOutput: 8192},
}

func applyFixes(entries map[string]*entry) {
	for k, fix := range litellmFixes {
		if e, ok := entries[k]; ok {
			fix(e)
		}
	}
	for k, e := range manualPrices {
		if _, ok := entries[k]; !ok {
			e.key, e.provider = k, "manual"
			entries[k] = &e
		}
	}
}
