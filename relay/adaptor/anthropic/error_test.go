package anthropic

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"oneapi/relay/adaptor"
)

func errorResponse(status int, contentType, body string) *http.Response {
	req, _ := http.NewRequest(http.MethodPost, "https://api.anthropic.com/v1/messages", nil)
	req.Header.Set("x-api-key", fakeKey)
	return &http.Response{
		StatusCode: status,
		Header:     http.Header{"Content-Type": {contentType}},
		Body:       io.NopCloser(strings.NewReader(body)),
		Request:    req,
	}
}

func anthropicError(typ, message string) string {
	return `{"type":"error","error":{"type":"` + typ + `","message":"` + message + `"}}`
}

func TestDecodeError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		status      int
		contentType string
		body        string
		wantClass   adaptor.ErrorClass
		wantType    string
		wantCode    string
		wantMessage string // prefix
	}{
		{"invalid key", 401, "application/json", anthropicError("authentication_error", "invalid x-api-key"), adaptor.ClassDisable, "authentication_error", "authentication_error", "invalid x-api-key"},
		{"permission", 403, "application/json", anthropicError("permission_error", "Your API key does not have permission to use the specified resource."), adaptor.ClassDisable, "permission_error", "permission_error", "Your API key does not have permission"},
		{"credit balance", 400, "application/json", anthropicError("invalid_request_error", "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits."), adaptor.ClassRetry, "invalid_request_error", "invalid_request_error", "Your credit balance is too low"},
		// Only status and type may disable a channel: text echoing the client's content never does.
		{"credit words echoed", 400, "application/json", anthropicError("invalid_request_error", "messages.0.role: 'Your credit balance is too low' is not one of 'user', 'assistant'"), adaptor.ClassClient, "invalid_request_error", "invalid_request_error", "messages.0.role"},
		{"billing", 402, "application/json", anthropicError("billing_error", "Payment required"), adaptor.ClassDisable, "billing_error", "billing_error", "Payment required"},
		{"bad request", 400, "application/json", anthropicError("invalid_request_error", "messages: roles must alternate"), adaptor.ClassClient, "invalid_request_error", "invalid_request_error", "messages: roles must alternate"},
		{"unknown model", 404, "application/json", anthropicError("not_found_error", "model: claude-9"), adaptor.ClassClient, "not_found_error", "not_found_error", "model: claude-9"},
		{"too large", 413, "application/json", anthropicError("request_too_large", "Request exceeds the maximum allowed number of bytes."), adaptor.ClassClient, "request_too_large", "request_too_large", "Request exceeds"},
		{"rate limit", 429, "application/json", anthropicError("rate_limit_error", "Number of requests has exceeded your rate limit"), adaptor.ClassRetry, "rate_limit_error", "rate_limit_error", "Number of requests"},
		{"api error", 500, "application/json", anthropicError("api_error", "Internal server error"), adaptor.ClassRetry, "api_error", "api_error", "Internal server error"},
		{"overloaded", 529, "application/json", anthropicError("overloaded_error", "Overloaded"), adaptor.ClassRetry, "overloaded_error", "overloaded_error", "Overloaded"},
		{"proxy HTML 502", 502, "text/html", "<html><body>Bad Gateway</body></html>", adaptor.ClassRetry, "upstream_error", "", "upstream returned status 502 Bad Gateway"},
		{"plain text 503", 503, "text/plain", "upstream connect error or disconnect/reset before headers", adaptor.ClassRetry, "upstream_error", "", "upstream connect error"},
		{"empty 401", 401, "", "", adaptor.ClassDisable, "upstream_error", "", "upstream returned status 401 Unauthorized"},
		{"message only", 400, "application/json", `{"message":"bad thing"}`, adaptor.ClassClient, "upstream_error", "", "bad thing"},
		{"OpenAI-shaped from a proxy", 400, "application/json", `{"error":{"message":"model not allowed","type":"invalid_request_error"}}`, adaptor.ClassClient, "invalid_request_error", "invalid_request_error", "model not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ue := New().DecodeError(errorResponse(tt.status, tt.contentType, tt.body))
			if ue.Status != tt.status || ue.Class != tt.wantClass || ue.Type != tt.wantType || ue.Code != tt.wantCode || !strings.HasPrefix(ue.Message, tt.wantMessage) {
				t.Errorf("got status %d class %v type %q code %q message %q\nwant status %d class %v type %q code %q message %q...",
					ue.Status, ue.Class, ue.Type, ue.Code, ue.Message, tt.status, tt.wantClass, tt.wantType, tt.wantCode, tt.wantMessage)
			}
		})
	}
}

func TestDecodeErrorRedactsKey(t *testing.T) {
	t.Parallel()
	for _, body := range []string{
		anthropicError("authentication_error", "invalid x-api-key: "+fakeKey),
		"bad key " + fakeKey,
	} {
		ue := New().DecodeError(errorResponse(401, "application/json", body))
		if strings.Contains(ue.Error(), fakeKey) || !strings.Contains(ue.Message, "[redacted]") {
			t.Errorf("message %q leaks the key", ue.Message)
		}
	}
}

func TestDecodeErrorRetryAfter(t *testing.T) {
	t.Parallel()
	resp := errorResponse(529, "application/json", anthropicError("overloaded_error", "Overloaded"))
	resp.Header.Set("Retry-After", "3")
	if ue := New().DecodeError(resp); ue.RetryAfter.Seconds() != 3 {
		t.Errorf("RetryAfter = %v, want 3s", ue.RetryAfter)
	}
}
