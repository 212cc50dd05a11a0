// Package xunfei is the adaptor for iFlytek Spark (type 18) channels,
// served over Spark's HTTP API in OpenAI's format
// (https://spark-api-open.xf-yun.com/v1/chat/completions): chat, stream
// and tools. One API's channels keep working unchanged: the key
// "APPID|APISecret|APIKey" is sent as "Bearer APIKey:APISecret", which the
// HTTP API takes (a bare APIPassword key is sent as it is), and the Spark
// version comes from the model name (Spark-Max, SparkDesk-v3.5 ...) or
// config "api_version", as One API reads it, mapped to the HTTP API's
// model (lite, generalv3, pro-128k, generalv3.5, max-32k, 4.0Ultra).
//
// Not served: Spark's WebSocket API, which One API used. Every Spark
// version still on sale has the HTTP API; v2.1 (generalv2), which had only
// WebSocket, is retired by iFlytek, and a channel still set to it gets a
// clear error. Importing the package registers it for adaptor.TypeXunfei.
package xunfei

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/convert"
	"oneapi/relay/oai"
)

func init() {
	adaptor.Register(New(), adaptor.TypeXunfei)
}

// httpAPI is Spark's HTTP API host.
const httpAPI = "https://spark-api-open.xf-yun.com"

// Adaptor is the Spark adaptor.
type Adaptor struct{}

var _ adaptor.Adaptor = (*Adaptor)(nil)

// New returns the adaptor.
func New() *Adaptor { return &Adaptor{} }

type callKey struct{}

// versionModels maps One API's Spark versions to the HTTP API's models.
var versionModels = map[string]string{
	"v1.1":      "lite",
	"v3.1":      "generalv3",
	"v3.1-128K": "pro-128k",
	"v3.5":      "generalv3.5",
	"v3.5-32K":  "max-32k",
	"v4.0":      "4.0Ultra",
}

// nameVersions maps the model names One API lists to their version.
var nameVersions = map[string]string{
	"Spark-Lite": "v1.1", "Spark-Pro": "v3.1", "Spark-Pro-128K": "v3.1-128K",
	"Spark-Max": "v3.5", "Spark-Max-32K": "v3.5-32K", "Spark-4.0-Ultra": "v4.0",
}

// httpModels are the HTTP API's own model names, sent as they are.
var httpModels = map[string]bool{"lite": true, "generalv3": true, "pro-128k": true, "generalv3.5": true, "max-32k": true, "4.0Ultra": true, "x1": true}

// httpModel returns the HTTP API's model for a request of model on ch:
// the version named by the model ("Spark-Max", "SparkDesk-v3.5"), else the
// channel's api_version, else v1.1, as One API decides.
func httpModel(model string, ch *adaptor.Channel) (string, error) {
	if httpModels[model] {
		return model, nil
	}
	version := nameVersions[model]
	if version == "" {
		if _, v, ok := strings.Cut(model, "-v"); ok && strings.HasPrefix(model, "SparkDesk") {
			version = "v" + v
		}
	}
	if version == "" {
		version = strings.TrimSpace(ch.Config["api_version"])
	}
	if version == "" {
		version = "v1.1"
	}
	if m, ok := versionModels[version]; ok {
		return m, nil
	}
	return "", fmt.Errorf("Spark %s has no HTTP API (v2.1 is retired by iFlytek, and this gateway does not speak Spark's WebSocket API): set the channel's api_version to v1.1, v3.1, v3.1-128K, v3.5, v3.5-32K or v4.0", version)
}

// NewRequest builds the HTTP API call.
func (a *Adaptor) NewRequest(ctx context.Context, ch *adaptor.Channel, req *adaptor.Request) (*http.Request, error) {
	if req.Mode != adaptor.ModeChat {
		return nil, convert.Unsupported("iFlytek Spark", req.Mode)
	}
	model, err := httpModel(req.Model, ch)
	if err != nil {
		return nil, err
	}
	body, err := requestBody(req.Body, model)
	if err != nil {
		return nil, err
	}
	base, err := baseURL(ch)
	if err != nil {
		return nil, err
	}
	ctx = context.WithValue(ctx, callKey{}, ch)
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/chat/completions", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build upstream request: %w", err)
	}
	r.Header.Set("Content-Type", "application/json")
	if req.Stream {
		r.Header.Set("Accept", "text/event-stream")
	}
	r.Header.Set("Authorization", "Bearer "+bearer(ch.Key))
	return r, nil
}

// bearer is the HTTP API's credential for a channel key.
func bearer(key string) string {
	key = strings.TrimSpace(key)
	if parts := strings.Split(key, "|"); len(parts) == 3 {
		return strings.TrimSpace(parts[2]) + ":" + strings.TrimSpace(parts[1]) // APIKey:APISecret
	}
	return key
}

