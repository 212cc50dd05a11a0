// Package ollama is the adaptor for Ollama's native API (channel type
// adaptor.TypeOllama): chat on POST /api/chat (tools, images, JSON and
// schema output, thinking), completions on POST /api/generate, embeddings
// on POST /api/embed, each reply and each line of the NDJSON streams
// converted to OpenAI's format and billed by Ollama's own prompt_eval_count
// and eval_count. "Fetch models" reads GET /api/tags. The key, when the
// channel has one (Ollama's cloud, a proxy), goes as a bearer token.
package ollama

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"oneapi/relay/adaptor"
)

func init() {
	adaptor.Register(New(), adaptor.TypeOllama)
}

// Adaptor is the Ollama adaptor. It holds no per-channel state.
type Adaptor struct {
	now   func() time.Time
	newID func() string
}

var (
	_ adaptor.Adaptor     = (*Adaptor)(nil)
	_ adaptor.ModelLister = (*Adaptor)(nil)
)

// New returns the adaptor.
func New() *Adaptor { return &Adaptor{now: time.Now, newID: randomID} }

func randomID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

const (
	pathChat     = "/api/chat"
	pathGenerate = "/api/generate"
	pathEmbed    = "/api/embed"
	pathTags     = "/api/tags"
)

// NewRequest converts the OpenAI-format body for its mode. A body that
// cannot be converted (an image by URL, tool arguments that are not JSON)
// is the client's: a 400 *adaptor.UpstreamError.
func (a *Adaptor) NewRequest(ctx context.Context, ch *adaptor.Channel, req *adaptor.Request) (*http.Request, error) {
	var (
		path string
		body []byte
		err  error
	)
	switch req.Mode {
	case adaptor.ModeChat:
		path = pathChat
		body, err = toChatRequest(req)
	case adaptor.ModeCompletions:
		path = pathGenerate
		body, err = toGenerateRequest(req)
	case adaptor.ModeEmbeddings:
		path = pathEmbed
		body, err = toEmbedRequest(req)
	default:
		return nil, fmt.Errorf("%s is not served by Ollama channels", req.Mode)
	}
	if err != nil {
		return nil, err
	}
	u, err := serverURL(ch, path)
	if err != nil {
		return nil, err
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build upstream request: %w", err)
	}
	r.Header.Set("Content-Type", "application/json")
	setAuth(r.Header, ch)
	return r, nil
}

func setAuth(h http.Header, ch *adaptor.Channel) {
	if ch.Key != "" {
		h.Set("Authorization", "Bearer "+ch.Key)
	}
}

// serverURL is the channel's base (or http://localhost:11434) with path. A
// base pasted with Ollama's OpenAI-compatible "/v1" or with "/api" means
// the server's root.
func serverURL(ch *adaptor.Channel, path string) (string, error) {
	base := strings.TrimSpace(ch.BaseURL)
	if base == "" {
		t, _ := adaptor.TypeByID(adaptor.TypeOllama)
		base = t.BaseURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("channel base URL %q is not an http(s) URL", base)
	}
	p := strings.TrimRight(u.Path, "/")
	p = strings.TrimSuffix(strings.TrimSuffix(p, "/v1"), "/api")
	u.Path = p + path
	u.RawPath = ""
	return u.String(), nil
}

// DecodeResponse converts a non-stream reply.
func (a *Adaptor) DecodeResponse(req *adaptor.Request, resp *http.Response) ([]byte, adaptor.Usage, error) {
	switch req.Mode {
	case adaptor.ModeEmbeddings:
		return a.fromEmbed(req, resp)
	case adaptor.ModeCompletions:
		return a.fromGenerate(req, resp)
	}
	return a.fromChat(req, resp)
}

func clientError(code, format string, args ...any) *adaptor.UpstreamError {
	return &adaptor.UpstreamError{Status: http.StatusBadRequest, Message: fmt.Sprintf(format, args...),
		Type: "invalid_request_error", Code: code, Class: adaptor.ClassClient}
}

func badReply(what string, body []byte, err error) *adaptor.UpstreamError {
	msg := "upstream sent a malformed " + what
	if s := adaptor.Snippet(body, 120); s != "" {
		msg += ": " + s
	}
	return &adaptor.UpstreamError{Status: http.StatusBadGateway, Message: msg, Type: "upstream_error", Code: "bad_upstream_response", Class: adaptor.ClassRetry, Err: err}
}

func requestKey(resp *http.Response) string {
	if resp == nil || resp.Request == nil {
		return ""
	}
	return strings.TrimPrefix(resp.Request.Header.Get("Authorization"), "Bearer ")
}
