package deepl

import (
	"path/filepath"
	"strings"
	"testing"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/adaptortest"
	"oneapi/relay/adaptor/convert/converttest"
)

func channel(base, key string) *adaptor.Channel {
	return &adaptor.Channel{ID: 38, Type: adaptor.TypeDeepL, Key: key, BaseURL: base}
}

func chatReq(model, body string) *adaptor.Request {
	return &adaptor.Request{Mode: adaptor.ModeChat, Model: model, Body: []byte(body), Stream: strings.Contains(body, `"stream":true`)}
}

func TestNewRequestGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, base, key string
		req             *adaptor.Request
	}{
		{"free_key", "", "1a2b3c4d-free-key:fx", chatReq("deepl-zh", `{"model":"deepl-zh","messages":[{"role":"system","content":"A conversation about chemistry."},{"role":"user","content":"first"},{"role":"assistant","content":"第一"},{"role":"user","content":"The bond is strong."}]}`)},
		{"pro_key_variant", "", "1a2b3c4d-pro-key", chatReq("deepl-en-us", `{"model":"deepl-en-us","messages":[{"role":"user","content":"你好"}]}`)},
		{"base_url_kept", "https://api-free.deepl.com/v2", "k:fx", chatReq("deepl-ja", `{"model":"deepl-ja","messages":[{"role":"user","content":"hello"}]}`)},
		{"no_user_message", "", "k:fx", chatReq("deepl-zh", `{"model":"deepl-zh","messages":[{"role":"system","content":"x"}]}`)},
		{"embeddings_refused", "", "k:fx", &adaptor.Request{Mode: adaptor.ModeEmbeddings, Model: "deepl-zh", Body: []byte(`{}`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := converttest.Request(t, converttest.Context(nil), New(), channel(tt.base, tt.key), tt.req, "Authorization")
			adaptortest.CompareGolden(t, filepath.Join("testdata", "request_"+tt.name+".golden"), got)
		})
	}
}

func TestDecodeGolden(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, body string }{
		{"ok", `{"translations":[{"detected_source_language":"EN","text":"键很牢固。","billed_characters":19}]}`},
		{"no_billed_characters", `{"translations":[{"detected_source_language":"EN","text":"键很牢固。"}]}`},
		{"empty", `{"translations":[]}`},
		{"malformed", `{"translations":[{"text":"cut`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := chatReq("deepl-zh", `{"model":"deepl-zh","messages":[{"role":"user","content":"The bond is strong."}]}`)
			got := converttest.Response(t, New(), req, nil, []byte(tt.body))
			got = append(got, "--- stream:\n"...)
			got = append(got, converttest.Stream(t, New(), req, nil, []byte(tt.body))...)
			adaptortest.CompareGolden(t, filepath.Join("testdata", "decode_"+tt.name+".golden"), got)
		})
	}
}

func TestDecodeErrorGolden(t *testing.T) {
	t.Parallel()
	var got []byte
	for _, e := range []struct {
		status int
		body   string
	}{
		{403, `{"message":"Wrong endpoint. Use https://api.deepl.com"}`},
		{456, `{"message":"Quota exceeded"}`},
		{429, `{"message":"Too many requests"}`},
		{400, `{"message":"Value for 'target_lang' not supported."}`},
		{413, ``},
		{503, `<html>unavailable</html>`},
	} {
		got = append(got, converttest.Error(t, New(), e.status, nil, []byte(e.body))...)
	}
	adaptortest.CompareGolden(t, filepath.Join("testdata", "error.golden"), got)
}
