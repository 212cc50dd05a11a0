package ali

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/adaptortest"
	"oneapi/relay/adaptor/convert/converttest"
)

const testKey = "sk-dashscope-test-key-0001"

func channel(base string, config map[string]string) *adaptor.Channel {
	return &adaptor.Channel{ID: 17, Type: adaptor.TypeAli, Key: testKey, BaseURL: base, Config: config}
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
	}{
		{"chat", req(adaptor.ModeChat, "qwen-max-internet", `{"model":"qwen-max-internet","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}],"top_p":1,"temperature":0.7,"seed":42,"stop":["END"],"max_tokens":100,"stream":true}`), map[string]string{"plugin": `{"pdf_extracter":{}}`}},
		{"chat_tools", req(adaptor.ModeChat, "qwen-plus", `{"model":"qwen-plus","messages":[{"role":"user","content":"weather?"},{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{}"}}]},{"role":"tool","tool_call_id":"call_1","content":"sunny"}],"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}],"tool_choice":"auto"}`), nil},
		{"chat_vision", req(adaptor.ModeChat, "qwen-vl-max", `{"model":"qwen-vl-max","messages":[{"role":"user","content":[{"type":"text","text":"what is this?"},{"type":"image_url","image_url":{"url":"https://example.com/cat.png"}}]}]}`), nil},
		{"chat_audio_refused", req(adaptor.ModeChat, "qwen-max", `{"model":"qwen-max","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AAAA","format":"wav"}}]}]}`), nil},
		{"embeddings", req(adaptor.ModeEmbeddings, "text-embedding-v3", `{"model":"text-embedding-v3","input":["a","b"],"dimensions":512}`), nil},
		{"images", req(adaptor.ModeImages, "wanx-v1", `{"model":"wanx-v1","prompt":"a cat","size":"1024x1024","n":2}`), nil},
		{"images_b64_refused", req(adaptor.ModeImages, "wanx-v1", `{"model":"wanx-v1","prompt":"a cat","response_format":"b64_json"}`), nil},
		{"speech_refused", req(adaptor.ModeAudioSpeech, "cosyvoice-v1", `{"input":"hi"}`), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := converttest.Request(t, converttest.Context(nil), New(), channel("", tt.config), tt.req, "Authorization", "Accept", "X-DashScope-SSE", "X-DashScope-Async", "X-DashScope-Plugin")
			adaptortest.CompareGolden(t, filepath.Join("testdata", "request_"+tt.name+".golden"), got)
		})
	}
}

func httpRequest(t *testing.T, r *adaptor.Request) *http.Request {
	t.Helper()
	hr, err := New().NewRequest(converttest.Context(nil), channel("", nil), r)
	if err != nil {
		t.Fatal(err)
	}
	return hr
}

func TestDecodeResponseGolden(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"text", "tool_calls", "multimodal", "length", "embeddings", "malformed", "no_choices"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			body, err := os.ReadFile(filepath.Join("testdata", "reply_"+name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			r := req(adaptor.ModeChat, "qwen-max", `{"model":"qwen-max","messages":[{"role":"user","content":"hi"}]}`)
			if name == "embeddings" {
				r = req(adaptor.ModeEmbeddings, "text-embedding-v3", `{"input":["a","b"],"encoding_format":"float"}`)
			}
			got := converttest.Response(t, New(), r, httpRequest(t, r), body)
			adaptortest.CompareGolden(t, filepath.Join("testdata", "reply_"+name+".golden"), got)
		})
	}
}

func TestDecodeStreamGolden(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name      string
		truncated bool
	}{{"text", false}, {"tool_calls", false}, {"error_event", true}, {"truncated", true}, {"json_error", true}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in, err := os.ReadFile(filepath.Join("testdata", "stream_"+tt.name+".sse"))
			if err != nil {
				t.Fatal(err)
			}
			r := req(adaptor.ModeChat, "qwen-max", `{"model":"qwen-max","messages":[{"role":"user","content":"hi"}],"stream":true}`)
			got := converttest.Stream(t, New(), r, httpRequest(t, r), in)
			adaptortest.CompareGolden(t, filepath.Join("testdata", "stream_"+tt.name+".golden"), got)
			if tt.truncated != bytes.Contains(got, []byte("error: ")) {
				t.Errorf("truncated = %v:\n%s", !tt.truncated, got)
			}
		})
	}
}

func TestDecodeErrorGolden(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		status int
		body   string
		class  adaptor.ErrorClass
	}{
		{"invalid_key", 401, `{"code":"InvalidApiKey","message":"Invalid API-key provided.","request_id":"x"}`, adaptor.ClassDisable},
		{"arrearage", 400, `{"code":"Arrearage","message":"Access denied, please make sure your account is in good standing.","request_id":"x"}`, adaptor.ClassDisable},
		{"content_filter", 400, `{"code":"DataInspectionFailed","message":"Input data may contain inappropriate content. InvalidApiKey Arrearage","request_id":"x"}`, adaptor.ClassClient},
		{"bad_parameter", 400, `{"code":"InvalidParameter","message":"Range of input length should be [1, 30720]","request_id":"x"}`, adaptor.ClassClient},
		{"throttled", 429, `{"code":"Throttling.RateQuota","message":"Requests rate limit exceeded","request_id":"x"}`, adaptor.ClassRetry},
		{"unpurchased", 403, `{"code":"AccessDenied.Unpurchased","message":"Access to model denied.","request_id":"x"}`, adaptor.ClassRetry},
		{"internal", 500, `{"code":"InternalError","message":"An internal error has occured","request_id":"x"}`, adaptor.ClassRetry},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := converttest.Error(t, New(), tt.status, nil, []byte(tt.body))
			adaptortest.CompareGolden(t, filepath.Join("testdata", "error_"+tt.name+".golden"), got)
			if !strings.Contains(string(got), "class="+tt.class.String()) {
				t.Errorf("want class %v:\n%s", tt.class, got)
			}
		})
	}
}

