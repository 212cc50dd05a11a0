package openai

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/adaptortest"
)

func TestRegistered(t *testing.T) {
	t.Parallel()
	for _, typ := range []int{
		adaptor.TypeOpenAI, adaptor.TypeAzure, adaptor.TypeCustom, adaptor.TypeOpenRouter,
		adaptor.TypeMoonshot, adaptor.TypeGroq, adaptor.TypeDeepSeek, adaptor.TypeSiliconFlow,
		adaptor.TypeXAI, adaptor.TypeOpenAICompatible,
	} {
		if _, ok := adaptor.For(typ).(*Adaptor); !ok {
			t.Errorf("For(%d) = %T, want *openai.Adaptor", typ, adaptor.For(typ))
		}
	}
	for _, typ := range []int{adaptor.TypeAnthropic, adaptor.TypeGemini, 0, -1, 999} {
		if a := adaptor.For(typ); a != nil {
			t.Errorf("For(%d) = %T, want nil", typ, a)
		}
	}
}

func TestRequestURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		typ     int
		base    string
		config  map[string]string
		mode    adaptor.Mode
		model   string
		want    string
		wantErr bool
	}{
		{name: "openai default", typ: adaptor.TypeOpenAI, want: "https://api.openai.com/v1/chat/completions"},
		{name: "bare host", typ: adaptor.TypeOpenAI, base: "https://proxy.example.com", want: "https://proxy.example.com/v1/chat/completions"},
		{name: "trailing slash", typ: adaptor.TypeOpenAI, base: "https://proxy.example.com/", want: "https://proxy.example.com/v1/chat/completions"},
		{name: "trailing v1", typ: adaptor.TypeCustom, base: "https://proxy.example.com/v1", want: "https://proxy.example.com/v1/chat/completions"},
		{name: "trailing v1 and slash", typ: adaptor.TypeCustom, base: "https://proxy.example.com/v1/", want: "https://proxy.example.com/v1/chat/completions"},
		{name: "sub path", typ: adaptor.TypeOpenAICompatible, base: "https://example.com/llm/openai", want: "https://example.com/llm/openai/v1/chat/completions"},
		{name: "sub path with v1", typ: adaptor.TypeOpenAICompatible, base: "https://example.com/llm/v1", mode: adaptor.ModeEmbeddings, want: "https://example.com/llm/v1/embeddings"},
		{name: "version-like word is not a version", typ: adaptor.TypeOpenAICompatible, base: "https://example.com/vault", want: "https://example.com/vault/v1/chat/completions"},
		{name: "port and http", typ: adaptor.TypeOpenAICompatible, base: "http://10.0.0.5:8000", want: "http://10.0.0.5:8000/v1/chat/completions"},
		{
			name: "cloudflare ai gateway", typ: adaptor.TypeOpenAI,
			base: "https://gateway.ai.cloudflare.com/v1/ACCOUNT/GATEWAY/openai",
			want: "https://gateway.ai.cloudflare.com/v1/ACCOUNT/GATEWAY/openai/chat/completions",
		},
		{
			name: "cloudflare ai gateway trailing slash", typ: adaptor.TypeOpenAI,
			base: "https://gateway.ai.cloudflare.com/v1/ACCOUNT/GATEWAY/openai/", mode: adaptor.ModeAudioSpeech,
			want: "https://gateway.ai.cloudflare.com/v1/ACCOUNT/GATEWAY/openai/audio/speech",
		},
		{name: "openrouter", typ: adaptor.TypeOpenRouter, want: "https://openrouter.ai/api/v1/chat/completions"},
		{name: "groq", typ: adaptor.TypeGroq, want: "https://api.groq.com/openai/v1/chat/completions"},
		{name: "deepseek", typ: adaptor.TypeDeepSeek, want: "https://api.deepseek.com/v1/chat/completions"},
		{name: "moonshot", typ: adaptor.TypeMoonshot, want: "https://api.moonshot.cn/v1/chat/completions"},
		{name: "siliconflow", typ: adaptor.TypeSiliconFlow, mode: adaptor.ModeEmbeddings, want: "https://api.siliconflow.cn/v1/embeddings"},
		{name: "xai", typ: adaptor.TypeXAI, want: "https://api.x.ai/v1/chat/completions"},
		{name: "novita", typ: adaptor.TypeNovita, want: "https://api.novita.ai/v3/openai/chat/completions"},
		{name: "doubao", typ: adaptor.TypeDoubao, want: "https://ark.cn-beijing.volces.com/api/v3/chat/completions"},
		{name: "doubao with version in base", typ: adaptor.TypeDoubao, base: "https://ark.cn-beijing.volces.com/api/v3/", mode: adaptor.ModeEmbeddings, want: "https://ark.cn-beijing.volces.com/api/v3/embeddings"},
		{name: "baidu v2", typ: adaptor.TypeBaiduV2, want: "https://qianfan.baidubce.com/v2/chat/completions"},
		{name: "ali bailian", typ: adaptor.TypeAliBailian, want: "https://dashscope.aliyuncs.com/compatible-mode/v1/chat/completions"},
		{name: "gemini openai compatible", typ: adaptor.TypeGeminiOpenAICompatible, want: "https://generativelanguage.googleapis.com/v1beta/openai/chat/completions"},
		{name: "gemini openai compatible bare host", typ: adaptor.TypeGeminiOpenAICompatible, base: "https://generativelanguage.googleapis.com", want: "https://generativelanguage.googleapis.com/v1beta/openai/chat/completions"},
		{name: "minimax chat", typ: adaptor.TypeMinimax, want: "https://api.minimax.chat/v1/text/chatcompletion_v2"},
		{name: "minimax embeddings", typ: adaptor.TypeMinimax, mode: adaptor.ModeEmbeddings, want: "https://api.minimax.chat/v1/embeddings"},
		{name: "responses", typ: adaptor.TypeOpenAI, mode: adaptor.ModeResponses, want: "https://api.openai.com/v1/responses"},
		{name: "rerank", typ: adaptor.TypeVLLM, base: "http://gpu-1:8000", mode: adaptor.ModeRerank, want: "http://gpu-1:8000/v1/rerank"},
		{name: "hugging face router", typ: adaptor.TypeHuggingFaceRouter, want: "https://router.huggingface.co/v1/chat/completions"},
		{name: "vllm default", typ: adaptor.TypeVLLM, want: "http://localhost:8000/v1/chat/completions"},
		{name: "sglang", typ: adaptor.TypeSGLang, base: "http://10.0.0.7:30000/", want: "http://10.0.0.7:30000/v1/chat/completions"},
		{name: "lm studio", typ: adaptor.TypeLMStudio, mode: adaptor.ModeEmbeddings, want: "http://localhost:1234/v1/embeddings"},
		{name: "fireworks", typ: adaptor.TypeFireworks, want: "https://api.fireworks.ai/inference/v1/chat/completions"},
		{name: "perplexity at the root", typ: adaptor.TypePerplexity, want: "https://api.perplexity.ai/chat/completions"},
		{name: "together", typ: adaptor.TypeTogetherAI, want: "https://api.together.xyz/v1/chat/completions"},
		{name: "mistral", typ: adaptor.TypeMistral, want: "https://api.mistral.ai/v1/chat/completions"},
		{name: "stepfun", typ: adaptor.TypeStepFun, want: "https://api.stepfun.com/v1/chat/completions"},
		{name: "spark v2", typ: adaptor.TypeXunfeiV2, want: "https://spark-api-open.xf-yun.com/v1/chat/completions"},
		{name: "transcriptions", typ: adaptor.TypeOpenAI, mode: adaptor.ModeAudioTranscription, want: "https://api.openai.com/v1/audio/transcriptions"},
		{
			name: "azure", typ: adaptor.TypeAzure, base: "https://myres.openai.azure.com/",
			config: map[string]string{"api_version": "2024-06-01"}, model: "gpt-3.5-turbo",
			want: "https://myres.openai.azure.com/openai/deployments/gpt-35-turbo/chat/completions?api-version=2024-06-01",
		},
		{
			name: "azure default version", typ: adaptor.TypeAzure, base: "https://myres.openai.azure.com",
			mode: adaptor.ModeEmbeddings, model: "text-embedding-3-small",
			want: "https://myres.openai.azure.com/openai/deployments/text-embedding-3-small/embeddings?api-version=" + DefaultAzureAPIVersion,
		},
		{
			name: "azure behind cloudflare", typ: adaptor.TypeAzure,
			base:   "https://gateway.ai.cloudflare.com/v1/ACCOUNT/GATEWAY/azure-openai/myres",
			config: map[string]string{"api_version": "2024-06-01"}, model: "gpt-4o",
			want: "https://gateway.ai.cloudflare.com/v1/ACCOUNT/GATEWAY/azure-openai/myres/gpt-4o/chat/completions?api-version=2024-06-01",
		},
		{
			// The model is the client's text: it stays one path segment, and
			// cannot climb out of the deployment or add a query.
			name: "azure model with path characters", typ: adaptor.TypeAzure, base: "https://myres.openai.azure.com/base",
			config: map[string]string{"api_version": "2024-06-01"}, model: "../../admin/x?api-version=1#frag",
			want: "https://myres.openai.azure.com/base/openai/deployments/%2F%2Fadmin%2Fx%3Fapi-version=1%23frag/chat/completions?api-version=2024-06-01",
		},
		{
			name: "azure model with a slash behind cloudflare", typ: adaptor.TypeAzure,
			base:   "https://gateway.ai.cloudflare.com/v1/ACCOUNT/GATEWAY/azure-openai/myres",
			config: map[string]string{"api_version": "2024-06-01"}, model: "a/b",
			want: "https://gateway.ai.cloudflare.com/v1/ACCOUNT/GATEWAY/azure-openai/myres/a%2Fb/chat/completions?api-version=2024-06-01",
		},
		{name: "custom without base", typ: adaptor.TypeCustom, wantErr: true},
		{name: "azure without base", typ: adaptor.TypeAzure, wantErr: true},
		{name: "not a URL", typ: adaptor.TypeCustom, base: "api.example.com/v1", wantErr: true},
		{name: "not http", typ: adaptor.TypeCustom, base: "file:///etc/passwd", wantErr: true},
		{name: "unknown mode", typ: adaptor.TypeOpenAI, mode: adaptor.Mode(99), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ch := &adaptor.Channel{Type: tt.typ, BaseURL: tt.base, Config: tt.config}
			model := tt.model
			if model == "" {
				model = "gpt-4o"
			}
			got, err := RequestURL(ch, tt.mode, model)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("RequestURL = %q, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("RequestURL =\n %s\nwant\n %s", got, tt.want)
			}
		})
	}
}

