package main

import (
	"testing"
)

// A small table in LiteLLM's shape, one case per rule of names.go.
const miniTable = `{
  "sample_spec": {"litellm_provider": "x", "mode": "chat", "input_cost_per_token": 0},
  "gpt-4o": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 2.5e-06, "output_cost_per_token": 1e-05, "cache_read_input_token_cost": 1.25e-06, "max_output_tokens": 16384},
  "azure/gpt-4o": {"litellm_provider": "azure", "mode": "chat", "input_cost_per_token": 5e-06, "output_cost_per_token": 1.5e-05},
  "azure/eu/gpt-4o-2024-08-06": {"litellm_provider": "azure", "mode": "chat", "input_cost_per_token": 2.75e-06},
  "openrouter/openai/gpt-4o": {"litellm_provider": "openrouter", "mode": "chat", "input_cost_per_token": 9e-06},
  "openrouter/acme/only-here": {"litellm_provider": "openrouter", "mode": "chat", "input_cost_per_token": 1e-06},
  "ft:gpt-4o-2024-08-06": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 3.75e-06},
  "dall-e-3": {"litellm_provider": "openai", "mode": "image_generation", "input_cost_per_image": 0.04},
  "hd/1024-x-1024/dall-e-3": {"litellm_provider": "openai", "mode": "image_generation", "input_cost_per_pixel": 7.6e-08},
  "gpt-image-1": {"litellm_provider": "openai", "mode": "image_generation", "input_cost_per_token": 5e-06, "output_cost_per_image_token": 4e-05},
  "medium/1024-x-1024/gpt-image-1": {"litellm_provider": "openai", "mode": "image_generation", "input_cost_per_image": 0.042},
  "gemini/gemini-2.5-pro": {"litellm_provider": "gemini", "mode": "chat", "input_cost_per_token": 1.25e-06, "output_cost_per_token": 1e-05},
  "gemini-2.5-pro": {"litellm_provider": "vertex_ai-language-models", "mode": "chat", "input_cost_per_token": 1.5e-06, "output_cost_per_token": 1e-05},
  "deepseek-chat": {"litellm_provider": "deepseek", "mode": "chat", "input_cost_per_token": 2.8e-07, "output_cost_per_token": 4.2e-07},
  "deepseek/deepseek-chat": {"litellm_provider": "deepseek", "mode": "chat", "input_cost_per_token": 2.7e-07, "output_cost_per_token": 1.1e-06},
  "anthropic.claude-3-5-sonnet-20240620-v1:0": {"litellm_provider": "bedrock", "mode": "chat", "input_cost_per_token": 3e-06, "output_cost_per_token": 1.5e-05, "cache_read_input_token_cost": 3e-07},
  "vertex_ai/claude-3-5-sonnet@20240620": {"litellm_provider": "vertex_ai-anthropic_models", "mode": "chat", "input_cost_per_token": 3.3e-06, "output_cost_per_token": 1.65e-05},
  "anthropic.claude-v2:1": {"litellm_provider": "bedrock", "mode": "chat", "input_cost_per_token": 8e-06, "output_cost_per_token": 2.4e-05},
  "bedrock/us-east-1/anthropic.claude-v2:1": {"litellm_provider": "bedrock", "mode": "chat", "input_cost_per_token": 8e-06},
  "together_ai/meta-llama/Llama-3.3-70B-Instruct": {"litellm_provider": "together_ai", "mode": "chat", "input_cost_per_token": 8.8e-07, "output_cost_per_token": 8.8e-07},
  "deepinfra/meta-llama/Llama-3.3-70B-Instruct": {"litellm_provider": "deepinfra", "mode": "chat", "input_cost_per_token": 2.3e-07, "output_cost_per_token": 4e-07},
  "wandb/meta-llama/Llama-3.3-70B-Instruct": {"litellm_provider": "wandb", "mode": "chat", "input_cost_per_token": 0.071, "output_cost_per_token": 0.071},
  "together-ai-4.1b-8b": {"litellm_provider": "together_ai", "mode": "chat", "input_cost_per_token": 2e-07},
  "volcengine/placeholder": {"litellm_provider": "volcengine", "mode": "chat", "input_cost_per_token": 0, "output_cost_per_token": 0},
  "zai/glm-4.5-flash": {"litellm_provider": "zai", "mode": "chat", "input_cost_per_token": 0, "output_cost_per_token": 0},
  "ollama/llama3": {"litellm_provider": "ollama", "mode": "chat", "input_cost_per_token": 0},
  "dashscope/qwen-tiered": {"litellm_provider": "dashscope", "mode": "chat", "tiered_pricing": [{"input_cost_per_token": 4e-07, "output_cost_per_token": 1.2e-06, "range": [0, 32000]}, {"input_cost_per_token": 1.2e-06, "range": [32000, 128000]}]},
  "tavily/search": {"litellm_provider": "tavily", "mode": "search", "input_cost_per_query": 0.008}
}`

