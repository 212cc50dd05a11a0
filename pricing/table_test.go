package pricing

import (
	"math"
	"strings"
	"testing"
)

// The expected values are read off LiteLLM's JSON (USD per token × 1e6 ÷ 2
// for the ratio, output ÷ input for the completion ratio, and so on).
func TestDefaultRatiosFollowTheReferenceTable(t *testing.T) {
	tests := []struct {
		table map[string]float64
		name  string
		model string
		want  float64
	}{
		{DefaultModelRatio, "model", "gpt-4o", 1.25}, // $2.50 / 1M
		{DefaultCompletionRatio, "completion", "gpt-4o", 4},
		{DefaultCacheRatio, "cache", "gpt-4o", 0.5},
		{DefaultModelRatio, "model", "gpt-4o-mini", 0.075},
		{DefaultModelRatio, "model", "claude-sonnet-4-5", 1.5},
		{DefaultCompletionRatio, "completion", "claude-sonnet-4-5", 5},
		{DefaultCacheRatio, "cache", "claude-sonnet-4-5", 0.1},
		{DefaultCacheWriteRatio, "cache write", "claude-sonnet-4-5", 1.25},
		{DefaultModelRatio, "model", "gemini-2.5-pro", 0.625}, // the Gemini API's $1.25
		{DefaultCompletionRatio, "completion", "gemini-2.5-pro", 8},
		{DefaultCacheRatio, "cache", "gemini-2.5-pro", 0.1},
		{DefaultModelRatio, "model", "deepseek-chat", 0.14},
		{DefaultCompletionRatio, "completion", "deepseek-chat", 1.5},
		{DefaultModelRatio, "model", "text-embedding-3-small", 0.01},
		// A Bedrock id, and Claude's own name for the same snapshot, priced
		// from Bedrock because Anthropic's entry is gone from the table.
		{DefaultModelRatio, "model", "anthropic.claude-3-5-sonnet-20240620-v1:0", 1.5},
		{DefaultCompletionRatio, "completion", "anthropic.claude-3-5-sonnet-20240620-v1:0", 5},
		{DefaultModelRatio, "model", "claude-3-5-sonnet-20240620", 1.5},
		{DefaultModelRatio, "model", "claude-3-7-sonnet-latest", 1.5}, // Anthropic's alias of -20250219
		// Audio and image tokens priced apart.
		{DefaultAudioRatio, "audio", "gpt-4o-audio-preview", 16},               // $40 ÷ $2.50
		{DefaultAudioCompletionRatio, "audio out", "gpt-4o-audio-preview", 32}, // $80 ÷ $2.50
		{DefaultImageRatio, "image", "gpt-image-1", 2},                         // $10 ÷ $5
		{DefaultImageCompletionRatio, "image out", "gpt-image-1", 8},           // $40 ÷ $5
		// An OpenRouter-style name whose org makes the model: the maker's price.
		{DefaultModelRatio, "model", "openai/gpt-4o", 1.25},
		// Per-call models (One API's units).
		{DefaultModelRatio, "model", "dall-e-3", 20},
		{DefaultModelRatio, "model", "tts-1", 7.5},
		{DefaultModelRatio, "model", "whisper-1", 15},
		{DefaultModelRatio, "model", "omni-moderation-latest", 0.1},
		// One API's ratios where LiteLLM has no price.
		{DefaultModelRatio, "model", "ERNIE-4.0-8K", 8.52},
		{DefaultModelRatio, "model", "llama3-70b-8192", 0.295}, // One API's 0.000295, corrected ×1000
		{DefaultCompletionRatio, "completion", "llama3-70b-8192", 1.338983051},
		{DefaultModelRatio, "model", "claude-instant-1.2", 0.4},
		{DefaultCompletionRatio, "completion", "claude-instant-1.2", 3},
	}
	for _, tt := range tests {
		got, ok := tt.table[tt.model]
		if !ok || math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("%s ratio of %s = %v (present %v), want %v", tt.name, tt.model, got, ok, tt.want)
		}
	}
	for _, m := range []string{"text-embedding-3-small", "text-embedding-3-large", "gemini-embedding-001"} {
		if r, ok := DefaultCompletionRatio[m]; ok {
			t.Errorf("embedding model %s has completion ratio %v, want none", m, r)
		}
	}
	if _, ok := DefaultCacheWriteRatio["gpt-4o"]; ok {
		t.Error("gpt-4o has a cache write ratio; OpenAI does not price cache writes apart")
	}
}

