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
// the key as a bearer token (api-key for Azure), and the body as is.
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
	if ch.Type == adaptor.TypeAzure {
		r.Header.Set("api-key", ch.Key)
	} else {
		r.Header.Set("Authorization", "Bearer "+ch.Key)
	}
	if v := ch.Config["organization"]; v != "" {
		r.Header.Set("OpenAI-Organization", v)
	}
	if v := ch.Config["project"]; v != "" {
		r.Header.Set("OpenAI-Project", v)
	}
	return r, nil
}

// RequestURL returns the upstream URL for a call in mode to model on ch.
func RequestURL(ch *adaptor.Channel, mode adaptor.Mode, model string) (string, error) {
	path := mode.Path()
	if path == "" {
		return "", fmt.Errorf("unknown relay mode %d", mode)
	}
	base := ch.BaseURL
	if base == "" {
		t, _ := adaptor.TypeByID(ch.Type)
		base = t.BaseURL
	}
	if base == "" {
		return "", errors.New("channel has no base URL and its type has no default")
	}
	u, err := url.Parse(strings.TrimSpace(base))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("channel base URL %q is not an http(s) URL", base)
	}
	basePath := strings.TrimRight(u.Path, "/")

	if ch.Type == adaptor.TypeAzure {
		return azureURL(u, basePath, ch, mode, model), nil
	}
	if ch.Type == adaptor.TypeMinimax && mode == adaptor.ModeChat {
		// MiniMax's OpenAI-format chat endpoint has its own name (One API's minimax.GetRequestURL).
		path = "/v1/text/chatcompletion_v2"
	}

	// The base may already end in the API version ("https://host/v1",
	// Doubao's ".../api/v3", Gemini's ".../v1beta/openai", a Cloudflare AI
	// Gateway's "/v1/ACCOUNT/GATEWAY/openai"): then only the endpoint is
	// appended. Otherwise the version prefix goes in between.
	rest := strings.TrimPrefix(path, "/v1")
	if hasVersionSegment(basePath) || isCloudflareGateway(u) {
		u.Path = basePath + rest
	} else {
		u.Path = basePath + versionPrefix(ch.Type) + rest
	}
	u.RawPath = ""
	return u.String(), nil
}

// versionPrefix is the API version path for a type whose base URL is a bare
// host. Most vendors copy OpenAI's /v1; a few put the OpenAI-compatible API
// elsewhere (One API's doubao, baiduv2, alibailian and geminiv2 adaptors).
func versionPrefix(channelType int) string {
	switch channelType {
	case adaptor.TypeDoubao:
		return "/api/v3"
	case adaptor.TypeBaiduV2:
		return "/v2"
	case adaptor.TypeAliBailian:
		return "/compatible-mode/v1"
	case adaptor.TypeGeminiOpenAICompatible:
		return "/v1beta/openai"
	}
	return "/v1"
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
