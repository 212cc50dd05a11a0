// Package vertex is the adaptor for Google Vertex AI channels (channel type
// adaptor.TypeVertexAI, One API's 42). It serves chat completions with the
// Gemini models (publishers/google: generateContent,
// streamGenerateContent?alt=sse) and the Claude models (publishers/anthropic:
// rawPredict, streamRawPredict with anthropic_version vertex-2023-10-16) of
// a project, under
// /v1/projects/{project}/locations/{region}/publishers/{publisher}/models/{model}:{method}.
// The bodies and replies are the Gemini API's and Anthropic's own, so the
// conversions are those of the gemini and anthropic packages. The channel's
// service account is exchanged for an OAuth access token (see token.go).
// Importing the package registers it.
package vertex

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/anthropic"
	"oneapi/relay/adaptor/gemini"
)

func init() {
	adaptor.Register(New(), adaptor.TypeVertexAI)
}

// AnthropicVersion is the anthropic_version of Claude requests on Vertex AI.
const AnthropicVersion = "vertex-2023-10-16"

// Adaptor is the Vertex AI adaptor. Its only state is the token cache.
type Adaptor struct {
	gemini    *gemini.Adaptor
	anthropic *anthropic.Adaptor
	tokens    *tokenCache
}

var _ adaptor.Adaptor = (*Adaptor)(nil)

// New returns the adaptor.
func New() *Adaptor {
	return &Adaptor{gemini: gemini.New(), anthropic: anthropic.New(), tokens: newTokenCache()}
}

// publisher is who makes a model, which decides the wire format.
type publisher string

const (
	publisherGoogle    publisher = "google"
	publisherAnthropic publisher = "anthropic"
)

// publisherOf tells Claude models (claude-sonnet-4-5@20250929, ...) from
// Google's.
func publisherOf(model string) publisher {
	if strings.HasPrefix(strings.ToLower(model), "claude") {
		return publisherAnthropic
	}
	return publisherGoogle
}

// NewRequest converts the OpenAI-format chat body for the model's publisher
// and authorizes it with the channel's access token. A body the model
// cannot take is an *adaptor.UpstreamError of class ClassClient; a channel
// whose credentials are unusable one of class ClassDisable; other modes a
// plain error, so the relay tries another channel.
func (a *Adaptor) NewRequest(ctx context.Context, ch *adaptor.Channel, req *adaptor.Request) (*http.Request, error) {
	if req.Mode != adaptor.ModeChat {
		return nil, fmt.Errorf("%s is not supported by Vertex AI channels", req.Mode)
	}
	model := strings.TrimSpace(strings.TrimPrefix(req.Model, "models/"))
	if model == "" {
		return nil, &adaptor.UpstreamError{Status: http.StatusBadRequest, Message: "the request names no model", Type: "invalid_request_error", Class: adaptor.ClassClient}
	}
	cfg, err := channelConfig(ch)
	if err != nil {
		return nil, err
	}
	var (
		body   []byte
		method string
	)
	pub := publisherOf(model)
	switch pub {
	case publisherAnthropic:
		body, err = anthropic.ConvertRequest(req.Body, "", req.Stream, AnthropicVersion)
		method = "rawPredict"
		if req.Stream {
			method = "streamRawPredict"
		}
	default:
		body, err = gemini.ChatBody(req.Body)
		method = "generateContent"
		if req.Stream {
			method = "streamGenerateContent"
		}
	}
	if err != nil {
		return nil, err
	}
	u, err := requestURL(ch.BaseURL, cfg, pub, model, method, req.Stream && pub == publisherGoogle)
	if err != nil {
		return nil, err
	}
	token, err := a.tokens.token(ctx, ch.ID, cfg.credentials)
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
	r.Header.Set("Authorization", "Bearer "+token)
	if req.Stream {
		r.Header.Set("Accept", "text/event-stream")
	}
	return r, nil
}

// config is what a channel's requests need.
type config struct {
	region, project string
	credentials     []byte // the service account JSON
}