func TestLookup(t *testing.T) {
	tests := []struct {
		model               string
		mode                string
		in, out             float64
		maxInput, maxOutput int
	}{
		{"gpt-4o", "chat", 2.5, 10, 128000, 16384},
		{"claude-sonnet-4-5", "chat", 3, 15, 200000, 64000},
		{"claude-opus-4-1", "chat", 15, 75, 200000, 32000},
		{"claude-haiku-4-5", "chat", 1, 5, 200000, 64000},
		{"gemini-2.5-pro", "chat", 1.25, 10, 1048576, 65535},
		{"text-embedding-3-small", "embedding", 0.02, 0, 8191, 0},
	}
	for _, tt := range tests {
		e, ok := Lookup(tt.model)
		if !ok || e.Mode != tt.mode || e.Input != tt.in || e.Output != tt.out || e.MaxInput != tt.maxInput || e.MaxOutput != tt.maxOutput {
			t.Errorf("Lookup(%s) = %+v, %v", tt.model, e, ok)
		}
	}
	if e, _ := Lookup("claude-sonnet-4-5"); e.CacheRead != 0.3 || e.CacheWrite != 3.75 || e.WebSearchCall != 0.01 {
		t.Errorf("claude-sonnet-4-5 cache and search prices: %+v", e)
	}
	if e, _ := Lookup("dall-e-3"); e.PerImage != 0.04 || e.Mode != "image_generation" {
		t.Errorf("dall-e-3: %+v", e)
	}
	if e, _ := Lookup("tts-1"); e.PerCharacter != 15e-6 {
		t.Errorf("tts-1: %+v", e)
	}
	if e, _ := Lookup("whisper-1"); e.PerSecond != 0.0001 {
		t.Errorf("whisper-1: %+v", e)
	}
	if e, _ := Lookup("rerank-v3.5"); e.PerRequest != 0.002 || e.Mode != "rerank" {
		t.Errorf("rerank-v3.5: %+v", e)
	}
	// Not names a client sends: size variants, fine-tune patterns, resellers'
	// routing prefixes, regional Bedrock variants, One API-only models.
	for _, m := range []string{"1024-x-1024/dall-e-2", "ft:gpt-4o-2024-08-06", "openrouter/openai/gpt-4o",
		"azure/gpt-4o", "gemini/gemini-2.5-pro", "bedrock/us-east-1/anthropic.claude-v2:1", "ERNIE-4.0-8K", "sample_spec"} {
		if _, ok := Lookup(m); ok {
			t.Errorf("Lookup(%q) found an entry", m)
		}
	}
}

func TestDefaultRatiosAreValid(t *testing.T) {
	all := map[string]map[string]float64{
		"model": DefaultModelRatio, "completion": DefaultCompletionRatio, "cache": DefaultCacheRatio,
		"cache write": DefaultCacheWriteRatio, "audio": DefaultAudioRatio, "audio completion": DefaultAudioCompletionRatio,
		"image": DefaultImageRatio, "image completion": DefaultImageCompletionRatio,
	}
	for name, m := range all {
		if len(m) == 0 {
			t.Errorf("%s table is empty", name)
		}
		for model, r := range m {
			if !(r >= 0) || math.IsInf(r, 0) {
				t.Errorf("%s ratio of %q = %v", name, model, r)
			}
			if name == "model" {
				continue
			}
			if mr, ok := DefaultModelRatio[model]; !ok || mr == 0 {
				t.Errorf("%s ratio of %q without a model price (%v)", name, model, mr)
			}
			if r == 1 && name != "completion" {
				t.Errorf("%s ratio of %q is 1: only prices that differ from the input belong there", name, model)
			}
		}
	}
	if n := len(DefaultModelRatio); n < 2000 {
		t.Errorf("%d priced models, want the reference table's ~2000 and One API's ~400", n)
	}
}

// Every model the hand-written table priced before the reference table
// replaced it is still priced.
func TestPreviouslyPricedModelsStayPriced(t *testing.T) {
	for _, m := range strings.Fields(`gpt-3.5-turbo gpt-3.5-turbo-0125 gpt-4 gpt-4-turbo gpt-4-turbo-2024-04-09
		gpt-4o gpt-4o-2024-08-06 gpt-4o-2024-11-20 chatgpt-4o-latest gpt-4o-mini gpt-4o-mini-2024-07-18 gpt-4.1
		gpt-4.1-mini gpt-4.1-nano gpt-5 gpt-5-mini gpt-5-nano gpt-5-chat-latest o1 o1-mini o1-pro o3 o3-mini o3-pro
		o4-mini text-embedding-3-small text-embedding-3-large text-embedding-ada-002 davinci-002 babbage-002
		gpt-3.5-turbo-instruct claude-3-haiku-20240307 claude-3-5-haiku-20241022 claude-3-5-haiku-latest
		claude-3-opus-20240229 claude-3-5-sonnet-20240620 claude-3-5-sonnet-20241022 claude-3-5-sonnet-latest
		claude-3-7-sonnet-20250219 claude-3-7-sonnet-latest claude-sonnet-4-20250514 claude-sonnet-4-5
		claude-sonnet-4-5-20250929 claude-opus-4-20250514 claude-opus-4-1 claude-opus-4-1-20250805 claude-haiku-4-5
		claude-haiku-4-5-20251001 gemini-1.5-flash gemini-1.5-pro gemini-2.0-flash gemini-2.0-flash-lite
		gemini-2.5-flash gemini-2.5-flash-lite gemini-2.5-pro text-embedding-004 deepseek-chat deepseek-reasoner
		qwen-turbo qwen-plus qwen-max qwen3-max qwen3-coder-plus qwen-long glm-4-plus glm-4-air glm-4-flash glm-4.5
		glm-4.5-air glm-4.6 dall-e-2 dall-e-3 gpt-image-1 whisper-1 tts-1 tts-1-hd tts-1-1106 tts-1-hd-1106
		text-moderation-latest text-moderation-stable omni-moderation-latest`) {
		if _, ok := DefaultModelRatio[m]; !ok {
			t.Errorf("%s lost its price", m)
		}
	}
}

