package main

// Name selection: LiteLLM keys its table by how LiteLLM routes a model
// ("gpt-4o", "azure/gpt-4o", "gemini/gemini-2.5-pro", "bedrock/us-east-1/…",
// "openrouter/openai/gpt-4o"), often with the same model under several
// providers. The gateway needs one price per name a client sends to it. The
// rules, in order:
//
//  1. Keys that are not a model a client names are skipped: LiteLLM's
//     sample_spec and fallback rules, fine-tune patterns ("ft:…"), size and
//     quality variants ("1024-x-1024/dall-e-2", "hd/1024-x-1792/dall-e-3";
//     the relay applies its own size factors), Fireworks' and Together's
//     size tiers ("fireworks-ai-up-to-4b"), Bedrock's regional, commitment and
//     invoke variants ("bedrock/us-east-1/…"), Azure's regional and
//     deployment-type variants ("azure/eu/…", "azure/global-standard/…"),
//     modes the gateway has no endpoint for (search, ocr, vector_store), local
//     runtimes (ollama, lemonade: the table prices them at 0, which is the
//     operator's own hardware, not a list price) and subscriptions
//     (github_copilot, chatgpt).
//  2. A provider's routing prefix is stripped ("gemini/gemini-2.5-pro" →
//     "gemini-2.5-pro", "fireworks_ai/accounts/fireworks/models/x" →
//     "accounts/fireworks/models/x", "openrouter/openai/gpt-4o" →
//     "openai/gpt-4o"): what remains is the name that provider's API takes.
//  3. When several entries give the same name, the one from the provider that
//     makes the model wins (rank 0: OpenAI, Anthropic, the Gemini API,
//     DeepSeek, Mistral, xAI, DashScope, Z.ai, Moonshot, Cohere, …), then the
//     clouds that sell it at list price (rank 1: Vertex AI, Bedrock, Azure,
//     …), then inference hosts (rank 2: Groq, Together, Fireworks, DeepInfra,
//     …), then aggregators and gateways (rank 3: OpenRouter, Vercel AI
//     Gateway). So resellers' duplicates drop out and a reseller prices a
//     name only when it is the only source of that name. Within a rank a bare
//     key beats a prefix-stripped one ("deepseek-chat" over
//     "deepseek/deepseek-chat"), then the more complete entry (more kinds
//     of tokens priced: Bedrock's Claude with its cache prices over Vertex's
//     without), then the higher input price (hosts price
//     open models differently and the gateway cannot know which host a
//     channel uses: it errs on the side of not undercharging), then the key.
//  4. Aliases add the names clients use for a model sold under another id:
//     Bedrock's "anthropic.claude-3-5-sonnet-20240620-v1:0" and Vertex's
//     "claude-3-5-sonnet@20240620" also price "claude-3-5-sonnet-20240620"
//     (Claude's own name, which Anthropic's entry no longer lists);
//     Anthropic's documented "-latest" and "-0" aliases take their
//     snapshot's price (anthropicAliases); and an
//     "org/model" name (OpenRouter, Vercel, Hugging Face style) whose org
//     makes the model ("openai/gpt-4o", "google/gemini-2.5-pro") takes the
//     maker's price for "model", replacing the reseller's copy. An alias
//     never displaces an entry of a better rank.
//  5. A zero price is a placeholder in most of the table, so an entry with no
//     positive price is skipped, except where the vendor really gives the
//     model away (Z.ai's and the Gemini API's free models, OpenRouter's
//     ":free" variants, OpenAI's moderation models).
//  6. An entry priced beyond any real list price (input above $200 or
//     output above $1000 per 1M tokens, an embedding above $10) is a unit
//     error in the table (W&B's hosted models at 10^5 times their price,
//     watsonx's mt0 and jais, Azure AI's jais-30b) and is skipped.
//  7. Tiered prices (DashScope, Volcengine) take the first tier: the price of
//     a request of ordinary length. Prices above 128k/200k/272k tokens,
//     batch, flex and priority tiers and one-hour cache writes are left out.

import (
	"encoding/json"
	"math"
	"regexp"
	"sort"
	"strings"
)

// entry is one LiteLLM entry in the units of package pricing's Entry.
type entry struct {
	key, provider, mode string
	// USD per 1M tokens.
	input, output, cacheRead, cacheWrite, audioIn, audioOut, imageIn, imageOut float64
	// USD per image, second, character, request or web search call.
	perImage, perSecond, perCharacter, perRequest, webSearch float64
	maxInput, maxOutput                                      int
	free                                                     bool // priced at 0 on purpose
}

