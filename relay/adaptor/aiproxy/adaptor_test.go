package aiproxy

import (
	"bytes"
	"path/filepath"
	"testing"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/adaptortest"
	"oneapi/relay/adaptor/convert/converttest"
)

func channel(config map[string]string) *adaptor.Channel {
	return &adaptor.Channel{ID: 21, Type: adaptor.TypeAIProxyLibrary, Key: "ap-test-key-0001", Config: config}
}

func chatReq(body string, stream bool) *adaptor.Request {
	return &adaptor.Request{Mode: adaptor.ModeChat, Model: "gpt-3.5-turbo", Body: []byte(body), Stream: stream}
}

const question = `{"model":"gpt-3.5-turbo","messages":[{"role":"system","content":"x"},{"role":"user","content":"first"},{"role":"assistant","content":"a"},{"role":"user","content":"What is One API?"}]}`

func TestNewRequestGolden(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		config map[string]string
		req    *adaptor.Request
	}{
		{"ask", map[string]string{"library_id": "lib-123"}, chatReq(question, true)},
		{"no_library", nil, chatReq(question, false)},
		{"no_user_message", map[string]string{"library_id": "lib-123"}, chatReq(`{"model":"m","messages":[{"role":"system","content":"x"}]}`, false)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := converttest.Request(t, converttest.Context(nil), New(), channel(tt.config), tt.req, "Authorization")
			adaptortest.CompareGolden(t, filepath.Join("testdata", "request_"+tt.name+".golden"), got)
		})
	}
}

func TestDecodeGolden(t *testing.T) {
	t.Parallel()
	var got []byte
	for _, body := range []string{
		`{"success":true,"answer":"One API is a gateway.","documents":[{"title":"README","url":"https://example.com/readme"}]}`,
		`{"success":false,"errCode":1002,"message":"library not found"}`,
		`{"success":true,"answer":`,
	} {
		got = append(got, converttest.Response(t, New(), chatReq(question, false), nil, []byte(body))...)
	}
	for _, sse := range []string{
		"data: {\"content\":\"One API \",\"finish\":false,\"model\":\"gpt-3.5-turbo\"}\n\ndata: {\"content\":\"is a gateway.\",\"finish\":false}\n\ndata: {\"content\":\"\",\"finish\":true,\"documents\":[{\"title\":\"README\",\"url\":\"https://example.com/readme\"}]}\n\n",
		"data: {\"content\":\"One API \",\"finish\":false}\n\n",
		"{\"success\":false,\"errCode\":401,\"message\":\"invalid key\"}",
	} {
		got = append(got, "--- stream:\n"...)
		got = append(got, converttest.Stream(t, New(), chatReq(question, true), nil, []byte(sse))...)
	}
	adaptortest.CompareGolden(t, filepath.Join("testdata", "decode.golden"), got)
	if !bytes.Contains(got, []byte("参考文档")) {
		t.Error("documents not listed")
	}
}

func TestDecodeErrorGolden(t *testing.T) {
	t.Parallel()
	got := converttest.Error(t, New(), 401, nil, []byte(`{"success":false,"errCode":401,"message":"invalid token"}`))
	got = append(got, converttest.Error(t, New(), 500, nil, []byte(`oops`))...)
	adaptortest.CompareGolden(t, filepath.Join("testdata", "error.golden"), got)
}
