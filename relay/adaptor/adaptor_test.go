package adaptor

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestModePath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mode Mode
		path string
	}{
		{ModeChat, "/v1/chat/completions"},
		{ModeCompletions, "/v1/completions"},
		{ModeEmbeddings, "/v1/embeddings"},
		{ModeImages, "/v1/images/generations"},
		{ModeAudioSpeech, "/v1/audio/speech"},
		{ModeAudioTranscription, "/v1/audio/transcriptions"},
		{ModeAudioTranslation, "/v1/audio/translations"},
		{ModeModerations, "/v1/moderations"},
		{ModeResponses, "/v1/responses"},
	}
	for _, tt := range tests {
		t.Run(tt.mode.String(), func(t *testing.T) {
			t.Parallel()
			if got := tt.mode.Path(); got != tt.path {
				t.Errorf("Path() = %q, want %q", got, tt.path)
			}
			if m, ok := ModeForPath(tt.path); !ok || m != tt.mode {
				t.Errorf("ModeForPath(%q) = %v, %v", tt.path, m, ok)
			}
		})
	}
	if p := Mode(-1).Path(); p != "" {
		t.Errorf("Mode(-1).Path() = %q", p)
	}
	if _, ok := ModeForPath("/v1/files"); ok {
		t.Error("ModeForPath(/v1/files) found a mode")
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		status  int
		typ     string
		code    string
		message string
		want    ErrorClass
	}{
		{name: "401", status: 401, typ: "invalid_request_error", code: "invalid_api_key", want: ClassDisable},
		{name: "401 without details", status: 401, want: ClassDisable},
		{name: "402 no credit", status: 402, message: "Insufficient credits", want: ClassDisable},
		{name: "429 insufficient_quota", status: 429, typ: "insufficient_quota", code: "insufficient_quota", want: ClassDisable},
		{name: "account deactivated", status: 403, code: "account_deactivated", want: ClassDisable},
		{name: "anthropic permission", status: 403, typ: "permission_error", want: ClassDisable},
		{name: "billing type", status: 400, typ: "billing_error", want: ClassDisable},
		// Messages are never read: upstreams echo the client's content in them.
		{name: "a 400 echoing the client's role 'credit' is the client's", status: 400, typ: "invalid_request_error", message: "Invalid value: 'credit'. Supported values are: 'system', 'assistant', 'user'.", want: ClassClient},
		{name: "a 400 echoing an invalid api key text is the client's", status: 400, message: "Unknown parameter 'invalid api key balance'", want: ClassClient},
		{name: "a 500 whose text says disabled is retried", status: 500, message: "This organization has been disabled.", want: ClassRetry},
		{name: "a 403 whose text says balance is retried", status: 403, message: "Insufficient account balance", want: ClassRetry},
		{name: "429 rate limit", status: 429, code: "rate_limit_exceeded", want: ClassRetry},
		{name: "429 mentioning credits stays retry", status: 429, message: "Rate limit exceeded: free-models-per-day. Add 10 credits to unlock more.", want: ClassRetry},
		{name: "502 from a load balancer stays retry", status: 502, message: "load balancer: no healthy upstream", want: ClassRetry},
		{name: "500", status: 500, typ: "server_error", want: ClassRetry},
		{name: "503", status: 503, want: ClassRetry},
		{name: "403 region", status: 403, code: "unsupported_country_region_territory", message: "Country, region, or territory not supported", want: ClassRetry},
		{name: "408", status: 408, want: ClassRetry},
		{name: "stream error, status unknown", status: 0, typ: "server_error", want: ClassRetry},
		{name: "400", status: 400, code: "context_length_exceeded", want: ClassClient},
		{name: "404 model", status: 404, code: "model_not_found", want: ClassClient},
		{name: "422", status: 422, want: ClassClient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Classify(tt.status, tt.typ, tt.code); got != tt.want {
				t.Errorf("Classify(%d, %q, %q) [message %q] = %v, want %v", tt.status, tt.typ, tt.code, tt.message, got, tt.want)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name   string
		header http.Header
		want   time.Duration
	}{
		{"absent", http.Header{}, 0},
		{"seconds", http.Header{"Retry-After": {"20"}}, 20 * time.Second},
		{"fractional seconds", http.Header{"Retry-After": {"0.5"}}, 500 * time.Millisecond},
		{"http date", http.Header{"Retry-After": {now.Add(90 * time.Second).Format(http.TimeFormat)}}, 90 * time.Second},
		{"date in the past", http.Header{"Retry-After": {now.Add(-time.Minute).Format(http.TimeFormat)}}, 0},
		{"milliseconds win", http.Header{"Retry-After-Ms": {"250"}, "Retry-After": {"1"}}, 250 * time.Millisecond},
		{"garbage", http.Header{"Retry-After": {"soon"}}, 0},
		{"negative", http.Header{"Retry-After": {"-3"}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := retryAfter(tt.header, now); got != tt.want {
				t.Errorf("retryAfter = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestTransportError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantClass  ErrorClass
	}{
		{"canceled", fmt.Errorf("read body: %w", context.Canceled), 499, ClassClient},
		{"deadline", context.DeadlineExceeded, http.StatusGatewayTimeout, ClassRetry},
		{"other", errors.New("connection reset by peer"), http.StatusBadGateway, ClassRetry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := TransportError(tt.err)
			if got.Status != tt.wantStatus || got.Class != tt.wantClass {
				t.Errorf("TransportError = %+v, want status %d class %v", got, tt.wantStatus, tt.wantClass)
			}
			if !errors.Is(got, tt.err) {
				t.Error("the cause is not wrapped")
			}
		})
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, key, want string
	}{
		{"exact key", "bad key abcdef0123456789 given", "abcdef0123456789", "bad key [redacted] given"},
		{"sk key pattern", "Invalid API key: sk-proj-AAAAAAAAAAAAAAAAAAAAAAAA", "", "Invalid API key: [redacted]"},
		{"masked key kept", "Incorrect API key provided: sk-abc***xyz.", "", "Incorrect API key provided: sk-abc***xyz."},
		{"short key ignored", "the model is gpt", "gpt", "the model is gpt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Redact(tt.in, tt.key); got != tt.want {
				t.Errorf("Redact = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestUpstreamErrorResponse(t *testing.T) {
	t.Parallel()
	e := &UpstreamError{Status: 429, Message: "slow down", Code: "rate_limit_exceeded"}
	got := e.Response()
	if got.Error.Message != "slow down" || got.Error.Type != "upstream_error" || got.Error.Code != "rate_limit_exceeded" {
		t.Errorf("Response() = %+v", got)
	}
	if want := "upstream status 429 (, rate_limit_exceeded): slow down"; e.Error() != want {
		t.Errorf("Error() = %q, want %q", e.Error(), want)
	}
}

func TestTypes(t *testing.T) {
	t.Parallel()
	all := Types()
	// One API's 1 to 51, then ours from 60 (52 to 59 are left free).
	if len(all) != 51+7 {
		t.Errorf("len(Types()) = %d, want 58", len(all))
	}
	for i, typ := range all {
		want := i + 1
		if i >= 51 {
			want = 60 + i - 51
		}
		if typ.ID != want || typ.Name == "" {
			t.Errorf("Types()[%d] = %+v: want ID %d and a name", i, typ, want)
		}
	}
	tests := []struct {
		id   int
		want Type
	}{
		{TypeOpenAI, Type{1, "OpenAI", "https://api.openai.com", true}},
		{TypeCustom, Type{8, "Custom", "", true}},
		{TypeAnthropic, Type{14, "Anthropic Claude", "https://api.anthropic.com", false}},
		{TypeOpenRouter, Type{20, "OpenRouter", "https://openrouter.ai/api", true}},
		{TypeMoonshot, Type{25, "Moonshot AI", "https://api.moonshot.cn", true}},
		{TypeGroq, Type{29, "Groq", "https://api.groq.com/openai", true}},
		{TypeDeepSeek, Type{36, "DeepSeek", "https://api.deepseek.com", true}},
		{TypeSiliconFlow, Type{44, "SiliconFlow", "https://api.siliconflow.cn", true}},
		{TypeXAI, Type{45, "xAI", "https://api.x.ai", true}},
		{TypeOpenAICompatible, Type{50, "OpenAI Compatible", "", true}},
		{TypeHuggingFace, Type{60, "Hugging Face TGI / TEI", "", false}},
		{TypeHuggingFaceRouter, Type{61, "Hugging Face Inference Providers", "https://router.huggingface.co/v1", true}},
	}
	for _, tt := range tests {
		got, ok := TypeByID(tt.id)
		if !ok {
			t.Errorf("TypeByID(%d) not found", tt.id)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("TypeByID(%d) (-want +got):\n%s", tt.id, diff)
		}
	}
	for _, id := range []int{0, -1, 52, 59, 67} {
		if _, ok := TypeByID(id); ok {
			t.Errorf("TypeByID(%d) found", id)
		}
	}
}

func TestRegisterPanics(t *testing.T) {
	// Not parallel: it touches the registry, restored below.
	defer func() {
		if recover() == nil {
			t.Error("Register of an unknown type did not panic")
		}
	}()
	Register(nil, 999)
}
