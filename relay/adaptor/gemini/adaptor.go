// Package gemini is the adaptor for Google Gemini channels speaking the
// native Generative Language API (generateContent, streamGenerateContent,
// batchEmbedContents). It serves chat completions and embeddings; other
// OpenAI endpoints are refused so the relay tries another channel.
//
// The key travels in the x-goog-api-key header only, never in the URL:
// URLs end up in logs and error messages. Importing the package registers
// it for adaptor.TypeGemini.
package gemini

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"oneapi/relay/adaptor"
)

func init() {
	adaptor.Register(New(), adaptor.TypeGemini)
}

// DefaultAPIVersion is used when a channel sets no api_version.
const DefaultAPIVersion = "v1beta"

// apiKeyHeader carries the channel key.
const apiKeyHeader = "x-goog-api-key"

// Adaptor is the Gemini adaptor. It is stateless.
type Adaptor struct{}

var _ adaptor.Adaptor = (*Adaptor)(nil)

// New returns the adaptor.
func New() *Adaptor { return &Adaptor{} }

// NewRequest converts the OpenAI-format body into a Gemini request. It
// reads req.Body, not req.Chat: only the body carries the channel's system
// prompt. A body Gemini cannot take comes back as an *adaptor.UpstreamError
// of class ClassClient; a mode Gemini does not serve as a plain error, so
// the relay tries another channel.
func (a *Adaptor) NewRequest(ctx context.Context, ch *adaptor.Channel, req *adaptor.Request) (*http.Request, error) {
	var (
		body   any
		method string
		err    error
	)
	switch req.Mode {
	case adaptor.ModeChat:
		var cr *generateContentRequest
		if cr, err = chatRequestBody(req.Body); cr != nil {
			cr.SafetySettings = safetySettings()
		}
		body, method = cr, "generateContent"
		if req.Stream {
			method = "streamGenerateContent"
		}
	case adaptor.ModeEmbeddings:
		body, err = embedRequestBody(req.Body, req.Model)
		method = "batchEmbedContents"
	default:
		return nil, fmt.Errorf("%s is not supported by Gemini channels", req.Mode)
	}
	if err != nil {
		return nil, err
	}
	stream := req.Stream && req.Mode == adaptor.ModeChat
	u, err := requestURL(ch, req.Model, method, stream)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode Gemini request: %w", err)
	}
	// A *bytes.Reader body lets net/http replay the request on a stale
	// keep-alive connection.
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("build upstream request: %w", err)
	}
	r.Header.Set("Content-Type", "application/json")
	if stream {
		r.Header.Set("Accept", "text/event-stream")
	}
	r.Header.Set(apiKeyHeader, ch.Key)
	return r, nil
}

// requestURL returns {base}/{version}/models/{model}:{method}, with
// ?alt=sse for a stream (without it Gemini streams one JSON array).
func requestURL(ch *adaptor.Channel, model, method string, stream bool) (string, error) {
	base := strings.TrimSpace(ch.BaseURL)
	if base == "" {
		t, _ := adaptor.TypeByID(adaptor.TypeGemini)
		base = t.BaseURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("channel base URL %q is not an http(s) URL", base)
	}
	// Google names models "models/gemini-2.5-flash" in its own replies; a
	// mapping copied from there should still work.
	model = strings.TrimPrefix(model, "models/")
	if model == "" {
		return "", clientError("the request names no model")
	}

	prefix := strings.TrimRight(u.Path, "/")
	// A base URL that already ends in a version (".../v1beta") is used as
	// is rather than getting a second one.
	if !endsInVersion(prefix) {
		version := strings.Trim(strings.TrimSpace(ch.Config["api_version"]), "/")
		if version == "" {
			version = defaultVersion()
		}
		prefix += "/" + version
	}
	prefix += "/models/"
	// The model is the client's text: it stays one path segment, and its
	// ":" is escaped so it cannot name another method.
	segment := strings.ReplaceAll(url.PathEscape(model), ":", "%3A")
	u.Path = prefix + model + ":" + method
	u.RawPath = (&url.URL{Path: prefix}).EscapedPath() + segment + ":" + method
	if stream {
		q := u.Query()
		q.Set("alt", "sse")
		u.RawQuery = q.Encode()
	}
	return u.String(), nil
}

// endsInVersion reports whether the last segment of a URL path is an API
// version such as v1, v1beta or v1alpha.
func endsInVersion(p string) bool {
	seg := p[strings.LastIndexByte(p, '/')+1:]
	if len(seg) < 2 || seg[0] != 'v' || seg[1] < '0' || seg[1] > '9' {
		return false
	}
	rest := strings.TrimLeft(seg[1:], "0123456789")
	return rest == "" || rest == "alpha" || rest == "beta"
}

// DecodeResponse turns a generateContent reply into a chat.completion, or
// a batchEmbedContents reply into an embeddings list.
func (a *Adaptor) DecodeResponse(req *adaptor.Request, resp *http.Response) ([]byte, adaptor.Usage, error) {
	defer resp.Body.Close()
	body, err := adaptor.ReadBody(resp, maxResponseSize)
	if err != nil {
		if errors.Is(err, adaptor.ErrBodyTooLarge) {
			return nil, adaptor.Usage{}, &adaptor.UpstreamError{Status: http.StatusBadGateway, Message: "upstream reply too large", Type: "upstream_error", Class: adaptor.ClassClient, Err: err}
		}
		return nil, adaptor.Usage{}, adaptor.TransportError(err)
	}
	switch req.Mode {
	case adaptor.ModeChat:
		return decodeChat(req, resp, body)
	case adaptor.ModeEmbeddings:
		return decodeEmbeddings(req, body)
	}
	return nil, adaptor.Usage{}, fmt.Errorf("%s is not supported by Gemini channels", req.Mode)
}

// clientError is a request Gemini cannot take: the client's fault, so the
// relay answers it rather than trying another channel.
func clientError(format string, args ...any) *adaptor.UpstreamError {
	return &adaptor.UpstreamError{
		Status:  http.StatusBadRequest,
		Message: fmt.Sprintf(format, args...),
		Type:    "invalid_request_error",
		Class:   adaptor.ClassClient,
	}
}

// randomID returns 24 random hex digits, for completion and tool call ids.
func randomID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// requestKey returns the channel key the request carried, so it can be
// redacted from messages upstream echoes.
func requestKey(resp *http.Response) string {
	if resp == nil || resp.Request == nil {
		return ""
	}
	return resp.Request.Header.Get(apiKeyHeader)
}