// baseURL is the channel's, unless it is empty or points at the
// WebSocket host One API used.
func baseURL(ch *adaptor.Channel) (string, error) {
	b := strings.TrimSpace(ch.BaseURL)
	if u, err := url.Parse(b); b == "" || (err == nil && (u.Scheme == "ws" || u.Scheme == "wss" || u.Host == "spark-api.xf-yun.com")) {
		return httpAPI, nil
	}
	u, err := convert.BaseURL(ch)
	if err != nil {
		return "", err
	}
	u.Path = strings.TrimSuffix(u.Path, "/v1")
	return u.String(), nil
}

// requestBody is the OpenAI body with Spark's model, text-only string
// contents (Spark takes no content arrays, images or audio) and no
// stream_options (the last chunk carries usage anyway).
func requestBody(body []byte, model string) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, convert.ClientError("the request body is not a JSON object: %v", err)
	}
	var msgs []oai.Message
	if err := json.Unmarshal(m["messages"], &msgs); err != nil || len(msgs) == 0 {
		return nil, convert.ClientError("messages must be a non-empty array of messages")
	}
	for i := range msgs {
		if len(msgs[i].Content) == 0 || string(msgs[i].Content) == "null" {
			msgs[i].Content = oai.TextContent("")
			continue
		}
		text, err := convert.Text(&msgs[i], "iFlytek Spark")
		if err != nil {
			return nil, err
		}
		msgs[i].Content = oai.TextContent(text)
	}
	m["messages"], _ = json.Marshal(msgs)
	m["model"], _ = json.Marshal(model)
	delete(m, "stream_options")
	return json.Marshal(m)
}

func channelOf(resp *http.Response) *adaptor.Channel {
	if resp != nil && resp.Request != nil {
		if ch, ok := resp.Request.Context().Value(callKey{}).(*adaptor.Channel); ok {
			return ch
		}
	}
	return &adaptor.Channel{}
}

// reply is an HTTP API reply or stream chunk: OpenAI's shape plus Spark's
// code, message and sid.
type reply struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Sid     string `json:"sid"`
	ID      string `json:"id"`
	Choices []struct {
		Message      oai.Message `json:"message"`
		Delta        oai.Delta   `json:"delta"`
		FinishReason string      `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
	Error *struct {
		Code    json.Number `json:"code"`
		Message string      `json:"message"`
	} `json:"error"`
}

func (r *reply) usage() adaptor.Usage {
	if r.Usage == nil {
		return adaptor.Usage{}
	}
	return convert.Tokens(r.Usage.PromptTokens, r.Usage.CompletionTokens)
}

func (r *reply) id() string {
	for _, id := range []string{r.ID, r.Sid} {
		if id != "" {
			return "chatcmpl-" + id
		}
	}
	return "chatcmpl-" + convert.ID()
}

// failure is the error a reply carries: a non-zero code, or an OpenAI
// error object.
func (r *reply) failure(ch *adaptor.Channel, status int) *adaptor.UpstreamError {
	switch {
	case r.Code != 0:
		return apiError(status, nil, fmt.Sprint(r.Code), r.Message, ch)
	case r.Error != nil:
		return apiError(status, nil, r.Error.Code.String(), r.Error.Message, ch)
	}
	return nil
}

// DecodeResponse converts a reply to a chat.completion.
func (a *Adaptor) DecodeResponse(req *adaptor.Request, resp *http.Response) ([]byte, adaptor.Usage, error) {
	ch := channelOf(resp)
	body, err := convert.ReadReply(resp)
	if err != nil {
		return nil, adaptor.Usage{}, err
	}
	var r reply
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, adaptor.Usage{}, convert.BadReply("Spark", body)
	}
	if ue := r.failure(ch, http.StatusBadGateway); ue != nil {
		return nil, adaptor.Usage{}, ue
	}
	if len(r.Choices) == 0 {
		return nil, adaptor.Usage{}, convert.BadReply("Spark", body)
	}
	c := r.Choices[0]
	msg := oai.Message{Role: "assistant", Content: c.Message.Content, ToolCalls: c.Message.ToolCalls, ReasoningContent: c.Message.ReasoningContent}
	if len(msg.Content) == 0 || string(msg.Content) == "null" || (string(msg.Content) == `""` && len(msg.ToolCalls) > 0) {
		msg.Content = nil // convert.Reply writes null beside tool calls, as OpenAI does
	}
	usage := r.usage()
	out, err := convert.Reply(r.id(), req.Model, msg, finishReason(c.FinishReason, len(msg.ToolCalls) > 0), usage)
	return out, usage, err
}

func finishReason(reason string, calledTools bool) string {
	switch reason {
	case "length", "content_filter", "tool_calls":
		return reason
	}
	if calledTools {
		return "tool_calls"
	}
	return "stop"
}