func (e *entry) priced() bool {
	for _, f := range []float64{e.input, e.output, e.cacheRead, e.cacheWrite, e.audioIn, e.audioOut,
		e.imageIn, e.imageOut, e.perImage, e.perSecond, e.perCharacter, e.perRequest} {
		if f > 0 {
			return true
		}
	}
	return false
}

// kinds counts the kinds of prices e has.
func (e *entry) kinds() int {
	n := 0
	for _, f := range []float64{e.input, e.output, e.cacheRead, e.cacheWrite, e.audioIn, e.audioOut,
		e.imageIn, e.imageOut, e.perImage, e.perSecond, e.perCharacter, e.perRequest, e.webSearch} {
		if f > 0 {
			n++
		}
	}
	return n
}

// choice is a candidate price for one client-sent name.
type choice struct {
	name, key, provider string
	rank                int
	stripped, alias     bool
	entry               *entry
}

// Provider ranks (rule 3). Providers not listed are inference hosts (2).
var providerRank = map[string]int{
	// Model makers' own APIs.
	"openai": 0, "text-completion-openai": 0, "anthropic": 0, "gemini": 0, "deepseek": 0,
	"mistral": 0, "codestral": 0, "text-completion-codestral": 0, "xai": 0, "dashscope": 0,
	"zai": 0, "moonshot": 0, "minimax": 0, "volcengine": 0, "cohere": 0, "cohere_chat": 0,
	"ai21": 0, "voyage": 0, "jina_ai": 0, "perplexity": 0, "amazon_nova": 0, "meta_llama": 0,
	"palm": 0, "stability": 0, "black_forest_labs": 0, "recraft": 0, "elevenlabs": 0,
	"deepgram": 0, "assemblyai": 0, "soniox": 0, "runwayml": 0, "gigachat": 0, "inception": 0,
	"text-completion-inception": 0, "sarvam": 0, "aws_polly": 0, "morph": 0, "nlp_cloud": 0,
	"v0": 0, "manual": 0,
	// Clouds selling other makers' models (and Google's own, for Gemini).
	"vertex_ai": 1, "bedrock": 1, "bedrock_converse": 1, "bedrock_mantle": 1, "azure": 1,
	"azure_text": 1, "azure_ai": 1, "sagemaker": 1, "oci": 1, "watsonx": 1, "snowflake": 1,
	"databricks": 1,
	// Aggregators and gateways.
	"openrouter": 3, "vercel_ai_gateway": 3,
}

func rankOf(provider string) int {
	if strings.HasPrefix(provider, "vertex_ai") {
		return 1
	}
	if r, ok := providerRank[provider]; ok {
		return r
	}
	return 2
}

// skippedProviders are left out entirely (rule 1).
var skippedProviders = map[string]bool{"ollama": true, "lemonade": true, "github_copilot": true, "chatgpt": true}

// skippedModes have no endpoint in the gateway.
var skippedModes = map[string]bool{"search": true, "ocr": true, "vector_store": true, "": true}

// freeVendors give models away: their zero prices are real (rule 5).
var freeVendors = map[string]bool{"zai": true, "gemini": true}

// orgMakers maps the org of an "org/model" name to the providers that make
// its models (rule 4).
var orgMakers = map[string][]string{
	"openai": {"openai", "text-completion-openai"}, "anthropic": {"anthropic"},
	"google": {"gemini", "vertex_ai-language-models", "vertex_ai-embedding-models"},
	"x-ai":   {"xai"}, "xai": {"xai"}, "mistralai": {"mistral", "codestral"}, "mistral": {"mistral", "codestral"},
	"deepseek": {"deepseek"}, "deepseek-ai": {"deepseek"}, "qwen": {"dashscope"}, "alibaba": {"dashscope"},
	"cohere": {"cohere", "cohere_chat"}, "moonshotai": {"moonshot"}, "z-ai": {"zai"}, "zai": {"zai"},
	"zai-org": {"zai"}, "minimax": {"minimax"}, "perplexity": {"perplexity"}, "ai21": {"ai21"},
}

// anthropicAliases are Anthropic's documented aliases of a snapshot.
var anthropicAliases = map[string]string{
	"claude-3-opus-latest":     "claude-3-opus-20240229",
	"claude-3-5-haiku-latest":  "claude-3-5-haiku-20241022",
	"claude-3-5-sonnet-latest": "claude-3-5-sonnet-20241022",
	"claude-3-7-sonnet-latest": "claude-3-7-sonnet-20250219",
	"claude-sonnet-4-0":        "claude-sonnet-4-20250514",
	"claude-opus-4-0":          "claude-opus-4-20250514",
}

