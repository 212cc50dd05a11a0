package adaptor

// Channel types. The numbers are One API's (relay/channeltype/define.go) and
// are stored in the channels table, so they never change; new types go at
// the end.
const (
	TypeOpenAI                 = 1
	TypeAPI2D                  = 2
	TypeAzure                  = 3
	TypeCloseAI                = 4
	TypeOpenAISB               = 5
	TypeOpenAIMax              = 6
	TypeOhMyGPT                = 7
	TypeCustom                 = 8
	TypeAils                   = 9
	TypeAIProxy                = 10
	TypePaLM                   = 11
	TypeAPI2GPT                = 12
	TypeAIGC2D                 = 13
	TypeAnthropic              = 14
	TypeBaidu                  = 15
	TypeZhipu                  = 16
	TypeAli                    = 17
	TypeXunfei                 = 18
	TypeAI360                  = 19
	TypeOpenRouter             = 20
	TypeAIProxyLibrary         = 21
	TypeFastGPT                = 22
	TypeTencent                = 23
	TypeGemini                 = 24
	TypeMoonshot               = 25
	TypeBaichuan               = 26
	TypeMinimax                = 27
	TypeMistral                = 28
	TypeGroq                   = 29
	TypeOllama                 = 30
	TypeLingYiWanWu            = 31
	TypeStepFun                = 32
	TypeAwsClaude              = 33
	TypeCoze                   = 34
	TypeCohere                 = 35
	TypeDeepSeek               = 36
	TypeCloudflare             = 37
	TypeDeepL                  = 38
	TypeTogetherAI             = 39
	TypeDoubao                 = 40
	TypeNovita                 = 41
	TypeVertexAI               = 42
	TypeProxy                  = 43
	TypeSiliconFlow            = 44
	TypeXAI                    = 45
	TypeReplicate              = 46
	TypeBaiduV2                = 47
	TypeXunfeiV2               = 48
	TypeAliBailian             = 49
	TypeOpenAICompatible       = 50
	TypeGeminiOpenAICompatible = 51

	// Types One API does not have: ours, from 60 on.

	// TypeHuggingFace is a Hugging Face Text Generation Inference (TGI) or
	// Text Embeddings Inference (TEI) server, self-hosted or an Inference
	// Endpoint, in its native API (relay/adaptor/tgi).
	TypeHuggingFace = 60
	// TypeHuggingFaceRouter is Hugging Face's OpenAI-compatible router to
	// its Inference Providers (models named org/model[:provider]).
	TypeHuggingFaceRouter = 61
	TypeVLLM              = 62
	TypeSGLang            = 63
	TypeLMStudio          = 64
	TypeFireworks         = 65
	TypePerplexity        = 66
)

// Type describes a channel type for the console and the adaptors.
type Type struct {
	ID      int    `json:"id"`
	Name    string `json:"name"`
	BaseURL string `json:"base_url"` // default base URL; "" when the operator must give one
	// OpenAICompatible types speak OpenAI's wire format and are served by the
	// openai adaptor (One API's apitype.OpenAI). The others need their own
	// adaptor package.
	OpenAICompatible bool `json:"openai_compatible"`
}

