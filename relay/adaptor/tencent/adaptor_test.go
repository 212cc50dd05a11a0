package tencent

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/adaptortest"
	"oneapi/relay/adaptor/convert/converttest"
	"oneapi/relay/adaptor/tencent/tencenttest"
)

const (
	secretID  = "AKIDtestSecretId0001"
	secretKey = "testSecretKey0001abcdef"
	testKey   = "1300000000|" + secretID + "|" + secretKey
)

var fixed = time.Date(2025, 5, 18, 8, 30, 0, 0, time.UTC)

func testAdaptor() *Adaptor {
	a := New()
	a.now = func() time.Time { return fixed }
	return a
}

func channel(base string, config map[string]string) *adaptor.Channel {
	return &adaptor.Channel{ID: 23, Type: adaptor.TypeTencent, Key: testKey, BaseURL: base, Config: config}
}

func req(mode adaptor.Mode, model, body string) *adaptor.Request {
	return &adaptor.Request{Mode: mode, Model: model, Body: []byte(body), Stream: strings.Contains(body, `"stream":true`)}
}

func TestNewRequestGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		req    *adaptor.Request
		config map[string]string
		key    string
	}{
		{"chat", req(adaptor.ModeChat, "hunyuan-turbo", `{"model":"hunyuan-turbo","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}],"temperature":0.5,"top_p":0.8,"stop":"END","seed":7,"stream":true}`), map[string]string{"region": "ap-guangzhou"}, ""},
		{"chat_tools", req(adaptor.ModeChat, "hunyuan-functioncall", `{"model":"hunyuan-functioncall","messages":[{"role":"user","content":"weather?"},{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{}"}}]},{"role":"tool","tool_call_id":"call_1","content":"sunny"}],"tools":[{"type":"function","function":{"name":"get_weather","description":"weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}],"tool_choice":{"type":"function","function":{"name":"get_weather"}}}`), nil, ""},
		{"chat_vision", req(adaptor.ModeChat, "hunyuan-vision", `{"model":"hunyuan-vision","messages":[{"role":"user","content":[{"type":"text","text":"what?"},{"type":"image_url","image_url":{"url":"https://example.com/a.png"}}]}]}`), nil, ""},
		{"embeddings", req(adaptor.ModeEmbeddings, "hunyuan-embedding", `{"model":"hunyuan-embedding","input":"hello"}`), nil, ""},
		{"two_part_key", req(adaptor.ModeChat, "hunyuan-lite", `{"model":"hunyuan-lite","messages":[{"role":"user","content":"hi"}]}`), nil, secretID + "|" + secretKey},
		{"bad_key", req(adaptor.ModeChat, "hunyuan-lite", `{"model":"hunyuan-lite","messages":[{"role":"user","content":"hi"}]}`), nil, "only-one-part"},
		{"images_refused", req(adaptor.ModeImages, "hunyuan-image", `{"prompt":"cat"}`), nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ch := channel("", tt.config)
			if tt.key != "" {
				ch.Key = tt.key
			}
			got := converttest.Request(t, converttest.Context(nil), testAdaptor(), ch, tt.req,
				"Authorization", "X-TC-Action", "X-TC-Version", "X-TC-Timestamp", "X-TC-Region", "Content-Type")
			adaptortest.CompareGolden(t, filepath.Join("testdata", "request_"+tt.name+".golden"), got)
		})
	}
}

func httpRequest(t *testing.T, r *adaptor.Request) *http.Request {
	t.Helper()
	hr, err := testAdaptor().NewRequest(converttest.Context(nil), channel("", nil), r)
	if err != nil {
		t.Fatal(err)
	}
	return hr
}

func TestDecodeResponseGolden(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"text", "tool_calls", "sensitive", "error_signature", "error_param", "error_arrears", "error_limit", "embeddings", "malformed", "no_envelope"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			body, err := os.ReadFile(filepath.Join("testdata", "reply_"+name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			r := req(adaptor.ModeChat, "hunyuan-turbo", `{"model":"hunyuan-turbo","messages":[{"role":"user","content":"hi"}]}`)
			if name == "embeddings" {
				r = req(adaptor.ModeEmbeddings, "hunyuan-embedding", `{"input":"hello"}`)
			}
			got := converttest.Response(t, testAdaptor(), r, httpRequest(t, r), body)
			adaptortest.CompareGolden(t, filepath.Join("testdata", "reply_"+name+".golden"), got)
		})
	}
}

