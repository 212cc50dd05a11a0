// Package tgi is the adaptor for Hugging Face's inference servers (channel
// type adaptor.TypeHuggingFace): Text Generation Inference (TGI) for chat
// and completions, Text Embeddings Inference (TEI) for embeddings and
// rerank, self-hosted or as Inference Endpoints (a bearer key).
//
// Chat goes to TGI's Messages API (/v1/chat/completions, OpenAI's format)
// when the server has it (TGI 1.4 and later, as GET /info says), else to the
// native POST /generate or /generate_stream with a plain transcript as the
// prompt; /v1/completions always goes native. Native calls ask for details,
// so billing uses the server's own token counts (details.generated_tokens,
// details.input_length, the x-prompt-tokens and x-generated-tokens headers),
// never a count made with another model's tokenizer. GET /info is cached per
// channel; its max_input_tokens and max_total_tokens refuse a prompt the
// server cannot take with a clear 400 before it is sent. Embeddings go to
// TEI's POST /embed and rerank to POST /rerank, billed by x-compute-tokens.
//
// Channel config: "api" = "messages" or "generate" overrides what /info
// says; "truncate" = "true" lets TEI cut inputs longer than the model takes
// instead of refusing them.
package tgi

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
	"oneapi/relay/adaptor/openai"
)

func init() {
	adaptor.Register(New(), adaptor.TypeHuggingFace)
}

// Adaptor is the TGI/TEI adaptor. Its only state is the cache of each
// channel's GET /info.
type Adaptor struct {
	oai   *openai.Adaptor // the Messages API speaks OpenAI's format
	info  *infoCache
	now   func() time.Time
	newID func() string
}

var (
	_ adaptor.Adaptor     = (*Adaptor)(nil)
	_ adaptor.Preparer    = (*Adaptor)(nil)
	_ adaptor.Prober      = (*Adaptor)(nil)
	_ adaptor.ModelLister = (*Adaptor)(nil)
)

// New returns the adaptor.
func New() *Adaptor {
	return &Adaptor{oai: openai.New(), info: newInfoCache(), now: time.Now, newID: randomID}
}

func randomID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Server paths.
const (
	pathMessages       = "/v1/chat/completions"
	pathGenerate       = "/generate"
	pathGenerateStream = "/generate_stream"
	pathInfo           = "/info"
	pathEmbed          = "/embed"
	pathRerank         = "/rerank"
)

// NewRequest builds the call for the mode: chat to the Messages API or the
// native generate endpoints, completions native, embeddings and rerank to
// TEI. What cannot be converted (tools or images on the native API, several
// prompts) is the client's: a 400 *adaptor.UpstreamError.
func (a *Adaptor) NewRequest(ctx context.Context, ch *adaptor.Channel, req *adaptor.Request) (*http.Request, error) {
	var (
		path string
		body []byte
		err  error
	)
	switch req.Mode {
	case adaptor.ModeChat:
		if a.useMessages(ch) {
			path, body = pathMessages, req.Body
		} else {
			path, body, err = toGenerateFromChat(req)
		}
	case adaptor.ModeCompletions:
		path, body, err = toGenerateFromCompletion(req)
	case adaptor.ModeEmbeddings:
		path, body, err = toEmbed(ch, req)
	case adaptor.ModeRerank:
		path, body, err = toRerank(ch, req)
	default:
		return nil, fmt.Errorf("%s is not served by Hugging Face TGI/TEI channels", req.Mode)
	}
	if err != nil {
		return nil, err
	}
	u, err := serverURL(ch, path)
	if err != nil {
		return nil, err
	}
	// A *bytes.Reader body lets net/http replay the request on a stale
	// keep-alive connection.
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build upstream request: %w", err)
	}
	r.Header.Set("Content-Type", "application/json")
	if req.Stream {
		r.Header.Set("Accept", "text/event-stream")
	}
	setAuth(r.Header, ch)
	return r, nil
}