func TestSelectionRules(t *testing.T) {
	entries, err := parseLiteLLM([]byte(miniTable))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]choice{}
	for _, c := range selectNames(entries, map[string]oneAPIRatio{"openai/gpt-4o": {ratio: 5}}) {
		got[c.name] = c
	}
	tests := []struct {
		name, key string
		input     float64
	}{
		{"gpt-4o", "gpt-4o", 2.5},                                                      // the maker over Azure's and OpenRouter's copies
		{"openai/gpt-4o", "gpt-4o", 2.5},                                               // an org/model name takes the maker's price
		{"acme/only-here", "openrouter/acme/only-here", 1},                             // a reseller's only model stays
		{"gemini-2.5-pro", "gemini/gemini-2.5-pro", 1.25},                              // the Gemini API over Vertex's bare key
		{"deepseek-chat", "deepseek-chat", 0.28},                                       // a bare key over the prefixed one
		{"claude-3-5-sonnet-20240620", "anthropic.claude-3-5-sonnet-20240620-v1:0", 3}, // Bedrock's, with cache prices, over Vertex's
		{"claude-3-5-sonnet@20240620", "vertex_ai/claude-3-5-sonnet@20240620", 3.3},
		{"anthropic.claude-v2:1", "anthropic.claude-v2:1", 8},
		{"meta-llama/Llama-3.3-70B-Instruct", "together_ai/meta-llama/Llama-3.3-70B-Instruct", 0.88}, // the dearer host; W&B's unit error dropped
		{"dall-e-3", "dall-e-3", 0},
		{"gpt-image-1", "gpt-image-1", 5},
		{"glm-4.5-flash", "zai/glm-4.5-flash", 0},
		{"qwen-tiered", "dashscope/qwen-tiered", 0.4},
	}
	for _, tt := range tests {
		c, ok := got[tt.name]
		if !ok || c.key != tt.key || c.entry.input != tt.input {
			t.Errorf("%s: got key %q input %v (present %v), want %q %v", tt.name, c.key, c.entry.input, ok, tt.key, tt.input)
		}
	}
	if e := got["dall-e-3"].entry; e.perImage != 0.04 {
		t.Errorf("dall-e-3 per image = %v", e.perImage)
	}
	if e := got["gpt-image-1"].entry; e.perImage != 0.042 || e.imageOut != 40 {
		t.Errorf("gpt-image-1: per image %v (its medium 1024×1024 variant), image out %v", e.perImage, e.imageOut)
	}
	if e := got["qwen-tiered"].entry; e.output != 1.2 {
		t.Errorf("tiered output = %v, want the first tier's", e.output)
	}
	if !got["glm-4.5-flash"].entry.free {
		t.Error("Z.ai's free model is not marked free")
	}
	for _, name := range []string{"sample_spec", "ft:gpt-4o-2024-08-06", "hd/1024-x-1024/dall-e-3", "1024-x-1024/dall-e-3",
		"eu/gpt-4o-2024-08-06", "us-east-1/anthropic.claude-v2:1", "together-ai-4.1b-8b", "placeholder", "llama3",
		"search", "claude", "azure/gpt-4o", "openrouter/openai/gpt-4o"} {
		if c, ok := got[name]; ok {
			t.Errorf("%s is priced (from %s)", name, c.key)
		}
	}
}

func TestOneAPIFallback(t *testing.T) {
	ratios := map[string]oneAPIRatio{
		"gpt-4o":           {ratio: 2.5},
		"ERNIE-4.0-8K":     {ratio: 8.52},
		"claude-2.1":       {ratio: 4},
		"deepseek-chat":    {ratio: 0.07, completion: 2, hasCompletion: true},
		"llama3-70b-8192":  {ratio: 0.000295 * oneAPIScale("llama3-70b-8192")},
		"meta/llama-2-70b": {ratio: 325 * oneAPIScale("meta/llama-2-70b")},
	}
	rows := oneAPIFallback(ratios, []choice{{name: "gpt-4o"}, {name: "deepseek-chat"}})
	want := map[string]ratioRow{
		"ERNIE-4.0-8K":     {"ERNIE-4.0-8K", 8.52, 1},
		"claude-2.1":       {"claude-2.1", 4, 3}, // One API's rule for claude-
		"llama3-70b-8192":  {"llama3-70b-8192", 0.295, round10(0.79 / 0.59)},
		"meta/llama-2-70b": {"meta/llama-2-70b", 0.325, round10(2.75 / 0.65)},
	}
	if len(rows) != len(want) {
		t.Fatalf("rows %v, want %v", rows, want)
	}
	for _, r := range rows {
		if r != want[r.name] {
			t.Errorf("%+v, want %+v", r, want[r.name])
		}
	}
}
