package coze

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/adaptortest"
	"oneapi/relay/adaptor/convert/converttest"
)

const testKey = "pat_testCozeToken0001"

func channel(config map[string]string) *adaptor.Channel {
	return &adaptor.Channel{ID: 34, Type: adaptor.TypeCoze, Key: testKey, Config: config}
}

func chatReq(body string, stream bool) *adaptor.Request {
	return &adaptor.Request{Mode: adaptor.ModeChat, Model: "bot-7379462189365198898", Body: []byte(body), Stream: stream}
}

const conversation = `{"model":"bot-7379462189365198898","user":"u-9","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"},{"role":"assistant","content":"hello"},{"role":"user","content":"again"}]}`

func TestNewRequestGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		req    *adaptor.Request
		config map[string]string
	}{
		{"chat", chatReq(conversation, false), map[string]string{"user_id": "one-api-user"}},
		{"chat_user_from_request", chatReq(conversation, true), nil},
		{"tools_refused", chatReq(`{"model":"bot-1","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f"}}]}`, false), nil},
		{"embeddings_refused", &adaptor.Request{Mode: adaptor.ModeEmbeddings, Model: "bot-1", Body: []byte(`{}`)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := converttest.Request(t, converttest.Context(nil), New(), channel(tt.config), tt.req, "Authorization", "Accept")
			adaptortest.CompareGolden(t, filepath.Join("testdata", "request_"+tt.name+".golden"), got)
		})
	}
}

func httpRequest(t *testing.T) *http.Request {
	t.Helper()
	r, err := New().NewRequest(converttest.Context(nil), channel(nil), chatReq(conversation, true))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestDecodeGolden(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name      string
		truncated bool
	}{{"ok", false}, {"failed", true}, {"truncated", true}, {"error_event", true}, {"json_error", true}, {"requires_action", true}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in, err := os.ReadFile(filepath.Join("testdata", "stream_"+tt.name+".sse"))
			if err != nil {
				t.Fatal(err)
			}
			got := converttest.Stream(t, New(), chatReq(conversation, true), httpRequest(t), in)
			adaptortest.CompareGolden(t, filepath.Join("testdata", "stream_"+tt.name+".golden"), got)
			if tt.truncated != bytes.Contains(got, []byte("error: ")) {
				t.Errorf("truncated = %v:\n%s", !tt.truncated, got)
			}
			// The same events gathered for a non-stream request.
			got = converttest.Response(t, New(), chatReq(conversation, false), httpRequest(t), in)
			adaptortest.CompareGolden(t, filepath.Join("testdata", "reply_"+tt.name+".golden"), got)
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
		{401, `{"code":4100,"msg":"authentication is invalid"}`},
		{429, `{"code":4013,"msg":"request frequency exceeded"}`},
		{400, `{"code":4000,"msg":"invalid parameter"}`},
		{502, `<html>bad gateway</html>`},
	} {
		got = append(got, converttest.Error(t, New(), e.status, nil, []byte(e.body))...)
	}
	adaptortest.CompareGolden(t, filepath.Join("testdata", "error.golden"), got)
}