var (
	sizeSegment    = regexp.MustCompile(`^\d+-x-\d+$`)
	bedrockClaude  = regexp.MustCompile(`^anthropic\.(claude-(?:\d|[a-z]+-\d)[a-z0-9.-]*?)(?:-v\d+(?::\d+)?)?$`)
	vertexClaude   = regexp.MustCompile(`^(claude-[a-z0-9.-]+)@(\d{8})$`)
	sizeTierPrefix = []string{"fireworks-ai-", "together-ai-"}
)

// parseLiteLLM reads every usable entry of the table, keyed by LiteLLM key.
func parseLiteLLM(data []byte) (map[string]*entry, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, err
	}
	objs := make(map[string]map[string]any, len(raw))
	for k, v := range raw {
		var m map[string]any
		if json.Unmarshal(v, &m) == nil && m != nil {
			objs[k] = m
		}
	}
	entries := map[string]*entry{}
	for k, m := range objs {
		if e := toEntry(k, m); e != nil {
			entries[k] = e
		}
	}
	// A generated image priced only in its size variants takes the price of
	// a standard 1024×1024 image, the size the relay bills at factor 1.
	for k, e := range entries {
		if e.perImage > 0 || !strings.HasPrefix(e.mode, "image_") {
			continue
		}
		prefix, rest := "", k
		if i := strings.LastIndex(k, "/"); i >= 0 {
			prefix, rest = k[:i+1], k[i+1:]
		}
		for _, q := range []string{"medium/", "standard/", ""} {
			if v, ok := objs[prefix+q+"1024-x-1024/"+rest]; ok {
				if p := number(v["input_cost_per_image"]); p > 0 {
					e.perImage = p
					break
				}
			}
		}
	}
	applyFixes(entries)
	return entries, nil
}

func toEntry(key string, m map[string]any) *entry {
	provider, _ := m["litellm_provider"].(string)
	mode, _ := m["mode"].(string)
	if provider == "" || key == "sample_spec" || skippedProviders[provider] || skippedModes[mode] ||
		strings.HasPrefix(key, "ft:") {
		return nil
	}
	for _, seg := range strings.Split(key, "/") {
		if sizeSegment.MatchString(seg) {
			return nil
		}
	}
	for _, p := range sizeTierPrefix {
		if strings.HasPrefix(key, p) {
			return nil
		}
	}
	tier := m
	if tiers, ok := m["tiered_pricing"].([]any); ok && len(tiers) > 0 && number(m["input_cost_per_token"]) == 0 {
		if t, ok := tiers[0].(map[string]any); ok {
			tier = t
		}
	}
	e := &entry{
		key: key, provider: provider, mode: mode,
		input:        perMillion(number(tier["input_cost_per_token"])),
		output:       perMillion(number(tier["output_cost_per_token"])),
		cacheRead:    perMillion(number(tier["cache_read_input_token_cost"])),
		cacheWrite:   perMillion(number(m["cache_creation_input_token_cost"])),
		audioIn:      perMillion(number(m["input_cost_per_audio_token"])),
		audioOut:     perMillion(number(m["output_cost_per_audio_token"])),
		imageIn:      perMillion(number(m["input_cost_per_image_token"])),
		imageOut:     perMillion(number(m["output_cost_per_image_token"])),
		perImage:     usd(m["output_cost_per_image"]),
		perSecond:    usd(m["input_cost_per_second"]),
		perCharacter: usd(m["input_cost_per_character"]),
		perRequest:   usd(m["input_cost_per_query"]),
		maxInput:     int(number(m["max_input_tokens"])),
		maxOutput:    int(number(m["max_output_tokens"])),
	}
	if e.perImage == 0 && strings.HasPrefix(mode, "image_") {
		// LiteLLM keeps DALL·E's price per generated image as an input price.
		e.perImage = usd(m["input_cost_per_image"])
	}
	if e.perSecond == 0 {
		e.perSecond = usd(m["output_cost_per_second"])
	}
	if e.perRequest == 0 {
		e.perRequest = usd(m["input_cost_per_request"])
	}
	if s, ok := m["search_context_cost_per_query"].(map[string]any); ok {
		// The medium search context is OpenAI's default.
		e.webSearch = usd(s["search_context_size_medium"])
	}
	if e.input > 200 || e.output > 1000 || e.mode == "embedding" && e.input > 10 {
		return nil // rule 6
	}
	if !e.priced() {
		_, hasIn := m["input_cost_per_token"]
		e.free = hasIn && (freeVendors[provider] || strings.HasSuffix(key, ":free") ||
			(provider == "openai" && mode == "moderation"))
		if !e.free {
			return nil
		}
	}
	return e
}

