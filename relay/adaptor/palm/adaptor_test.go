package palm

import (
	"path/filepath"
	"testing"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/adaptortest"
	"oneapi/relay/adaptor/convert/converttest"
)

func TestNewRequestGolden(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, base, model string }{
		{"palm2", "", "PaLM-2"},
		{"chat_bison_v1beta2_base", "https://generativelanguage.googleapis.com/v1beta2/", "models/chat-bison-001"},
		{"mapped_gemini_name", "", "gemini-2.5-pro"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ch := &adaptor.Channel{ID: 11, Type: adaptor.TypePaLM, Key: "AIzaTestKey0001", BaseURL: tt.base}
			req := &adaptor.Request{Mode: adaptor.ModeChat, Model: tt.model, Body: []byte(`{"model":"` + tt.model + `","messages":[{"role":"user","content":"hi"}]}`)}
			got := converttest.Request(t, converttest.Context(nil), New(), ch, req, "x-goog-api-key")
			adaptortest.CompareGolden(t, filepath.Join("testdata", "request_"+tt.name+".golden"), got)
		})
	}
	if Model("embedding-gecko-001") != SuccessorEmbedding || Model("other") != "other" {
		t.Error("Model mapping")
	}
}