func TestDecodeStreamGolden(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name      string
		truncated bool
	}{{"text", false}, {"tool_calls", false}, {"truncated", true}, {"json_error", true}, {"error_msg", true}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in, err := os.ReadFile(filepath.Join("testdata", "stream_"+tt.name+".sse"))
			if err != nil {
				t.Fatal(err)
			}
			r := req(adaptor.ModeChat, "hunyuan-turbo", `{"model":"hunyuan-turbo","messages":[{"role":"user","content":"hi"}],"stream":true}`)
			got := converttest.Stream(t, testAdaptor(), r, httpRequest(t, r), in)
			adaptortest.CompareGolden(t, filepath.Join("testdata", "stream_"+tt.name+".golden"), got)
			if tt.truncated != bytes.Contains(got, []byte("error: ")) {
				t.Errorf("truncated = %v:\n%s", !tt.truncated, got)
			}
		})
	}
}

func hunyuanUpstream(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := tencenttest.Verify(r, body, map[string]string{secretID: secretKey}, time.Now()); err != nil {
			fmt.Fprintf(w, `{"Response":{"Error":{"Code":%q,"Message":"signature check failed"},"RequestId":"x"}}`, err.Error())
			return
		}
		if r.Header.Get("X-TC-Version") != apiVersion || r.Header.Get("X-TC-Action") != "ChatCompletions" {
			fmt.Fprint(w, `{"Response":{"Error":{"Code":"InvalidAction","Message":"no such action"},"RequestId":"x"}}`)
			return
		}
		if bytes.Contains(body, []byte(`"Stream":true`)) {
			in, _ := os.ReadFile(filepath.Join("testdata", "stream_text.sse"))
			w.Header().Set("Content-Type", "text/event-stream")
			w.Write(in)
			return
		}
		in, _ := os.ReadFile(filepath.Join("testdata", "reply_text.json"))
		w.Write(in)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestSignatureAgainstUpstream: a server that recomputes the signature
// accepts the adaptor's requests, and refuses one with the wrong secret.
func TestSignatureAgainstUpstream(t *testing.T) {
	t.Parallel()
	srv := hunyuanUpstream(t)
	a := New()
	do := func(ch *adaptor.Channel, r *adaptor.Request) *http.Response {
		t.Helper()
		hr, err := a.NewRequest(converttest.Context(nil), ch, r)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := srv.Client().Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	chat := req(adaptor.ModeChat, "hunyuan-turbo", `{"model":"hunyuan-turbo","messages":[{"role":"user","content":"你好，世界 \u003c\u003e"}]}`)
	_, u, err := a.DecodeResponse(chat, do(channel(srv.URL, nil), chat))
	if err != nil || u != adaptortest.Usage(6, 3) {
		t.Fatalf("chat: %+v %v", u, err)
	}
	stream := req(adaptor.ModeChat, "hunyuan-turbo", `{"model":"hunyuan-turbo","messages":[{"role":"user","content":"hi"}],"stream":true}`)
	u, err = a.DecodeStream(stream, do(channel(srv.URL, nil), stream), func(adaptor.Event) error { return nil })
	if err != nil || u != adaptortest.Usage(6, 3) {
		t.Fatalf("stream: %+v %v", u, err)
	}
	bad := channel(srv.URL, nil)
	bad.Key = "1|" + secretID + "|wrong"
	_, _, err = a.DecodeResponse(chat, do(bad, chat))
	var ue *adaptor.UpstreamError
	if !errors.As(err, &ue) || ue.Class != adaptor.ClassDisable || ue.Code != "AuthFailure.SignatureFailure" {
		t.Fatalf("wrong secret: %v", err)
	}
	if strings.Contains(ue.Message, "wrong") {
		t.Errorf("secret in message: %s", ue.Message)
	}
}

func TestDecodeErrorGolden(t *testing.T) {
	t.Parallel()
	got := converttest.Error(t, testAdaptor(), 503, http.Header{"Content-Type": {"text/html"}}, []byte("<html>down</html>"))
	got = append(got, converttest.Error(t, testAdaptor(), 500, nil, []byte(`{"Response":{"Error":{"Code":"InternalError","Message":"internal"},"RequestId":"x"}}`))...)
	adaptortest.CompareGolden(t, filepath.Join("testdata", "error.golden"), got)
}
