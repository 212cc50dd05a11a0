// Package anthropic is the adaptor for Anthropic's Claude Messages API
// (channel type adaptor.TypeAnthropic). It converts OpenAI chat completion
// requests to POST /v1/messages and the replies, plain or streamed, back to
// OpenAI's format. Only chat completions are supported. Importing the package
// registers it.
package anthropic

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"oneapi/relay/adaptor"
	"oneapi/relay/oai"
)

func init() {
	adaptor.Register(New(), adaptor.TypeAnthropic)
}

// APIVersion is the anthropic-version header every request carries.
const APIVersion = "2023-06-01"

// Adaptor is the Anthropic adaptor. It holds no per-channel state.
type Adaptor struct {
	now func() time.Time // for the created field; fixed in tests
}

var _ adaptor.Adaptor = (*Adaptor)(nil)

// New returns the adaptor.
func New() *Adaptor { return &Adaptor{now: time.Now} }

// NewRequest converts the OpenAI-format body to a Messages API request. A
// body that cannot be converted is the client's fault: the error is an
// *adaptor.UpstreamError with status 400 and adaptor.ClassClient. Modes
// other than chat give a plain error, so the relay tries another channel.
func (a *Adaptor) NewRequest(ctx context.Context, ch *adaptor.Channel, req *adaptor.Request) (*http.Request, error) {
	if req.Mode != adaptor.ModeChat {
		return nil, fmt.Errorf("%s is not supported by Anthropic channels", req.Mode)
	}
	u, err := RequestURL(ch)
	if err != nil {
		return nil, err
	}
	// req.Chat is not used: only Body has the channel's system prompt.
	model := req.Model
	if model == "" {
		var m struct {
			Model string `json:"model"`
		}
		_ = json.Unmarshal(req.Body, &m) // ConvertRequest reports a bad body
		model = m.Model
	}
	body, err := ConvertRequest(req.Body, model, req.Stream, "")
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
	r.Header.Set("x-api-key", ch.Key)
	r.Header.Set("anthropic-version", APIVersion)
	if req.Stream {
		r.Header.Set("Accept", "text/event-stream")
	}
	return r, nil
}

// ConvertRequest converts an OpenAI-format chat body to a Messages API body.
// Clouds that serve Claude (Vertex AI, Bedrock's InvokeModel) name the
// model in the URL and the API version in the body: they pass model "" and
// their anthropicVersion ("vertex-2023-10-16"); the direct API passes the
// model and "" (its version travels in a header). A body that cannot be
// converted is an *adaptor.UpstreamError of class ClassClient.
func ConvertRequest(body []byte, model string, stream bool, anthropicVersion string) ([]byte, error) {
	var chat oai.ChatRequest
	if err := json.Unmarshal(body, &chat); err != nil {
		return nil, clientError(fmt.Errorf("invalid chat request: %w", err))
	}
	mr, err := toAnthropicRequest(&chat, model, stream)
	if err != nil {
		return nil, clientError(err)
	}
	mr.AnthropicVersion = anthropicVersion
	out, err := json.Marshal(mr)
	if err != nil {
		return nil, fmt.Errorf("encode Anthropic request: %w", err)
	}
	return out, nil
}

// RequestURL returns {base}/v1/messages, where base is the channel's base URL
// (without a trailing "/" or "/v1") or the type's default.
func RequestURL(ch *adaptor.Channel) (string, error) {
	base := strings.TrimSpace(ch.BaseURL)
	if base == "" {
		t, _ := adaptor.TypeByID(adaptor.TypeAnthropic)
		base = t.BaseURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("channel base URL %q is not an http(s) URL", base)
	}
	u.Path = strings.TrimSuffix(strings.TrimRight(u.Path, "/"), "/v1") + "/v1/messages"
	u.RawPath = ""
	return u.String(), nil
}

// clientError reports a request this adaptor cannot convert: the client must
// change it, so the relay answers it rather than trying other channels.
func clientError(err error) *adaptor.UpstreamError {
	return &adaptor.UpstreamError{
		Status:  http.StatusBadRequest,
		Message: err.Error(),
		Type:    "invalid_request_error",
		Class:   adaptor.ClassClient,
		Err:     err,
	}
}

// requestKey returns the key the request carried, to redact it from
// messages upstream echoes.
func requestKey(resp *http.Response) string {
	if resp == nil || resp.Request == nil {
		return ""
	}
	return resp.Request.Header.Get("x-api-key")
}
