package openai

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"oneapi/relay/adaptor"
)

// TestPresetsCoverTypes: every OpenAI-compatible type has its row in the
// preset table, and every row is an OpenAI-compatible type with a prefix.
func TestPresetsCoverTypes(t *testing.T) {
	t.Parallel()
	for _, id := range adaptor.OpenAICompatibleTypes() {
		if _, ok := presets[id]; !ok {
			t.Errorf("type %d has no preset", id)
		}
	}
	for id, p := range presets {
		typ, ok := adaptor.TypeByID(id)
		if !ok || !typ.OpenAICompatible {
			t.Errorf("preset for %d, which is not an OpenAI-compatible type", id)
		}
		if p.Prefix == "" && !p.Root {
			t.Errorf("preset for %s has no prefix", typ.Name)
		}
	}
}

func TestPresetHeaders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ch   adaptor.Channel
		want http.Header
	}{
		{"bearer", adaptor.Channel{Type: adaptor.TypeDeepSeek, Key: "k1"}, http.Header{"Authorization": {"Bearer k1"}}},
		{"azure api-key", adaptor.Channel{Type: adaptor.TypeAzure, Key: "k2", BaseURL: "https://r.openai.azure.com"}, http.Header{"Api-Key": {"k2"}}},
		{
			"openrouter attribution", adaptor.Channel{Type: adaptor.TypeOpenRouter, Key: "k3", Config: map[string]string{"referer": "https://app.example", "title": "Example"}},
			http.Header{"Authorization": {"Bearer k3"}, "Http-Referer": {"https://app.example"}, "X-Title": {"Example"}},
		},
		{
			"organization on any type", adaptor.Channel{Type: adaptor.TypeCustom, Key: "k4", BaseURL: "https://p.example", Config: map[string]string{"organization": "org-1", "title": "not for this type"}},
			http.Header{"Authorization": {"Bearer k4"}, "Openai-Organization": {"org-1"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, err := New().NewRequest(context.Background(), &tt.ch, &adaptor.Request{Mode: adaptor.ModeChat, Model: "m", Body: []byte(`{}`)})
			if err != nil {
				t.Fatal(err)
			}
			r.Header.Del("Content-Type")
			if !equalHeader(r.Header, tt.want) {
				t.Errorf("headers = %v, want %v", r.Header, tt.want)
			}
		})
	}
}

func equalHeader(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// TestListModels: a vendor with a listing endpoint is asked (OpenAI's shape
// and Together's bare array), one without gets its preset's list, and a
// refused key is an error that disables.
func TestListModels(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Header.Get("Authorization") != "Bearer good":
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}`))
		case r.URL.Path == "/v1/models":
			w.Write([]byte(`{"object":"list","data":[{"id":"Qwen/Qwen3-8B","object":"model"},{"id":"meta-llama/Llama-3.1-8B-Instruct"},{"id":"Qwen/Qwen3-8B"}]}`))
		case r.URL.Path == "/together/v1/models":
			w.Write([]byte(`[{"id":"mistralai/Mixtral-8x7B-Instruct-v0.1","object":"model"}]`))
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer srv.Close()
	a := New()
	ctx := context.Background()
	got, err := a.ListModels(ctx, srv.Client(), &adaptor.Channel{Type: adaptor.TypeVLLM, BaseURL: srv.URL, Key: "good"})
	if err != nil || !slices.Equal(got, []string{"Qwen/Qwen3-8B", "meta-llama/Llama-3.1-8B-Instruct"}) {
		t.Errorf("vLLM models = %v, %v", got, err)
	}
	got, err = a.ListModels(ctx, srv.Client(), &adaptor.Channel{Type: adaptor.TypeTogetherAI, BaseURL: srv.URL + "/together", Key: "good"})
	if err != nil || !slices.Equal(got, []string{"mistralai/Mixtral-8x7B-Instruct-v0.1"}) {
		t.Errorf("Together models = %v, %v", got, err)
	}
	got, err = a.ListModels(ctx, srv.Client(), &adaptor.Channel{Type: adaptor.TypePerplexity, BaseURL: srv.URL, Key: "unused"})
	if err != nil || !slices.Contains(got, "sonar-pro") {
		t.Errorf("Perplexity models = %v, %v", got, err)
	}
	_, err = a.ListModels(ctx, srv.Client(), &adaptor.Channel{Type: adaptor.TypeSGLang, BaseURL: srv.URL, Key: "bad"})
	if ue, ok := err.(*adaptor.UpstreamError); !ok || ue.Class != adaptor.ClassDisable {
		t.Errorf("bad key: %v, want a disabling UpstreamError", err)
	}
}
