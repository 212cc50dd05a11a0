// Package openai is the adaptor for OpenAI and every OpenAI-compatible
// vendor (the channel types with OpenAICompatible set in adaptor.Types).
//
// The body goes upstream as the relay prepared it and the reply comes back
// as upstream sent it: this adaptor only builds the URL and headers for the
// channel type, extracts usage, and classifies errors. Importing the package
// registers it for those types.
package openai

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"oneapi/relay/adaptor"
)

func init() {
	adaptor.Register(New(), adaptor.OpenAICompatibleTypes()...)
}

// DefaultAzureAPIVersion is used when an Azure channel sets no api_version.
const DefaultAzureAPIVersion = "2024-10-21"

// Adaptor is the OpenAI-type adaptor. It is stateless: one value serves
// every channel type, reading the type from the channel.
type Adaptor struct{}

var _ adaptor.Adaptor = (*Adaptor)(nil)

// New returns the adaptor.
func New() *Adaptor { return &Adaptor{} }

// NewRequest builds the upstream request: the channel's URL for the mode,
// the key and headers its type's preset asks for, and the body as is.
func (a *Adaptor) NewRequest(ctx context.Context, ch *adaptor.Channel, req *adaptor.Request) (*http.Request, error) {
	u, err := RequestURL(ch, req.Mode, req.Model)
	if err != nil {
		return nil, err
	}
	// A *bytes.Reader body lets net/http set ContentLength and GetBody, so a
	// request on a stale keep-alive connection is replayed transparently.
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(req.Body))
	if err != nil {
		return nil, fmt.Errorf("build upstream request: %w", err)
	}
	ct := req.ContentType
	if ct == "" {
		ct = "application/json"
	}
	r.Header.Set("Content-Type", ct)
	if req.Stream {
		r.Header.Set("Accept", "text/event-stream")
	}
	setHeaders(r.Header, ch, PresetFor(ch.Type))
	return r, nil
}

// RequestURL returns the upstream URL for a call in mode to model on ch.
func RequestURL(ch *adaptor.Channel, mode adaptor.Mode, model string) (string, error) {
	path := mode.Path()
	if path == "" {
		return "", fmt.Errorf("unknown relay mode %d", mode)
	}
	p := PresetFor(ch.Type)
	if p.Azure {
		u, basePath, err := baseURL(ch)
		if err != nil {
			return "", err
		}
		return azureURL(u, basePath, ch, mode, model), nil
	}
	endpoint := strings.TrimPrefix(path, "/v1")
	if alt, ok := p.Paths[mode]; ok {
		endpoint = alt
	}
	return endpointURL(ch, p, endpoint)
}

// endpointURL is the channel's base URL with an endpoint ("/chat/completions",
// "/models") appended. The base may already end in the API version
// ("https://host/v1", Doubao's ".../api/v3", Gemini's ".../v1beta/openai", a
// Cloudflare AI Gateway's "/v1/ACCOUNT/GATEWAY/openai"): then only the
// endpoint is appended. Otherwise the preset's version prefix goes in between.
func endpointURL(ch *adaptor.Channel, p Preset, endpoint string) (string, error) {
	u, basePath, err := baseURL(ch)
	if err != nil {
		return "", err
	}
	if p.Root || hasVersionSegment(basePath) || isCloudflareGateway(u) {
		u.Path = basePath + endpoint
	} else {
		u.Path = basePath + p.Prefix + endpoint
	}
	u.RawPath = ""
	return u.String(), nil
}

// baseURL parses the channel's base URL, or its type's default, and
// returns it with its path less any trailing "/".
func baseURL(ch *adaptor.Channel) (*url.URL, string, error) {
	base := ch.BaseURL
	if base == "" {
		t, _ := adaptor.TypeByID(ch.Type)
		base = t.BaseURL
	}
	if base == "" {
		return nil, "", errors.New("channel has no base URL and its type has no default")
	}
	u, err := url.Parse(strings.TrimSpace(base))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, "", fmt.Errorf("channel base URL %q is not an http(s) URL", base)
	}
	return u, strings.TrimRight(u.Path, "/"), nil
}

// hasVersionSegment reports whether a URL path has a segment like v1, v3 or
// v1beta.
func hasVersionSegment(p string) bool {
	for seg := range strings.SplitSeq(p, "/") {
		if len(seg) < 2 || seg[0] != 'v' || seg[1] < '0' || seg[1] > '9' {
			continue
		}
		i := 2
		for i < len(seg) && seg[i] >= '0' && seg[i] <= '9' {
			i++
		}
		switch seg[i:] {
		case "", "alpha", "beta":
			return true
		}
	}
	return false
}

func isCloudflareGateway(u *url.URL) bool {
	return strings.EqualFold(u.Hostname(), "gateway.ai.cloudflare.com")
}

// azureURL builds {base}/openai/deployments/{deployment}/{endpoint}?api-version=...
// The deployment is the model name without dots, One API's convention
// (gpt-3.5-turbo is deployed as gpt-35-turbo). Behind a Cloudflare AI
// Gateway the base already names the resource and "/openai/deployments" is
// dropped (https://developers.cloudflare.com/ai-gateway/providers/azureopenai/).
//
// The deployment is one path segment, escaped: a model name is the client's
// text (a pinned channel skips the model list, a mapping may say anything),
// and "/", "?" or "#" in it must not reach another path or a query upstream.
func azureURL(u *url.URL, basePath string, ch *adaptor.Channel, mode adaptor.Mode, model string) string {
	deployment := strings.ReplaceAll(model, ".", "")
	endpoint := strings.TrimPrefix(mode.Path(), "/v1/")
	prefix := basePath + "/openai/deployments/"
	if isCloudflareGateway(u) {
		prefix = basePath + "/"
	}
	u.Path = prefix + deployment + "/" + endpoint
	u.RawPath = (&url.URL{Path: prefix}).EscapedPath() + url.PathEscape(deployment) + "/" + endpoint
	version := ch.Config["api_version"]
	if version == "" {
		version = DefaultAzureAPIVersion
	}
	q := u.Query()
	q.Set("api-version", version)
	u.RawQuery = q.Encode()
	return u.String()
}

// setHeaders puts the key where the preset says and the headers the
// channel's config asks for.
func setHeaders(h http.Header, ch *adaptor.Channel, p Preset) {
	if p.KeyHeader != "" {
		h.Set(p.KeyHeader, ch.Key)
	} else {
		h.Set("Authorization", "Bearer "+ch.Key)
	}
	for _, m := range []map[string]string{commonConfigHeaders, p.ConfigHeaders} {
		for key, header := range m {
			if v := ch.Config[key]; v != "" {
				h.Set(header, v)
			}
		}
	}
}