// Names clients send to each vendor family One API serves are priced.
func TestVendorFamiliesArePriced(t *testing.T) {
	for _, m := range strings.Fields(`gpt-5 o3 claude-opus-4-5 gemini-2.5-flash deepseek-reasoner mistral-large-latest
		codestral-latest grok-4 grok-3-mini qwen-plus qwen3-max glm-4.6 glm-4.5-air kimi-k2-0905-preview moonshot-v1-8k
		ERNIE-Speed-128K hunyuan-turbo command-r-plus command-a-03-2025 embed-english-v3.0 rerank-2.5
		llama-3.3-70b-versatile llama-3.1-8b-instant anthropic.claude-3-haiku-20240307-v1:0
		us.anthropic.claude-sonnet-4-5-20250929-v1:0 amazon.nova-pro-v1:0 amazon.titan-embed-text-v2:0
		claude-sonnet-4-5@20250929 text-embedding-005 SparkDesk-v4.0 abab6.5-chat Baichuan2-Turbo yi-34b-chat-0205
		step-1-8k 360GPT_S2_V9 meta-llama/Llama-3.3-70B-Instruct accounts/fireworks/models/llama-v3p1-8b-instruct
		llama3-8b-8192(33)`) {
		if _, ok := DefaultModelRatio[m]; !ok {
			t.Errorf("%s has no price", m)
		}
	}
}

// fixedRatios are One API's numbers; where the reference table prices the
// model per image, character or second, the same conversion the other such
// models get gives the same ratio.
func TestFixedRatiosMatchTheTable(t *testing.T) {
	for m, fixed := range fixedRatios {
		e, ok := Lookup(m)
		if !ok {
			t.Errorf("%s: not in the reference table", m)
			continue
		}
		if e.Mode == "moderation" {
			if !e.free() {
				t.Errorf("%s: the table now prices moderations (%+v): revisit its fixed ratio", m, e)
			}
			continue
		}
		if e.Input > 0 {
			t.Errorf("%s: the table has a per-token price (%+v): it no longer needs a fixed ratio", m, e)
		}
		if r, ok := modelRatioOf(e); !ok || r != fixed {
			t.Errorf("%s: fixed ratio %v, the table's price gives %v (%v)", m, fixed, r, ok)
		}
	}
}

func TestParseTablesRefusesBadInput(t *testing.T) {
	good := "# c\n" + priceColumns + "\nm\tchat\t1\t2" + strings.Repeat("\t", 13) + "\tsrc\n"
	if m, err := parsePrices(good); err != nil || m["m"].Input != 1 || m["m"].Output != 2 {
		t.Fatalf("good table: %v %v", m, err)
	}
	for name, data := range map[string]string{
		"no header":      "# c\n",
		"wrong header":   "model\tmode\n",
		"short row":      priceColumns + "\nm\tchat\t1\n",
		"negative price": strings.Replace(good, "\t1\t", "\t-1\t", 1),
		"NaN price":      strings.Replace(good, "\t1\t", "\tNaN\t", 1),
		"duplicate":      good + strings.SplitAfter(good, "\n")[2],
	} {
		if _, err := parsePrices(data); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

// A model priced per request (Cohere's rerank searches) has its price in
// Lookup but no ratio: One API's ratios price tokens, and a ratio of 0 would
// make it free.
func TestPerRequestModelsHaveNoRatio(t *testing.T) {
	if e, ok := Lookup("rerank-v3.5"); !ok || e.PerRequest == 0 {
		t.Fatalf("rerank-v3.5: %+v %v", e, ok)
	}
	if r, ok := DefaultModelRatio["rerank-v3.5"]; ok {
		t.Errorf("rerank-v3.5 has ratio %v", r)
	}
}
