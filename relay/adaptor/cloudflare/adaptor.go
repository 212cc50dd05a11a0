// Package cloudflare is the adaptor for Cloudflare Workers AI (channel type
// adaptor.TypeCloudflare): its OpenAI-compatible chat and embeddings
// endpoints under the account (config "user_id" is the account id, as in
// One API), called directly at api.cloudflare.com or through an AI Gateway
// (a base URL on gateway.ai.cloudflare.com: .../v1/ACCOUNT/GATEWAY, its
// /workers-ai provider path, or its unified /compat endpoint). Replies are
// OpenAI's and read by the openai adaptor; Cloudflare's own error shape
// {"errors":[{"code","message"}]} is read here. An authenticated gateway's
// cf-aig-authorization header goes in the channel's extra headers.
package cloudflare

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/openai"
	"oneapi/relay/oai"
)

func init() {
	adaptor.Register(New(), adaptor.TypeCloudflare)
}

// Adaptor is the Workers AI adaptor. It holds no per-channel state.
type Adaptor struct {
	*openai.Adaptor // DecodeResponse and DecodeStream: the replies are OpenAI's
}

var (
	_ adaptor.Adaptor     = (*Adaptor)(nil)
	_ adaptor.ModelLister = (*Adaptor)(nil)
)

// New returns the adaptor.
func New() *Adaptor { return &Adaptor{openai.New()} }

// NewRequest sends the OpenAI-format body as is to the channel's endpoint.
func (a *Adaptor) NewRequest(ctx context.Context, ch *adaptor.Channel, req *adaptor.Request) (*http.Request, error) {
	var endpoint string
	switch req.Mode {
	case adaptor.ModeChat:
		endpoint = "/chat/completions"
	case adaptor.ModeEmbeddings:
		endpoint = "/embeddings"
	default:
		return nil, fmt.Errorf("%s is not served by Cloudflare Workers AI channels", req.Mode)
	}
	u, err := RequestURL(ch, endpoint)
	if err != nil {
		return nil, err
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(req.Body))
	if err != nil {
		return nil, fmt.Errorf("build upstream request: %w", err)
	}
	r.Header.Set("Content-Type", "application/json")
	if req.Stream {
		r.Header.Set("Accept", "text/event-stream")
	}
	r.Header.Set("Authorization", "Bearer "+ch.Key)
	return r, nil
}

// RequestURL is the OpenAI-compatible endpoint ("/chat/completions") of the
// channel: {base}/client/v4/accounts/{user_id}/ai/v1{endpoint} on the API,
// {gateway}/workers-ai/v1{endpoint} through an AI Gateway, or
// {gateway}/compat{endpoint} for the gateway's unified endpoint.
func RequestURL(ch *adaptor.Channel, endpoint string) (string, error) {
	base := strings.TrimSpace(ch.BaseURL)
	if base == "" {
		t, _ := adaptor.TypeByID(adaptor.TypeCloudflare)
		base = t.BaseURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("channel base URL %q is not an http(s) URL", base)
	}
	p := strings.TrimRight(u.Path, "/")
	switch {
	case strings.EqualFold(u.Hostname(), "gateway.ai.cloudflare.com"):
		switch {
		case strings.HasSuffix(p, "/compat"), strings.HasSuffix(p, "/workers-ai/v1"):
		case strings.HasSuffix(p, "/workers-ai"):
			p += "/v1"
		default:
			p += "/workers-ai/v1"
		}
	case strings.Contains(p, "/client/v4/accounts/"):
		p = strings.TrimSuffix(strings.TrimSuffix(p, "/ai/v1"), "/ai") + "/ai/v1"
	default:
		account := strings.TrimSpace(ch.Config["user_id"])
		if !validAccount(account) {
			return "", fmt.Errorf(`Cloudflare Workers AI channels need the account id (letters and digits) in config {"user_id": "..."}`)
		}
		p += "/client/v4/accounts/" + account + "/ai/v1"
	}
	u.Path = p + endpoint
	u.RawPath = ""
	return u.String(), nil
}

// validAccount: an account id is 32 hex digits; anything that could leave
// its path segment ("/", "?", "..") is refused.
func validAccount(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

const maxErrorBody = 64 << 10

// disableCodes are Cloudflare's error codes for a token or account that
// will not work until someone acts: authentication failed, an invalid
// token, an account id that does not exist.
var disableCodes = map[int]bool{10000: true, 10001: true, 9109: true, 7003: true}

// DecodeError reads Cloudflare's {"errors":[{"code","message"}],
// "success":false}, and OpenAI's shape (which the compatible endpoints and
// gateways also send) through the openai adaptor.
func (a *Adaptor) DecodeError(resp *http.Response) *adaptor.UpstreamError {
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var v struct {
		Errors []struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &v) != nil || len(v.Errors) == 0 {
		resp.Body = io.NopCloser(bytes.NewReader(body))
		return a.Adaptor.DecodeError(resp)
	}
	e := v.Errors[0]
	key := ""
	if resp.Request != nil {
		key = strings.TrimPrefix(resp.Request.Header.Get("Authorization"), "Bearer ")
	}
	oe := oai.Error{Message: adaptor.Redact(e.Message, key), Type: "upstream_error", Code: oai.Code(fmt.Sprint(e.Code))}
	if oe.Message == "" {
		oe.Message = fmt.Sprintf("upstream returned status %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	ue := adaptor.NewUpstreamError(resp.StatusCode, resp.Header, oe)
	if disableCodes[e.Code] {
		ue.Class = adaptor.ClassDisable
	}
	return ue
}

// ListModels lists the account's models (GET .../ai/models/search); only
// the direct API lists them, not a gateway.
func (a *Adaptor) ListModels(ctx context.Context, client *http.Client, ch *adaptor.Channel) ([]string, error) {
	u, err := RequestURL(ch, "")
	if err != nil {
		return nil, err
	}
	if strings.Contains(u, "gateway.ai.cloudflare.com") {
		return nil, fmt.Errorf("an AI Gateway does not list models: enter them, or fetch them with a channel on api.cloudflare.com")
	}
	u = strings.TrimSuffix(u, "/v1") + "/models/search?per_page=1000"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
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
	body, err := adaptor.ReadBody(resp, 16<<20)
	if err != nil {
		return nil, adaptor.TransportError(err)
	}
	var v struct {
		Result []struct {
			Name string `json:"name"`
		} `json:"result"`
	}
	if err := json.Unmarshal(body, &v); err != nil || v.Result == nil {
		return nil, &adaptor.UpstreamError{Status: http.StatusBadGateway, Type: "upstream_error", Class: adaptor.ClassRetry,
			Message: "upstream model listing is not Workers AI's: " + adaptor.Snippet(body, 120)}
	}
	out := make([]string, 0, len(v.Result))
	for _, m := range v.Result {
		if m.Name != "" {
			out = append(out, m.Name)
		}
	}
	return out, nil
}