func number(v any) float64 {
	f, _ := v.(float64)
	if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return 0
	}
	return f
}

func usd(v any) float64 {
	if f := number(v); f > 0 {
		return round10(f)
	}
	return 0
}

// clientName is the name a client sends for key under provider (rule 2),
// and whether a prefix was stripped; "" when the key is no such name.
func clientName(key, provider string) (string, bool) {
	name, stripped := key, false
	if i := strings.Index(key, "/"); i > 0 {
		first := key[:i]
		for _, p := range routePrefixes(provider) {
			if first == p {
				name, stripped = key[i+1:], true
				break
			}
		}
	}
	switch {
	case strings.HasPrefix(provider, "bedrock") || strings.HasPrefix(provider, "azure") && provider != "azure_ai":
		// Regions, commitments, deployment types and invoke variants.
		if strings.Contains(name, "/") {
			return "", false
		}
	case rankOf(provider) >= 2 && !stripped:
		// A host's key without its routing prefix is not a model id
		// ("replicateopenai/…").
		if strings.Contains(key, "/") {
			return "", false
		}
	}
	if strings.HasSuffix(name, "@default") {
		return "", false
	}
	return name, stripped
}

// routePrefixes are the first path segments LiteLLM uses for provider.
func routePrefixes(provider string) []string {
	ps := []string{provider, strings.ReplaceAll(provider, "_", "-")}
	if i := strings.IndexByte(provider, '-'); i > 0 {
		ps = append(ps, provider[:i]) // vertex_ai-language-models → vertex_ai
	}
	if i := strings.IndexByte(provider, '_'); i > 0 {
		ps = append(ps, provider[:i]) // azure_text → azure
	}
	return ps
}

func better(a, b *choice) bool {
	if a.rank != b.rank {
		return a.rank < b.rank
	}
	if a.alias != b.alias {
		return !a.alias
	}
	if a.stripped != b.stripped {
		return !a.stripped
	}
	if na, nb := a.entry.kinds(), b.entry.kinds(); na != nb {
		return na > nb
	}
	if a.entry.input != b.entry.input {
		return a.entry.input > b.entry.input
	}
	return a.key < b.key
}

// selectNames picks one entry per client-sent name. extraNames are other
// names clients send (One API's), for the "org/model" alias rule.
func selectNames(entries map[string]*entry, extraNames map[string]oneAPIRatio) []choice {
	best := map[string]*choice{}
	offer := func(c *choice) {
		if cur, ok := best[c.name]; !ok || better(c, cur) {
			best[c.name] = c
		}
	}
	for _, k := range sortedKeys(entries) {
		e := entries[k]
		name, stripped := clientName(k, e.provider)
		if name == "" {
			continue
		}
		c := &choice{name: name, key: k, provider: e.provider, rank: rankOf(e.provider), stripped: stripped, entry: e}
		offer(c)
		if m := bedrockClaude.FindStringSubmatch(name); m != nil && strings.HasPrefix(e.provider, "bedrock") {
			offer(&choice{name: m[1], key: k, provider: e.provider, rank: c.rank, alias: true, entry: e})
		}
		if m := vertexClaude.FindStringSubmatch(name); m != nil && strings.HasPrefix(e.provider, "vertex_ai") {
			offer(&choice{name: m[1] + "-" + m[2], key: k, provider: e.provider, rank: c.rank, alias: true, entry: e})
		}
	}
	names := map[string]bool{}
	for n := range best {
		names[n] = true
	}
	for n := range extraNames {
		names[n] = true
	}
	for _, n := range sortedKeys(names) {
		org, model, ok := strings.Cut(n, "/")
		if !ok {
			continue
		}
		maker, ok := best[model]
		if !ok || !contains(orgMakers[org], maker.provider) {
			continue
		}
		offer(&choice{name: n, key: maker.key, provider: maker.provider, rank: maker.rank, alias: true, entry: maker.entry})
	}
	for _, alias := range sortedKeys(anthropicAliases) {
		if snap, ok := best[anthropicAliases[alias]]; ok {
			offer(&choice{name: alias, key: snap.key, provider: snap.provider, rank: snap.rank, alias: true, entry: snap.entry})
		}
	}
	out := make([]choice, 0, len(best))
	for _, n := range sortedKeys(best) {
		out = append(out, *best[n])
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}
