package zhipu

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/adaptortest"
	"oneapi/relay/adaptor/convert/converttest"
)

const testKey = "a1b2c3d4e5.s3cr3tS3cr3tS3cr3t"

var fixed = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func testAdaptor() *Adaptor {
	a := New()
	a.now = func() time.Time { return fixed }
	a.tokens.Now = a.now
	return a
}

func testChannel(base string) *adaptor.Channel {
	return &adaptor.Channel{ID: 16, Type: adaptor.TypeZhipu, Key: testKey, BaseURL: base}
}

func request(mode adaptor.Mode, body string, stream bool) *adaptor.Request {
	return &adaptor.Request{Mode: mode, Model: "glm-4-plus", Body: []byte(body), Stream: stream}
}

func TestNewRequestGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		mode adaptor.Mode
		body string
		base string
	}{
		{"chat", adaptor.ModeChat, `{"model":"glm-4-plus","messages":[{"role":"user","content":"hi"}],"temperature":1.6,"top_p":0.5,"stream":true,"stream_options":{"include_usage":true}}`, ""},
		{"chat_base_with_version", adaptor.ModeChat, `{"model":"glm-4-plus","messages":[{"role":"user","content":"hi"}]}`, "https://proxy.example/api/paas/v4/"},
		{"embeddings", adaptor.ModeEmbeddings, `{"model":"embedding-3","input":["a","b"],"encoding_format":"base64"}`, ""},
		{"images", adaptor.ModeImages, `{"model":"cogview-3-plus","prompt":"a cat","size":"1024x1024"}`, ""},
		{"audio_refused", adaptor.ModeAudioSpeech, `{"model":"x","input":"hi"}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := converttest.Request(t, converttest.Context(nil), testAdaptor(), testChannel(tt.base), request(tt.mode, tt.body, strings.Contains(tt.body, `"stream":true`)), "Authorization", "Accept")
			adaptortest.CompareGolden(t, filepath.Join("testdata", "request_"+tt.name+".golden"), got)
		})
	}
}

// TestJWT checks the token against Zhipu's scheme: HS256 with the secret,
// the id as api_key, millisecond exp and timestamp, sign_type SIGN.
func TestJWT(t *testing.T) {
	t.Parallel()
	cred, err := testAdaptor().sign(testKey)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := verifyJWT(cred.Value, "s3cr3tS3cr3tS3cr3t", fixed)
	if err != nil {
		t.Fatal(err)
	}
	if claims.APIKey != "a1b2c3d4e5" || claims.Timestamp != fixed.UnixMilli() || claims.Exp != fixed.Add(time.Hour).UnixMilli() {
		t.Errorf("claims = %+v", claims)
	}
	if !cred.Expires.Equal(fixed.Add(time.Hour)) {
		t.Errorf("expires %v", cred.Expires)
	}
	for _, bad := range []string{"nodot", ".secret", "id.", "a.b.c"} {
		if _, err := testAdaptor().sign(bad); !errors.Is(err, errBadKey) {
			t.Errorf("sign(%q) = %v, want errBadKey", bad, err)
		}
	}
}

type jwtClaims struct {
	APIKey    string `json:"api_key"`
	Exp       int64  `json:"exp"`
	Timestamp int64  `json:"timestamp"`
}

// verifyJWT is what Zhipu's server does with the token.
func verifyJWT(token, secret string, now time.Time) (*jwtClaims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errors.New("not a JWT")
	}
	enc := base64.RawURLEncoding
	var header map[string]string
	hb, _ := enc.DecodeString(parts[0])
	if json.Unmarshal(hb, &header) != nil || header["alg"] != "HS256" || header["sign_type"] != "SIGN" {
		return nil, fmt.Errorf("header %s", hb)
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(parts[0] + "." + parts[1]))
	sig, _ := enc.DecodeString(parts[2])
	if !hmac.Equal(sig, mac.Sum(nil)) {
		return nil, errors.New("bad signature")
	}
	var c jwtClaims
	cb, _ := enc.DecodeString(parts[1])
	if err := json.Unmarshal(cb, &c); err != nil {
		return nil, err
	}
	if c.Exp <= now.UnixMilli() {
		return nil, errors.New("expired")
	}
	return &c, nil
}

// TestTokenCachedAndRenewed: one token per channel while it is fresh, a new
// one when it is due, and a new one for a changed key.
func TestTokenCachedAndRenewed(t *testing.T) {
	t.Parallel()
	now := fixed
	a := New()
	a.now = func() time.Time { return now }
	a.tokens.Now = a.now
	get := func(ch *adaptor.Channel) string {
		r, err := a.NewRequest(converttest.Context(nil), ch, request(adaptor.ModeChat, `{"model":"glm-4","messages":[]}`, false))
		if err != nil {
			t.Fatal(err)
		}
		return r.Header.Get("Authorization")
	}
	ch := testChannel("")
	first := get(ch)
	now = now.Add(50 * time.Minute)
	if got := get(ch); got != first {
		t.Error("token re-signed while fresh")
	}
	now = now.Add(6 * time.Minute) // 4 minutes before expiry: due
	renewed := get(ch)
	for i := 0; renewed == first && i < 100; i++ { // renewed in the background
		time.Sleep(5 * time.Millisecond)
		renewed = get(ch)
	}
	if renewed == first {
		t.Error("token not renewed before expiry")
	}
	other := *ch
	other.Key = "zz.other-secret"
	if get(&other) == renewed {
		t.Error("a changed key kept the old token")
	}
}

func TestDecodeErrorGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		body   string
		class  adaptor.ErrorClass
	}{
		{"auth_failed", 401, `{"error":{"code":"1002","message":"Authorization Token非法，请确认Authorization Token正确传递。"}}`, adaptor.ClassDisable},
		{"arrears", 429, `{"error":{"code":"1113","message":"您的账户已欠费，请充值后重试。"}}`, adaptor.ClassDisable},
		{"rate_limited", 429, `{"error":{"code":"1302","message":"您当前使用该API的并发数过高，请降低并发，或联系客服增加限额。"}}`, adaptor.ClassRetry},
		{"token_expired", 401, `{"error":{"code":"1003","message":"Authorization Token已经过期"}}`, adaptor.ClassRetry},
		{"unknown_model", 400, `{"error":{"code":"1211","message":"模型不存在，请检查模型代码。"}}`, adaptor.ClassClient},
		// The message echoes the client: "insufficient balance" in it changes nothing.
		{"content_filter", 400, `{"error":{"code":"1301","message":"系统检测到输入或生成内容可能包含不安全或敏感内容 insufficient balance invalid key"}}`, adaptor.ClassClient},
		{"html", 502, `<html><body>Bad gateway</body></html>`, adaptor.ClassRetry},
		{"numeric_code", 400, `{"error":{"code":1214,"message":"messages 参数非法"}}`, adaptor.ClassClient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := converttest.Error(t, testAdaptor(), tt.status, nil, []byte(tt.body))
			adaptortest.CompareGolden(t, filepath.Join("testdata", "error_"+tt.name+".golden"), got)
			if !strings.Contains(string(got), "class="+tt.class.String()) {
				t.Errorf("want class %v:\n%s", tt.class, got)
			}
		})
	}
}

// zhipuUpstream speaks the v4 API: it checks the JWT like Zhipu does and
// answers chat (stream or not) and embeddings.
func zhipuUpstream(t *testing.T, h func(w http.ResponseWriter, r *http.Request, body []byte)) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if _, err := verifyJWT(token, "s3cr3tS3cr3tS3cr3t", time.Now()); err != nil {
			w.WriteHeader(401)
			fmt.Fprintf(w, `{"error":{"code":"1002","message":"token: %v"}}`, err)
			return
		}
		body, _ := io.ReadAll(r.Body)
		h(w, r, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestAgainstUpstream(t *testing.T) {
	t.Parallel()
	srv := zhipuUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		switch {
		case r.URL.Path == "/api/paas/v4/embeddings":
			fmt.Fprint(w, `{"model":"embedding-3","data":[{"embedding":[0.5,-1],"index":0,"object":"embedding"}],"object":"list","usage":{"prompt_tokens":3,"completion_tokens":0,"total_tokens":3}}`)
		case strings.Contains(string(body), `"truncate"`):
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "data: {\"id\":\"1\",\"created\":1,\"model\":\"glm-4\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hel\"}}]}\n\n")
		case strings.Contains(string(body), `"filtered"`):
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "data: {\"id\":\"1\",\"created\":1,\"model\":\"glm-4\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hel\"}}]}\n\n")
			fmt.Fprint(w, "data: {\"error\":{\"code\":\"1301\",\"message\":\"unsafe\"}}\n\n")
		case strings.Contains(string(body), `"stream":true`):
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "data: {\"id\":\"1\",\"created\":1,\"model\":\"glm-4\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hello\"}}]}\n\n")
			fmt.Fprint(w, "data: {\"id\":\"1\",\"created\":1,\"model\":\"glm-4\",\"choices\":[{\"index\":0,\"finish_reason\":\"stop\",\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":2,\"total_tokens\":9}}\n\n")
			fmt.Fprint(w, "data: [DONE]\n\n")
		case strings.Contains(string(body), `"garbage"`):
			fmt.Fprint(w, `{"id":"1","choices":[{"index":0,"message":`)
		default:
			fmt.Fprint(w, `{"id":"1","created":1,"model":"glm-4","choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"Hello"}}],"usage":{"prompt_tokens":7,"completion_tokens":2,"total_tokens":9}}`)
		}
	})
	a := New()
	ch := testChannel(srv.URL)
	call := func(req *adaptor.Request) *http.Response {
		t.Helper()
		r, err := a.NewRequest(converttest.Context(nil), ch, req)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}

	resp := call(request(adaptor.ModeChat, `{"model":"glm-4","messages":[{"role":"user","content":"hi"}]}`, false))
	if _, u, err := a.DecodeResponse(request(adaptor.ModeChat, "", false), resp); err != nil || u != adaptortest.Usage(7, 2) {
		t.Errorf("chat: usage %+v, err %v", u, err)
	}
	resp = call(request(adaptor.ModeChat, `{"model":"glm-4","messages":[{"role":"user","content":"hi"}],"stream":true}`, true))
	var events int
	u, err := a.DecodeStream(request(adaptor.ModeChat, "", true), resp, func(adaptor.Event) error { events++; return nil })
	if err != nil || u != adaptortest.Usage(7, 2) || events != 2 {
		t.Errorf("stream: %d events, usage %+v, err %v", events, u, err)
	}
	resp = call(request(adaptor.ModeChat, `{"model":"glm-4","messages":[{"role":"user","content":"truncate"}],"stream":true}`, true))
	if _, err := a.DecodeStream(request(adaptor.ModeChat, "", true), resp, func(adaptor.Event) error { return nil }); !errors.Is(err, adaptor.ErrStreamTruncated) {
		t.Errorf("truncated stream: %v", err)
	}
	resp = call(request(adaptor.ModeChat, `{"model":"glm-4","messages":[{"role":"user","content":"filtered"}],"stream":true}`, true))
	_, err = a.DecodeStream(request(adaptor.ModeChat, "", true), resp, func(adaptor.Event) error { return nil })
	var ue *adaptor.UpstreamError
	if !errors.As(err, &ue) || ue.Class != adaptor.ClassClient || ue.Code != "1301" {
		t.Errorf("error event: %v (%+v)", err, ue)
	}
	resp = call(request(adaptor.ModeChat, `{"model":"glm-4","messages":[{"role":"user","content":"garbage"}]}`, false))
	if _, _, err := a.DecodeResponse(request(adaptor.ModeChat, "", false), resp); !errors.As(err, &ue) || ue.Status != 502 || ue.Class != adaptor.ClassRetry {
		t.Errorf("truncated reply: %v", err)
	}

	req := request(adaptor.ModeEmbeddings, `{"model":"embedding-3","input":"abc","encoding_format":"base64"}`, false)
	resp = call(req)
	body, u, err := a.DecodeResponse(req, resp)
	if err != nil || u.Input != 3 || !strings.Contains(string(body), `"embedding":"AAAAPwAAgL8="`) {
		t.Errorf("embeddings: %s %+v %v", body, u, err)
	}

	// A wrong secret: Zhipu refuses the token; the channel is disabled.
	bad := testChannel(srv.URL)
	bad.Key = "a1b2c3d4e5.wrong"
	r, _ := a.NewRequest(converttest.Context(nil), bad, request(adaptor.ModeChat, `{"model":"glm-4","messages":[]}`, false))
	resp, err = http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	if ue := a.DecodeError(resp); ue.Class != adaptor.ClassDisable || resp.StatusCode != 401 {
		t.Errorf("wrong secret: %d %+v", resp.StatusCode, ue)
	}
}
