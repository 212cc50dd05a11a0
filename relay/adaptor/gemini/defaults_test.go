package gemini

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"oneapi/relay/adaptor"
)

// TestOperatorDefaults covers GEMINI_VERSION and GEMINI_SAFETY_SETTING. Not
// parallel: it changes the package's defaults, restored before the parallel
// tests run.
func TestOperatorDefaults(t *testing.T) {
	t.Cleanup(func() { SetDefaults("", "") })
	req := func(ch *adaptor.Channel) (string, map[string]any) {
		t.Helper()
		r, err := New().NewRequest(context.Background(), ch, &adaptor.Request{Mode: adaptor.ModeChat, Model: "gemini-2.5-flash",
			Body: []byte(`{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"hi"}]}`)})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r.Body)
		var body map[string]any
		if err := json.Unmarshal(b, &body); err != nil {
			t.Fatal(err)
		}
		return r.URL.Path, body
	}
	plain := &adaptor.Channel{Type: adaptor.TypeGemini, Key: "k", BaseURL: "https://g.example"}

	path, body := req(plain)
	if !strings.HasPrefix(path, "/v1beta/") || body["safetySettings"] != nil {
		t.Errorf("unset: %s, safetySettings %v", path, body["safetySettings"])
	}

	SetDefaults("v1", "BLOCK_NONE")
	path, body = req(plain)
	if !strings.HasPrefix(path, "/v1/models/") {
		t.Errorf("GEMINI_VERSION=v1: path %s", path)
	}
	ss, _ := body["safetySettings"].([]any)
	if len(ss) != len(harmCategories) {
		t.Fatalf("safetySettings = %v", body["safetySettings"])
	}
	for _, s := range ss {
		if m := s.(map[string]any); m["threshold"] != "BLOCK_NONE" || !strings.HasPrefix(m["category"].(string), "HARM_CATEGORY_") {
			t.Errorf("setting %v", m)
		}
	}
	// A channel's own api_version beats the default, as in One API.
	own := &adaptor.Channel{Type: adaptor.TypeGemini, Key: "k", BaseURL: "https://g.example", Config: map[string]string{"api_version": "v1alpha"}}
	if path, _ := req(own); !strings.HasPrefix(path, "/v1alpha/") {
		t.Errorf("channel api_version: path %s", path)
	}
}