// Keys in fixtures are fake.
const (
	fakeKey      = "sk-fake0000000000000000000000000000"
	fakeAzureKey = "0123456789abcdef0123456789abcdef"
)

// TestNewRequestGolden checks the upstream request built from an OpenAI
// request: method, URL, headers and body, against testdata/request/*.golden.
func TestNewRequestGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		ch          adaptor.Channel
		mode        adaptor.Mode
		model       string
		body        string // file under testdata/request
		contentType string
		stream      bool
	}{
		{name: "openai_chat", ch: adaptor.Channel{Type: adaptor.TypeOpenAI, Key: fakeKey}, model: "gpt-4o-mini", body: "chat.json"},
		{
			name:  "openai_chat_stream_org",
			ch:    adaptor.Channel{Type: adaptor.TypeOpenAI, Key: fakeKey, Config: map[string]string{"organization": "org-fake", "project": "proj_fake"}},
			model: "gpt-4o-mini", body: "chat_stream.json", stream: true,
		},
		{
			name:  "azure_chat",
			ch:    adaptor.Channel{Type: adaptor.TypeAzure, Key: fakeAzureKey, BaseURL: "https://fake-resource.openai.azure.com", Config: map[string]string{"api_version": "2024-10-21"}},
			model: "gpt-4o-mini", body: "chat.json",
		},
		{
			name:  "cloudflare_gateway_chat",
			ch:    adaptor.Channel{Type: adaptor.TypeOpenAI, Key: fakeKey, BaseURL: "https://gateway.ai.cloudflare.com/v1/ACCOUNT/GATEWAY/openai"},
			model: "gpt-4o-mini", body: "chat_stream.json", stream: true,
		},
		{name: "deepseek_chat", ch: adaptor.Channel{Type: adaptor.TypeDeepSeek, Key: fakeKey}, model: "deepseek-chat", body: "chat.json"},
		{name: "siliconflow_embeddings", ch: adaptor.Channel{Type: adaptor.TypeSiliconFlow, Key: fakeKey}, mode: adaptor.ModeEmbeddings, model: "BAAI/bge-m3", body: "embeddings.json"},
		{
			name: "openai_transcription", ch: adaptor.Channel{Type: adaptor.TypeOpenAI, Key: fakeKey},
			mode: adaptor.ModeAudioTranscription, model: "whisper-1", body: "transcription.multipart",
			contentType: "multipart/form-data; boundary=BOUNDARY",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body, err := os.ReadFile(filepath.Join("testdata", "request", tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req := &adaptor.Request{Mode: tt.mode, Model: tt.model, Body: body, ContentType: tt.contentType, Stream: tt.stream}
			r, err := New().NewRequest(context.Background(), &tt.ch, req)
			if err != nil {
				t.Fatal(err)
			}
			adaptortest.CompareGolden(t, filepath.Join("testdata", "request", tt.name+".golden"), dumpRequest(t, r.Method, r.URL.String(), r.Header, r.Body))
			if r.ContentLength != int64(len(body)) || r.GetBody == nil {
				t.Errorf("ContentLength = %d, GetBody set %v; want %d, true (replayable)", r.ContentLength, r.GetBody != nil, len(body))
			}
		})
	}
}

// dumpRequest renders a request as text: method and URL, sorted headers,
// a blank line, the body.
func dumpRequest(t *testing.T, method, url string, h map[string][]string, body io.Reader) []byte {
	t.Helper()
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s\n", method, url)
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		fmt.Fprintf(&b, "%s: %s\n", k, strings.Join(h[k], ", "))
	}
	b.WriteByte('\n')
	if body != nil {
		if _, err := io.Copy(&b, body); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}