// types is indexed by ID. Default base URLs are One API's
// (relay/channeltype/url.go), and the vendors' own for the types after 60.
// A "{region}" in one is the channel's region (Bedrock, Vertex AI): their
// adaptors build the real URL; the console shows the pattern. The
// per-vendor details of the OpenAI-compatible ones (path prefix, auth
// header, model listing) are the presets in relay/adaptor/openai.
var types = [...]Type{
	TypeOpenAI:                 {TypeOpenAI, "OpenAI", "https://api.openai.com", true},
	TypeAPI2D:                  {TypeAPI2D, "API2D", "https://oa.api2d.net", true},
	TypeAzure:                  {TypeAzure, "Azure OpenAI", "", true},
	TypeCloseAI:                {TypeCloseAI, "CloseAI", "https://api.closeai-proxy.xyz", true},
	TypeOpenAISB:               {TypeOpenAISB, "OpenAI-SB", "https://api.openai-sb.com", true},
	TypeOpenAIMax:              {TypeOpenAIMax, "OpenAIMax", "https://api.openaimax.com", true},
	TypeOhMyGPT:                {TypeOhMyGPT, "OhMyGPT", "https://api.ohmygpt.com", true},
	TypeCustom:                 {TypeCustom, "Custom", "", true},
	TypeAils:                   {TypeAils, "Ails", "https://api.caipacity.com", true},
	TypeAIProxy:                {TypeAIProxy, "AI Proxy", "https://api.aiproxy.io", true},
	TypePaLM:                   {TypePaLM, "Google PaLM2", "https://generativelanguage.googleapis.com", false},
	TypeAPI2GPT:                {TypeAPI2GPT, "API2GPT", "https://api.api2gpt.com", true},
	TypeAIGC2D:                 {TypeAIGC2D, "AIGC2D", "https://api.aigc2d.com", true},
	TypeAnthropic:              {TypeAnthropic, "Anthropic Claude", "https://api.anthropic.com", false},
	TypeBaidu:                  {TypeBaidu, "Baidu Wenxin", "https://aip.baidubce.com", false},
	TypeZhipu:                  {TypeZhipu, "Zhipu ChatGLM", "https://open.bigmodel.cn", false},
	TypeAli:                    {TypeAli, "Alibaba Tongyi Qianwen", "https://dashscope.aliyuncs.com", false},
	TypeXunfei:                 {TypeXunfei, "iFlytek Spark", "", false},
	TypeAI360:                  {TypeAI360, "360 Zhinao", "https://ai.360.cn", true},
	TypeOpenRouter:             {TypeOpenRouter, "OpenRouter", "https://openrouter.ai/api", true},
	TypeAIProxyLibrary:         {TypeAIProxyLibrary, "AI Proxy Library", "https://api.aiproxy.io", false},
	TypeFastGPT:                {TypeFastGPT, "FastGPT", "https://fastgpt.run/api/openapi", true},
	TypeTencent:                {TypeTencent, "Tencent Hunyuan", "https://hunyuan.tencentcloudapi.com", false},
	TypeGemini:                 {TypeGemini, "Google Gemini", "https://generativelanguage.googleapis.com", false},
	TypeMoonshot:               {TypeMoonshot, "Moonshot AI", "https://api.moonshot.cn", true},
	TypeBaichuan:               {TypeBaichuan, "Baichuan", "https://api.baichuan-ai.com", true},
	TypeMinimax:                {TypeMinimax, "MiniMax", "https://api.minimax.chat", true},
	TypeMistral:                {TypeMistral, "Mistral AI", "https://api.mistral.ai", true},
	TypeGroq:                   {TypeGroq, "Groq", "https://api.groq.com/openai", true},
	TypeOllama:                 {TypeOllama, "Ollama", "http://localhost:11434", false},
	TypeLingYiWanWu:            {TypeLingYiWanWu, "01.AI LingYiWanWu", "https://api.lingyiwanwu.com", true},
	TypeStepFun:                {TypeStepFun, "StepFun", "https://api.stepfun.com", true},
	TypeAwsClaude:              {TypeAwsClaude, "AWS Bedrock", "https://bedrock-runtime.{region}.amazonaws.com", false},
	TypeCoze:                   {TypeCoze, "Coze", "https://api.coze.com", false},
	TypeCohere:                 {TypeCohere, "Cohere", "https://api.cohere.ai", false},
	TypeDeepSeek:               {TypeDeepSeek, "DeepSeek", "https://api.deepseek.com", true},
	TypeCloudflare:             {TypeCloudflare, "Cloudflare Workers AI", "https://api.cloudflare.com", false},
	TypeDeepL:                  {TypeDeepL, "DeepL", "https://api-free.deepl.com", false},
	TypeTogetherAI:             {TypeTogetherAI, "Together AI", "https://api.together.xyz", true},
	TypeDoubao:                 {TypeDoubao, "ByteDance Doubao", "https://ark.cn-beijing.volces.com", true},
	TypeNovita:                 {TypeNovita, "Novita AI", "https://api.novita.ai/v3/openai", true},
	TypeVertexAI:               {TypeVertexAI, "Google Vertex AI", "https://{region}-aiplatform.googleapis.com", false},
	TypeProxy:                  {TypeProxy, "Proxy", "", false},
	TypeSiliconFlow:            {TypeSiliconFlow, "SiliconFlow", "https://api.siliconflow.cn", true},
	TypeXAI:                    {TypeXAI, "xAI", "https://api.x.ai", true},
	TypeReplicate:              {TypeReplicate, "Replicate", "https://api.replicate.com/v1/models/", false},
	TypeBaiduV2:                {TypeBaiduV2, "Baidu Qianfan V2", "https://qianfan.baidubce.com", true},
	TypeXunfeiV2:               {TypeXunfeiV2, "iFlytek Spark V2", "https://spark-api-open.xf-yun.com", true},
	TypeAliBailian:             {TypeAliBailian, "Alibaba Bailian", "https://dashscope.aliyuncs.com", true},
	TypeOpenAICompatible:       {TypeOpenAICompatible, "OpenAI Compatible", "", true},
	TypeGeminiOpenAICompatible: {TypeGeminiOpenAICompatible, "Gemini (OpenAI compatible)", "https://generativelanguage.googleapis.com/v1beta/openai", true},

	TypeHuggingFace:       {TypeHuggingFace, "Hugging Face TGI / TEI", "", false},
	TypeHuggingFaceRouter: {TypeHuggingFaceRouter, "Hugging Face Inference Providers", "https://router.huggingface.co/v1", true},
	TypeVLLM:              {TypeVLLM, "vLLM", "http://localhost:8000", true},
	TypeSGLang:            {TypeSGLang, "SGLang", "http://localhost:30000", true},
	TypeLMStudio:          {TypeLMStudio, "LM Studio", "http://localhost:1234", true},
	TypeFireworks:         {TypeFireworks, "Fireworks AI", "https://api.fireworks.ai/inference", true},
	TypePerplexity:        {TypePerplexity, "Perplexity", "https://api.perplexity.ai", true},
}

// Types returns every known channel type, ordered by ID. The slice is a
// copy; callers may keep or change it.
func Types() []Type {
	out := make([]Type, 0, len(types))
	for _, t := range types {
		if t.ID != 0 {
			out = append(out, t)
		}
	}
	return out
}

// TypeByID returns the channel type with the given ID.
func TypeByID(id int) (Type, bool) {
	if id <= 0 || id >= len(types) || types[id].ID == 0 {
		return Type{}, false
	}
	return types[id], true
}