// useMessages says whether chat goes to the Messages API: as the channel's
// config says, else as the server's /info said (known once Prepare ran),
// else yes, as every TGI of the last two years has it.
func (a *Adaptor) useMessages(ch *adaptor.Channel) bool {
	switch ch.Config["api"] {
	case "messages":
		return true
	case "generate":
		return false
	}
	if info, ok := a.info.peek(cacheKey(ch)); ok && info.known {
		return info.messages
	}
	return true
}

// setAuth sends the key as a bearer token: Inference Endpoints need it, a
// self-hosted server without --api-key ignores it.
func setAuth(h http.Header, ch *adaptor.Channel) {
	if ch.Key != "" {
		h.Set("Authorization", "Bearer "+ch.Key)
	}
}

// serverURL is the channel's base URL with path appended. A base pasted with
// a trailing "/v1" (the Messages API's prefix) means the server's root.
func serverURL(ch *adaptor.Channel, path string) (string, error) {
	base := strings.TrimSpace(ch.BaseURL)
	if base == "" {
		return "", fmt.Errorf("Hugging Face TGI/TEI channels need a base URL (the server or Inference Endpoint URL)")
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("channel base URL %q is not an http(s) URL", base)
	}
	u.Path = strings.TrimSuffix(strings.TrimRight(u.Path, "/"), "/v1") + path
	u.RawPath = ""
	return u.String(), nil
}

// native reports whether resp answers a native generate call (rather than
// the Messages API or TEI).
func native(resp *http.Response) bool {
	if resp == nil || resp.Request == nil || resp.Request.URL == nil {
		return false
	}
	p := resp.Request.URL.Path
	return strings.HasSuffix(p, pathGenerate) || strings.HasSuffix(p, pathGenerateStream)
}

// DecodeResponse converts a reply: native generate to a chat completion or
// a text completion, TEI's to OpenAI's embeddings or the rerank shape, the
// Messages API's as the OpenAI adaptor reads it.
func (a *Adaptor) DecodeResponse(req *adaptor.Request, resp *http.Response) ([]byte, adaptor.Usage, error) {
	switch {
	case req.Mode == adaptor.ModeEmbeddings:
		return a.fromEmbed(req, resp)
	case req.Mode == adaptor.ModeRerank:
		return a.fromRerank(req, resp)
	case native(resp):
		return a.fromGenerate(req, resp)
	}
	return a.oai.DecodeResponse(req, resp)
}

// DecodeStream converts a native generate_stream to OpenAI chunks, or
// passes the Messages API's stream through the OpenAI adaptor.
func (a *Adaptor) DecodeStream(req *adaptor.Request, resp *http.Response, send func(adaptor.Event) error) (adaptor.Usage, error) {
	if native(resp) {
		return a.fromGenerateStream(req, resp, send)
	}
	return a.oai.DecodeStream(req, resp, send)
}

// clientError reports a request the server cannot take as it is: the
// client must change it, so no other channel is tried.
func clientError(code, format string, args ...any) *adaptor.UpstreamError {
	return &adaptor.UpstreamError{
		Status:  http.StatusBadRequest,
		Message: fmt.Sprintf(format, args...),
		Type:    "invalid_request_error",
		Code:    code,
		Class:   adaptor.ClassClient,
	}
}

// badReply reports a 2xx reply that is not what the server should send.
func badReply(what string, body []byte, err error) *adaptor.UpstreamError {
	msg := "upstream sent a malformed " + what
	if s := adaptor.Snippet(body, 120); s != "" {
		msg += ": " + s
	}
	return &adaptor.UpstreamError{Status: http.StatusBadGateway, Message: msg, Type: "upstream_error", Code: "bad_upstream_response", Class: adaptor.ClassRetry, Err: err}
}

// requestKey returns the key the request carried, to redact it.
func requestKey(resp *http.Response) string {
	if resp == nil || resp.Request == nil {
		return ""
	}
	return strings.TrimPrefix(resp.Request.Header.Get("Authorization"), "Bearer ")
}
