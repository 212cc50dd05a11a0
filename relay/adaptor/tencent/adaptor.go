// Package tencent is the adaptor for Tencent Hunyuan (type 23) channels on
// Tencent Cloud API 3.0 (hunyuan.tencentcloudapi.com, version 2023-09-01):
// ChatCompletions (stream, tools, images for the vision models) and
// GetEmbedding, each request signed with TC3-HMAC-SHA256. The key is One
// API's "AppId|SecretId|SecretKey" (the AppId is not needed by API 3.0;
// "SecretId|SecretKey" works too); config "region" is sent as X-TC-Region.
// Importing the package registers it for adaptor.TypeTencent.
package tencent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/convert"
)

func init() {
	adaptor.Register(New(), adaptor.TypeTencent)
}

const apiVersion = "2023-09-01"

// Adaptor is the Hunyuan adaptor.
type Adaptor struct {
	now func() time.Time // tests
}

var _ adaptor.Adaptor = (*Adaptor)(nil)

// New returns the adaptor.
func New() *Adaptor { return &Adaptor{now: time.Now} }

type callKey struct{}

// splitKey reads "AppId|SecretId|SecretKey" or "SecretId|SecretKey".
func splitKey(key string) (id, secret string, ok bool) {
	parts := strings.Split(strings.TrimSpace(key), "|")
	switch len(parts) {
	case 3:
		id, secret = parts[1], parts[2]
	case 2:
		id, secret = parts[0], parts[1]
	default:
		return "", "", false
	}
	id, secret = strings.TrimSpace(id), strings.TrimSpace(secret)
	return id, secret, id != "" && secret != ""
}

var errBadKey = &adaptor.UpstreamError{Status: http.StatusUnauthorized, Message: `the Tencent channel key must be "AppId|SecretId|SecretKey"`,
	Type: "authentication_error", Code: "invalid_channel_key", Class: adaptor.ClassDisable}

// NewRequest builds and signs the API 3.0 call.
func (a *Adaptor) NewRequest(ctx context.Context, ch *adaptor.Channel, req *adaptor.Request) (*http.Request, error) {
	var (
		action string
		body   any
		err    error
	)
	switch req.Mode {
	case adaptor.ModeChat:
		action = "ChatCompletions"
		body, err = toChatRequest(req.Body, req.Model)
	case adaptor.ModeEmbeddings:
		action = "GetEmbedding"
		body, err = toEmbeddingRequest(req.Body)
	default:
		return nil, convert.Unsupported("Tencent Hunyuan", req.Mode)
	}
	if err != nil {
		return nil, err
	}
	secretID, secretKey, ok := splitKey(ch.Key)
	if !ok {
		return nil, errBadKey
	}
	base, err := convert.BaseURL(ch)
	if err != nil {
		return nil, err
	}
	payload, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode Hunyuan request: %w", err)
	}
	ctx = context.WithValue(ctx, callKey{}, ch)
	u := *base
	u.Path = "/"
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(payload))
	if err != nil {
		return nil, fmt.Errorf("build upstream request: %w", err)
	}
	now := a.now()
	r.Header.Set("Content-Type", contentType)
	r.Header.Set("X-TC-Action", action)
	r.Header.Set("X-TC-Version", apiVersion)
	r.Header.Set("X-TC-Timestamp", strconv.FormatInt(now.Unix(), 10))
	if region := strings.TrimSpace(ch.Config["region"]); region != "" {
		r.Header.Set("X-TC-Region", region)
	}
	r.Header.Set("Authorization", authorization(secretID, secretKey, r.URL.Host, payload, now))
	if req.Stream {
		r.Header.Set("Accept", "text/event-stream")
	}
	return r, nil
}

func channelOf(resp *http.Response) *adaptor.Channel {
	if resp != nil && resp.Request != nil {
		if ch, ok := resp.Request.Context().Value(callKey{}).(*adaptor.Channel); ok {
			return ch
		}
	}
	return &adaptor.Channel{}
}

// secrets of ch to keep out of messages.
func secrets(ch *adaptor.Channel) []string {
	id, secret, _ := splitKey(ch.Key)
	return []string{secret, id}
}

// DecodeResponse reads {"Response":{...}}: a completion, embeddings, or an
// Error (which API 3.0 sends with status 200).
func (a *Adaptor) DecodeResponse(req *adaptor.Request, resp *http.Response) ([]byte, adaptor.Usage, error) {
	ch := channelOf(resp)
	body, err := convert.ReadReply(resp)
	if err != nil {
		return nil, adaptor.Usage{}, err
	}
	var env struct {
		Response *response `json:"Response"`
	}
	if err := json.Unmarshal(body, &env); err != nil || env.Response == nil {
		return nil, adaptor.Usage{}, convert.BadReply("Hunyuan", body)
	}
	r := env.Response
	if r.Error != nil {
		return nil, adaptor.Usage{}, apiError(r.Error, ch)
	}
	usage := r.Usage.toUsage()
	if req.Mode == adaptor.ModeEmbeddings {
		if len(r.Data) == 0 {
			return nil, adaptor.Usage{}, convert.BadReply("Hunyuan", body)
		}
		vectors := make([][]float64, len(r.Data))
		for i, d := range r.Data {
			idx := d.Index
			if idx < 0 || idx >= len(vectors) {
				idx = i
			}
			vectors[idx] = d.Embedding
		}
		var opts struct {
			EncodingFormat string `json:"encoding_format"`
		}
		_ = json.Unmarshal(req.Body, &opts)
		out, err := convert.Embeddings(req.Model, vectors, opts.EncodingFormat, usage)
		return out, usage, err
	}
	if len(r.Choices) == 0 {
		return nil, adaptor.Usage{}, convert.BadReply("Hunyuan", body)
	}
	c := r.Choices[0]
	msg := c.Message.toOpenAI()
	out, err := convert.Reply("chatcmpl-"+idOr(r.ID), req.Model, msg, finishReason(c.FinishReason, len(msg.ToolCalls) > 0), usage)
	return out, usage, err
}

func idOr(id string) string {
	if id != "" {
		return id
	}
	return convert.ID()
}

// finishReason maps Hunyuan's FinishReason ("stop", "length", "tool_calls",
// "sensitive" for its moderation) to OpenAI's.
func finishReason(reason string, calledTools bool) string {
	switch reason {
	case "length":
		return "length"
	case "sensitive":
		return "content_filter"
	case "tool_calls":
		return "tool_calls"
	}
	if calledTools {
		return "tool_calls"
	}
	return "stop"
}
