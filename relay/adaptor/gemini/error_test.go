package gemini

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"oneapi/relay/adaptor"
)

func TestDecodeError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		status      int
		header      http.Header
		body        string
		wantClass   adaptor.ErrorClass
		wantType    string
		wantMsg     string
		wantRetryIn time.Duration
	}{
		{
			name: "invalid key", status: 400,
			body:      `{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"}]}}`,
			wantClass: adaptor.ClassDisable, wantType: "INVALID_ARGUMENT", wantMsg: "API key not valid. Please pass a valid API key.",
		},
		{
			name: "invalid key reason only", status: 400,
			body:      `{"error":{"code":400,"message":"Bad key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID"}]}}`,
			wantClass: adaptor.ClassDisable, wantType: "INVALID_ARGUMENT", wantMsg: "Bad key.",
		},
		{
			name: "expired key", status: 400,
			body:      `{"error":{"code":400,"message":"API key expired. Please renew the API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_EXPIRED","domain":"googleapis.com"}]}}`,
			wantClass: adaptor.ClassDisable, wantType: "INVALID_ARGUMENT", wantMsg: "API key expired",
		},
		{
			// The message is never read: it may echo the client's content.
			name: "key words in the message alone", status: 400,
			body:      `{"error":{"code":400,"message":"Invalid value at 'contents[0].role' (api key not valid API_KEY_INVALID)","status":"INVALID_ARGUMENT"}}`,
			wantClass: adaptor.ClassClient, wantType: "INVALID_ARGUMENT", wantMsg: "Invalid value",
		},
		{
			name: "bad request", status: 400,
			body:      `{"error":{"code":400,"message":"* GenerateContentRequest.contents: contents is not specified","status":"INVALID_ARGUMENT"}}`,
			wantClass: adaptor.ClassClient, wantType: "INVALID_ARGUMENT", wantMsg: "contents is not specified",
		},
		{
			name: "location not supported", status: 400,
			body:      `{"error":{"code":400,"message":"User location is not supported for the API use.","status":"FAILED_PRECONDITION"}}`,
			wantClass: adaptor.ClassRetry, wantType: "FAILED_PRECONDITION", wantMsg: "User location",
		},
		{
			name: "unauthenticated", status: 401,
			body:      `{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}`,
			wantClass: adaptor.ClassDisable, wantType: "UNAUTHENTICATED", wantMsg: "invalid authentication",
		},
		{
			name: "permission denied", status: 403,
			body:      `{"error":{"code":403,"message":"Generative Language API has not been used in project 123 before or it is disabled.","status":"PERMISSION_DENIED"}}`,
			wantClass: adaptor.ClassDisable, wantType: "PERMISSION_DENIED", wantMsg: "has not been used",
		},
		{
			name: "403 from a proxy", status: 403, header: http.Header{"Content-Type": {"text/html"}},
			body:      `<html><body>Forbidden</body></html>`,
			wantClass: adaptor.ClassRetry, wantType: "upstream_error", wantMsg: "upstream returned status 403 Forbidden",
		},
		{
			name: "not found", status: 404,
			body:      `{"error":{"code":404,"message":"models/gemini-9 is not found for API version v1beta.","status":"NOT_FOUND"}}`,
			wantClass: adaptor.ClassClient, wantType: "NOT_FOUND", wantMsg: "is not found",
		},
		{
			name: "rate limited with RetryInfo", status: 429,
			body:      `{"error":{"code":429,"message":"You exceeded your current quota.","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure"},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"39s"}]}}`,
			wantClass: adaptor.ClassRetry, wantType: "RESOURCE_EXHAUSTED", wantMsg: "exceeded", wantRetryIn: 39 * time.Second,
		},
		{
			name: "Retry-After header wins", status: 429, header: http.Header{"Retry-After": {"7"}},
			body:      `{"error":{"code":429,"message":"slow down","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"39s"}]}}`,
			wantClass: adaptor.ClassRetry, wantType: "RESOURCE_EXHAUSTED", wantMsg: "slow down", wantRetryIn: 7 * time.Second,
		},
		{
			name: "overloaded", status: 503,
			body:      `{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}`,
			wantClass: adaptor.ClassRetry, wantType: "UNAVAILABLE", wantMsg: "overloaded",
		},
		{
			name: "internal", status: 500,
			body:      `{"error":{"code":500,"message":"An internal error has occurred.","status":"INTERNAL"}}`,
			wantClass: adaptor.ClassRetry, wantType: "INTERNAL", wantMsg: "internal error",
		},
		{
			name: "array body", status: 400,
			body:      `[{"error":{"code":400,"message":"Invalid JSON payload received.","status":"INVALID_ARGUMENT"}}]`,
			wantClass: adaptor.ClassClient, wantType: "INVALID_ARGUMENT", wantMsg: "Invalid JSON payload",
		},
		{
			name: "plain text", status: 502, header: http.Header{"Content-Type": {"text/plain"}},
			body:      "upstream connect error or disconnect/reset before headers",
			wantClass: adaptor.ClassRetry, wantType: "upstream_error", wantMsg: "upstream connect error",
		},
		{
			name: "empty body", status: 400,
			wantClass: adaptor.ClassClient, wantType: "upstream_error", wantMsg: "upstream returned status 400 Bad Request",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			header := tt.header
			if header == nil {
				header = http.Header{"Content-Type": {"application/json; charset=UTF-8"}}
			}
			resp := &http.Response{StatusCode: tt.status, Header: header, Body: io.NopCloser(strings.NewReader(tt.body))}
			ue := New().DecodeError(resp)
			if ue.Status != tt.status {
				t.Errorf("status %d, want %d", ue.Status, tt.status)
			}
			if ue.Class != tt.wantClass {
				t.Errorf("class %v, want %v", ue.Class, tt.wantClass)
			}
			if ue.Type != tt.wantType {
				t.Errorf("type %q, want %q", ue.Type, tt.wantType)
			}
			if tt.wantType != "upstream_error" && ue.Code != tt.wantType {
				t.Errorf("code %q, want %q", ue.Code, tt.wantType)
			}
			if !strings.Contains(ue.Message, tt.wantMsg) {
				t.Errorf("message %q does not contain %q", ue.Message, tt.wantMsg)
			}
			if ue.RetryAfter != tt.wantRetryIn {
				t.Errorf("retry after %v, want %v", ue.RetryAfter, tt.wantRetryIn)
			}
		})
	}
}

// TestDecodeErrorRedactsKey: the key comes from the request header, so it
// is found even when upstream quotes it.
func TestDecodeErrorRedactsKey(t *testing.T) {
	t.Parallel()
	req, _ := http.NewRequest(http.MethodPost, "https://example.com/", nil)
	req.Header.Set("x-goog-api-key", testKey)
	resp := &http.Response{
		StatusCode: 400, Header: http.Header{}, Request: req,
		Body: io.NopCloser(strings.NewReader(`{"error":{"code":400,"message":"key ` + testKey + ` is bad","status":"INVALID_ARGUMENT"}}`)),
	}
	ue := New().DecodeError(resp)
	if strings.Contains(ue.Message, testKey) {
		t.Errorf("message %q contains the key", ue.Message)
	}
	if ue.Message != "key [redacted] is bad" {
		t.Errorf("message %q", ue.Message)
	}
}