var (
	regionPattern  = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	projectPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9.:-]*$`)
)

// channelConfig reads One API's shapes of a Vertex AI channel: config
// {"region","vertex_ai_project_id","vertex_ai_adc"}, where the key may hold
// the service account JSON instead of vertex_ai_adc (the better place: keys
// are encrypted at rest), or One API's key "region|project_id|adc". The
// project defaults to the service account's own project_id.
func channelConfig(ch *adaptor.Channel) (config, error) {
	var c config
	key := strings.TrimSpace(ch.Key)
	switch {
	case strings.HasPrefix(key, "{"):
		c.credentials = []byte(key)
	case strings.Count(key, "|") >= 2:
		parts := strings.SplitN(key, "|", 3)
		c.region, c.project = strings.TrimSpace(parts[0]), strings.TrimSpace(parts[1])
		c.credentials = []byte(strings.TrimSpace(parts[2]))
	}
	if c.region == "" {
		c.region = strings.TrimSpace(ch.Config["region"])
	}
	if c.project == "" {
		c.project = strings.TrimSpace(ch.Config["vertex_ai_project_id"])
	}
	if len(c.credentials) == 0 {
		c.credentials = []byte(strings.TrimSpace(ch.Config["vertex_ai_adc"]))
	}
	if len(c.credentials) == 0 {
		return c, channelError(`a Vertex AI channel needs a service account key (JSON) as its key or as config "vertex_ai_adc"`)
	}
	if c.project == "" {
		var sa struct {
			ProjectID string `json:"project_id"`
		}
		_ = json.Unmarshal(c.credentials, &sa) // a broken key is reported by the token exchange
		c.project = sa.ProjectID
	}
	switch {
	case c.region == "":
		return c, channelError(`a Vertex AI channel needs a region: config {"region":"us-east5"} (or "global")`)
	case !regionPattern.MatchString(c.region):
		return c, channelError(fmt.Sprintf("Vertex AI region %q is not a region name such as us-central1", c.region))
	case c.project == "":
		return c, channelError(`a Vertex AI channel needs a project: config "vertex_ai_project_id", or the service account's project_id`)
	case !projectPattern.MatchString(c.project):
		return c, channelError(fmt.Sprintf("Vertex AI project %q is not a project id", c.project))
	}
	return c, nil
}

// requestURL returns
// {base}/v1/projects/{project}/locations/{region}/publishers/{pub}/models/{model}:{method},
// base being the channel's base URL (without a trailing "/v1") or the
// region's endpoint, https://{region}-aiplatform.googleapis.com
// (https://aiplatform.googleapis.com for "global").
func requestURL(base string, c config, pub publisher, model, method string, sse bool) (string, error) {
	base = strings.TrimSpace(base)
	if base == "" {
		base = "https://" + c.region + "-aiplatform.googleapis.com"
		if c.region == "global" {
			base = "https://aiplatform.googleapis.com"
		}
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("channel base URL %q is not an http(s) URL", base)
	}
	prefix := strings.TrimSuffix(strings.TrimRight(u.Path, "/"), "/v1") +
		"/v1/projects/" + c.project + "/locations/" + c.region + "/publishers/" + string(pub) + "/models/"
	// The model is the client's text: it stays one path segment, and its
	// ":" is escaped so it cannot name another method.
	segment := strings.ReplaceAll(url.PathEscape(model), ":", "%3A")
	u.Path = prefix + model + ":" + method
	u.RawPath = (&url.URL{Path: prefix}).EscapedPath() + segment + ":" + method
	u.RawQuery = ""
	if sse {
		u.RawQuery = "alt=sse" // without it Gemini streams one JSON array
	}
	return u.String(), nil
}

// DecodeResponse converts the reply with the publisher's converter.
func (a *Adaptor) DecodeResponse(req *adaptor.Request, resp *http.Response) ([]byte, adaptor.Usage, error) {
	if publisherOf(req.Model) == publisherAnthropic {
		return a.anthropic.DecodeResponse(req, resp)
	}
	return a.gemini.DecodeResponse(req, resp)
}

// DecodeStream converts the stream with the publisher's converter: Gemini's
// SSE of GenerateContentResponse, or Anthropic's Messages events.
func (a *Adaptor) DecodeStream(req *adaptor.Request, resp *http.Response, send func(adaptor.Event) error) (adaptor.Usage, error) {
	if publisherOf(req.Model) == publisherAnthropic {
		return a.anthropic.DecodeStream(req, resp, send)
	}
	return a.gemini.DecodeStream(req, resp, send)
}

// maxErrorBody bounds how much of an error reply is read.
const maxErrorBody = 64 << 10

// DecodeError reads a non-2xx reply. Vertex AI answers in Google's error
// shape ({"error":{"code","status",...}}: quota, permissions, unknown
// model) for every publisher; a Claude model's own refusals come in
// Anthropic's ({"type":"error","error":{"type",...}}). Each is classified
// by its own package's rules.
func (a *Adaptor) DecodeError(resp *http.Response) *adaptor.UpstreamError {
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	resp.Body.Close()
	if err != nil {
		return &adaptor.UpstreamError{Status: resp.StatusCode, Message: fmt.Sprintf("upstream returned status %d %s", resp.StatusCode, http.StatusText(resp.StatusCode)),
			Type: "upstream_error", Class: adaptor.Classify(resp.StatusCode, "", ""), Err: err}
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	var shape struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(body, &shape) == nil && shape.Type == "error" {
		return a.anthropic.DecodeError(resp)
	}
	return a.gemini.DecodeError(resp)
}

// channelError is a channel that cannot authorize any request until an
// operator fixes its key or config: it is disabled, and the client is told
// 502, as for a dead key.
func channelError(msg string) *adaptor.UpstreamError {
	return &adaptor.UpstreamError{
		Status:  http.StatusBadGateway,
		Message: msg,
		Type:    "upstream_error",
		Code:    "channel_misconfigured",
		Class:   adaptor.ClassDisable,
	}
}
