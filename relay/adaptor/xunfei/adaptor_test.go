package xunfei

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/adaptortest"
	"oneapi/relay/adaptor/convert/converttest"
)

const testKey = "5a0b1c2d|ZmFrZVNlY3JldFNlY3JldA|fakeapikey0123456789"

func channel(base, version string) *adaptor.Channel {
	ch := &adaptor.Channel{ID: 18, Type: adaptor.TypeXunfei, Key: testKey, BaseURL: base}
	if version != "" {
		ch.Config = map[string]string{"api_version": version}
	}
	return ch
}

func chat(model, extra string) *adaptor.Request {
	body := `{"model":"` + model + `","messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"hi"}]}]` + extra + `}`
	return &adaptor.Request{Mode: adaptor.ModeChat, Model: model, Body: []byte(body), Stream: strings.Contains(extra, `"stream":true`)}
}

func TestNewRequestGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, base, version, key string
		req                      *adaptor.Request
	}{
		{"spark_max", "", "", "", chat("Spark-Max", `,"stream":true,"stream_options":{"include_usage":true},"temperature":0.5,"max_tokens":100`)},
		{"sparkdesk_version_in_name", "", "", "", chat("SparkDesk-v3.1-128K", ``)},
		{"sparkdesk_config_version", "wss://spark-api.xf-yun.com/v4.0/chat", "v4.0", "", chat("SparkDesk", ``)},
		{"http_model_name", "", "", "", chat("generalv3.5", `,"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]`)},
		{"default_lite", "", "", "", chat("SparkDesk", ``)},
		{"api_password_key", "https://proxy.example/v1", "", "apipassword123456", chat("Spark-Lite", ``)},
		{"retired_v2", "", "v2.1", "", chat("SparkDesk", ``)},
		{"image_refused", "", "", "", &adaptor.Request{Mode: adaptor.ModeChat, Model: "Spark-Max", Body: []byte(`{"model":"Spark-Max","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}]}`)}},
		{"embeddings_refused", "", "", "", &adaptor.Request{Mode: adaptor.ModeEmbeddings, Model: "x", Body: []byte(`{}`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ch := channel(tt.base, tt.version)
			if tt.key != "" {
				ch.Key = tt.key
			}
			got := converttest.Request(t, converttest.Context(nil), New(), ch, tt.req, "Authorization", "Accept")
			adaptortest.CompareGolden(t, filepath.Join("testdata", "request_"+tt.name+".golden"), got)
		})
	}
}

func httpRequest(t *testing.T) *http.Request {
	t.Helper()
	r, err := New().NewRequest(converttest.Context(nil), channel("", ""), chat("Spark-Max", ``))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestDecodeResponseGolden(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"text", "tool_calls", "error_content", "error_auth", "malformed"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			body, err := os.ReadFile(filepath.Join("testdata", "reply_"+name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			got := converttest.Response(t, New(), chat("Spark-Max", ``), httpRequest(t), body)
			adaptortest.CompareGolden(t, filepath.Join("testdata", "reply_"+name+".golden"), got)
		})
	}
}

func TestDecodeStreamGolden(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name      string
		truncated bool
	}{{"text", false}, {"error_chunk", true}, {"truncated", true}, {"json_error", true}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in, err := os.ReadFile(filepath.Join("testdata", "stream_"+tt.name+".sse"))
			if err != nil {
				t.Fatal(err)
			}
			got := converttest.Stream(t, New(), chat("Spark-Max", `,"stream":true`), httpRequest(t), in)
			adaptortest.CompareGolden(t, filepath.Join("testdata", "stream_"+tt.name+".golden"), got)
			if tt.truncated != bytes.Contains(got, []byte("error: ")) {
				t.Errorf("truncated = %v:\n%s", !tt.truncated, got)
			}
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
		{401, `{"message":"HMAC signature cannot be verified"}`},
		{429, `{"code":11203,"message":"concurrency over flow","sid":"x"}`},
		{500, `<html>oops</html>`},
	} {
		got = append(got, converttest.Error(t, New(), e.status, nil, []byte(e.body))...)
	}
	adaptortest.CompareGolden(t, filepath.Join("testdata", "error.golden"), got)
}

// TestAgainstUpstream: the HTTP API takes "Bearer APIKey:APISecret" and
// the HTTP model name.
func TestAgainstUpstream(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("Authorization") != "Bearer fakeapikey0123456789:ZmFrZVNlY3JldFNlY3JldA" {
			w.WriteHeader(401)
			fmt.Fprint(w, `{"message":"HMAC signature cannot be verified"}`)
			return
		}
		if r.URL.Path != "/v1/chat/completions" || !bytes.Contains(body, []byte(`"model":"generalv3.5"`)) {
			fmt.Fprintf(w, `{"code":10163,"message":"bad %s"}`, body)
			return
		}
		in, _ := os.ReadFile(filepath.Join("testdata", "reply_text.json"))
		w.Write(in)
	}))
	t.Cleanup(srv.Close)
	a := New()
	r, err := a.NewRequest(converttest.Context(nil), channel(srv.URL, ""), chat("Spark-Max", ``))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(r)
	if err != nil {
		t.Fatal(err)
	}
	if _, u, err := a.DecodeResponse(chat("Spark-Max", ``), resp); err != nil || u != adaptortest.Usage(4, 8) {
		t.Fatalf("%+v %v", u, err)
	}
}
