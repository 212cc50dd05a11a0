// Package cohere is the adaptor for Cohere's v2 API (channel type
// adaptor.TypeCohere): chat (POST /v2/chat, tools, images, JSON output, its
// stream events), embeddings (POST /v2/embed) and rerank (POST /v2/rerank).
// Chat and embeddings are billed by the reply's usage.billed_units (what
// Cohere charges), else its token counts; rerank, which Cohere bills in
// search units, is billed by the gateway's count of the query and
// documents. "Fetch models" reads GET /v1/models.
//
// Channel config: "input_type" is the embeddings' input_type when the
// request does not give one (default search_document).
package cohere

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"oneapi/relay/adaptor"
	"oneapi/relay/oai"
)

func init() {
	adaptor.Register(New(), adaptor.TypeCohere)
}

// Adaptor is the Cohere adaptor. It holds no per-channel state.
type Adaptor struct {
	now func() time.Time
}

var (
	_ adaptor.Adaptor     = (*Adaptor)(nil)
	_ adaptor.ModelLister = (*Adaptor)(nil)
)

// New returns the adaptor.
func New() *Adaptor { return &Adaptor{now: time.Now} }

const (
	pathChat   = "/v2/chat"
	pathEmbed  = "/v2/embed"
	pathRerank = "/v2/rerank"
	pathModels = "/v1/models"
)

// NewRequest converts the OpenAI-format body for its mode; what cannot be
// converted is the client's (a 400 *adaptor.UpstreamError).
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
	case adaptor.ModeEmbeddings:
		path = pathEmbed
		body, err = toEmbedRequest(ch, req)
	case adaptor.ModeRerank:
		path = pathRerank
		body, err = toRerankRequest(req)
	default:
		return nil, fmt.Errorf("%s is not served by Cohere channels", req.Mode)
	}
	if err != nil {
		return nil, err
	}
	u, err := apiURL(ch, path)
	if err != nil {
		return nil, err
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build upstream request: %w", err)
	}
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Accept", "application/json")
	if req.Stream {
		r.Header.Set("Accept", "text/event-stream")
	}
	r.Header.Set("Authorization", "Bearer "+ch.Key)
	return r, nil
}

// apiURL is the base (or https://api.cohere.ai) with path; a base pasted
// with a version ("/v1", "/v2") or Cohere's OpenAI-compatibility path means
// the host.
func apiURL(ch *adaptor.Channel, path string) (string, error) {
	base := strings.TrimSpace(ch.BaseURL)
	if base == "" {
		t, _ := adaptor.TypeByID(adaptor.TypeCohere)
		base = t.BaseURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("channel base URL %q is not an http(s) URL", base)
	}
	p := strings.TrimRight(u.Path, "/")
	p = strings.TrimSuffix(p, "/compatibility/v1")
	p = strings.TrimSuffix(strings.TrimSuffix(p, "/v1"), "/v2")
	u.Path = p + path
	u.RawPath = ""
	return u.String(), nil
}

// DecodeResponse converts a non-stream reply.
func (a *Adaptor) DecodeResponse(req *adaptor.Request, resp *http.Response) ([]byte, adaptor.Usage, error) {
	defer resp.Body.Close()
	body, err := adaptor.ReadBody(resp, maxReply)
	if err != nil {
		return nil, adaptor.Usage{}, adaptor.TransportError(err)
	}
	switch req.Mode {
	case adaptor.ModeEmbeddings:
		return fromEmbed(req, body)
	case adaptor.ModeRerank:
		return fromRerank(req, body)
	}
	return a.fromChat(req, body)
}

// ListModels returns the models the key may use (GET /v1/models).
func (a *Adaptor) ListModels(ctx context.Context, client *http.Client, ch *adaptor.Channel) ([]string, error) {
	u, err := apiURL(ch, pathModels)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u+"?page_size=1000", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+ch.Key)
	resp, err := client.Do(req)
	if err != nil {
		return nil, adaptor.TransportError(err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, a.DecodeError(resp)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxReply))
	if err != nil {
		return nil, adaptor.TransportError(err)
	}
	var v struct {
		Models []struct {
			Name string `json:"name"`
		} `json:"models"`
	}
	if err := json.Unmarshal(body, &v); err != nil || v.Models == nil {
		return nil, badReply("models reply", body, err)
	}
	out := make([]string, 0, len(v.Models))
	for _, m := range v.Models {
		if m.Name != "" {
			out = append(out, m.Name)
		}
	}
	return out, nil
}

const maxReply = 64 << 20

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

func wireUsage(u adaptor.Usage) *oai.Usage {
	if !u.Reported {
		return nil
	}
	return &oai.Usage{PromptTokens: u.Input, CompletionTokens: u.Output, TotalTokens: u.Input + u.Output}
}