// taskUpstream speaks DashScope's image tasks: the submission (async
// header and key checked) and GET /api/v1/tasks/{id}, which answers
// PENDING, RUNNING, then the outcome.
func taskUpstream(t *testing.T, outcome string) (*httptest.Server, *atomic.Int32) {
	var polls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+testKey {
			w.WriteHeader(401)
			fmt.Fprint(w, `{"code":"InvalidApiKey","message":"Invalid API-key provided."}`)
			return
		}
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/api/v1/services/aigc/text2image/image-synthesis":
			body, _ := io.ReadAll(r.Body)
			if r.Header.Get("X-DashScope-Async") != "enable" || !bytes.Contains(body, []byte(`"size":"1024*1024"`)) {
				w.WriteHeader(400)
				fmt.Fprintf(w, `{"code":"InvalidParameter","message":"bad %s"}`, body)
				return
			}
			fmt.Fprint(w, `{"output":{"task_status":"PENDING","task_id":"t-123"},"request_id":"r"}`)
		case r.Method == http.MethodGet && r.URL.Path == "/api/v1/tasks/t-123":
			switch polls.Add(1) {
			case 1:
				fmt.Fprint(w, `{"output":{"task_id":"t-123","task_status":"PENDING"}}`)
			case 2:
				fmt.Fprint(w, `{"output":{"task_id":"t-123","task_status":"RUNNING"}}`)
			default:
				fmt.Fprint(w, outcome)
			}
		default:
			w.WriteHeader(404)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &polls
}

func TestImageTask(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, outcome string
		wantErr       bool
		class         adaptor.ErrorClass
	}{
		{"succeeded", `{"output":{"task_id":"t-123","task_status":"SUCCEEDED","results":[{"url":"https://dashscope-result.example/1.png"},{"code":"DataInspectionFailed","message":"filtered"},{"url":"https://dashscope-result.example/2.png"}],"task_metrics":{"TOTAL":3,"SUCCEEDED":2,"FAILED":1}},"usage":{"image_count":2}}`, false, 0},
		{"filtered", `{"output":{"task_id":"t-123","task_status":"FAILED","code":"DataInspectionFailed","message":"Input data may contain inappropriate content."}}`, true, adaptor.ClassClient},
		{"failed", `{"output":{"task_id":"t-123","task_status":"FAILED","code":"InternalError.Algo","message":"algorithm error"}}`, true, adaptor.ClassRetry},
		{"garbled", `{"output":`, true, adaptor.ClassRetry},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, polls := taskUpstream(t, tt.outcome)
			a := New()
			a.poll = pollPolicy{first: time.Millisecond, every: time.Millisecond, most: 5 * time.Second}
			r := req(adaptor.ModeImages, "wanx-v1", `{"model":"wanx-v1","prompt":"a cat","size":"1024x1024","n":3}`)
			hr, err := a.NewRequest(converttest.Context(srv.Client()), channel(srv.URL, nil), r)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := srv.Client().Do(hr)
			if err != nil {
				t.Fatal(err)
			}
			body, u, err := a.DecodeResponse(r, resp)
			if tt.wantErr {
				var ue *adaptor.UpstreamError
				if !errors.As(err, &ue) || ue.Class != tt.class {
					t.Fatalf("err = %v (%+v), want class %v", err, ue, tt.class)
				}
				return
			}
			var out struct {
				Data []struct{ URL string } `json:"data"`
			}
			if err != nil || json.Unmarshal(body, &out) != nil || len(out.Data) != 2 || u.Reported || polls.Load() != 3 {
				t.Fatalf("images = %s, usage %+v, %d polls, err %v", body, u, polls.Load(), err)
			}
		})
	}
}

// TestImageTaskGivesUp: a task that never ends is a 504 once the wait is
// over, and a client that leaves stops the polling.
func TestImageTaskGivesUp(t *testing.T) {
	t.Parallel()
	srv, _ := taskUpstream(t, `{"output":{"task_id":"t-123","task_status":"RUNNING"}}`)
	a := New()
	a.poll = pollPolicy{first: time.Millisecond, every: time.Millisecond, most: 50 * time.Millisecond}
	r := req(adaptor.ModeImages, "wanx-v1", `{"model":"wanx-v1","prompt":"a cat","size":"1024x1024"}`)
	hr, _ := a.NewRequest(converttest.Context(srv.Client()), channel(srv.URL, nil), r)
	resp, err := srv.Client().Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = a.DecodeResponse(r, resp)
	var ue *adaptor.UpstreamError
	if !errors.As(err, &ue) || ue.Status != http.StatusGatewayTimeout {
		t.Fatalf("err = %v", err)
	}

	a.poll.most = time.Minute
	ctx, cancel := context.WithCancel(converttest.Context(srv.Client()))
	hr, _ = a.NewRequest(ctx, channel(srv.URL, nil), r)
	resp, err = srv.Client().Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(20*time.Millisecond, cancel)
	if _, _, err = a.DecodeResponse(r, resp); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled: %v", err)
	}
}
