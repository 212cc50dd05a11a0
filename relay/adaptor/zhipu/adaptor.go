// Package zhipu is the adaptor for Zhipu AI (BigModel, type 16) channels:
// the v4 API (/api/paas/v4), which speaks OpenAI's format for chat,
// embeddings and images. The channel key is One API's "id.secret": the
// gateway signs a short-lived JWT with the secret and sends that, never the
// secret. Importing the package registers it for adaptor.TypeZhipu.
//
// Zhipu's retired v3 models (chatglm_pro, chatglm_std, chatglm_lite,
// chatglm_turbo) are sent to v4 like any other name, and Zhipu answers
// that the model does not exist.
package zhipu

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/convert"
	"oneapi/relay/adaptor/openai"
	"oneapi/relay/adaptor/outbound"
)

func init() {
	adaptor.Register(New(), adaptor.TypeZhipu)
}

// Token lifetime and how long before expiry a new one is signed.
const (
	tokenLifetime = time.Hour
	renewBefore   = 5 * time.Minute
)

// Adaptor is the Zhipu adaptor. Replies are OpenAI's format, so it decodes
// them with the openai adaptor and classifies errors by Zhipu's codes.
type Adaptor struct {
	oai    *openai.Adaptor
	tokens outbound.Tokens
	now    func() time.Time // tests
}

var _ adaptor.Adaptor = (*Adaptor)(nil)

// New returns the adaptor.
func New() *Adaptor { return &Adaptor{oai: openai.New(), now: time.Now} }

// NewRequest builds the v4 call for chat, embeddings or images.
func (a *Adaptor) NewRequest(ctx context.Context, ch *adaptor.Channel, req *adaptor.Request) (*http.Request, error) {
	var endpoint string
	switch req.Mode {
	case adaptor.ModeChat:
		endpoint = "chat/completions"
	case adaptor.ModeEmbeddings:
		endpoint = "embeddings"
	case adaptor.ModeImages:
		endpoint = "images/generations"
	default:
		return nil, convert.Unsupported("Zhipu", req.Mode)
	}
	base, err := convert.BaseURL(ch)
	if err != nil {
		return nil, err
	}
	if !strings.Contains(base.Path, "/api/paas/v4") {
		base.Path += "/api/paas/v4"
	}
	body, err := requestBody(req)
	if err != nil {
		return nil, err
	}
	token, err := a.tokens.Get(ctx, ch, renewBefore, func(context.Context) (outbound.Credential, error) {
		return a.sign(ch.Key)
	})
	if err != nil {
		return nil, err
	}
	// The channel rides along so that DecodeError can drop a token Zhipu
	// says has expired.
	ctx = context.WithValue(ctx, channelKey{}, ch)
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, base.String()+"/"+endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build upstream request: %w", err)
	}
	r.Header.Set("Content-Type", "application/json")
	if req.Stream {
		r.Header.Set("Accept", "text/event-stream")
	}
	r.Header.Set("Authorization", "Bearer "+token)
	return r, nil
}

type channelKey struct{}

var replyMembers = []string{"choices", "data"}

// requestBody adjusts the OpenAI body to what v4 takes: temperature and
// top_p at most 1 (Zhipu refuses more), no stream_options (the last chunk
// carries usage anyway), and embeddings always as floats (converted to
// base64 on the way back when the client asked for it).
func requestBody(req *adaptor.Request) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(req.Body, &m); err != nil {
		return nil, convert.ClientError("the request body is not a JSON object: %v", err)
	}
	delete(m, "stream_options")
	delete(m, "encoding_format")
	for _, k := range []string{"temperature", "top_p"} {
		var f float64
		if v, ok := m[k]; ok && json.Unmarshal(v, &f) == nil && f > 1 {
			m[k] = json.RawMessage("1")
		}
	}
	return json.Marshal(m)
}

// sign makes the JWT Zhipu takes for a key "id.secret": HS256 over
// {api_key, exp, timestamp} (milliseconds), with its header's sign_type.
func (a *Adaptor) sign(key string) (outbound.Credential, error) {
	id, secret, ok := strings.Cut(strings.TrimSpace(key), ".")
	if !ok || id == "" || secret == "" || strings.Contains(secret, ".") {
		return outbound.Credential{}, errBadKey
	}
	now := a.now()
	exp := now.Add(tokenLifetime)
	header, _ := json.Marshal(map[string]string{"alg": "HS256", "sign_type": "SIGN"})
	claims, _ := json.Marshal(map[string]any{"api_key": id, "exp": exp.UnixMilli(), "timestamp": now.UnixMilli()})
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString(header) + "." + enc.EncodeToString(claims)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(signing))
	return outbound.Credential{Value: signing + "." + enc.EncodeToString(mac.Sum(nil)), Expires: exp}, nil
}

// errBadKey: the channel key is not "id.secret". The channel's to fix, so
// it disables it.
var errBadKey = &adaptor.UpstreamError{Status: http.StatusUnauthorized, Message: `the Zhipu channel key must be "id.secret" as shown in Zhipu's console`,
	Type: "authentication_error", Code: "invalid_channel_key", Class: adaptor.ClassDisable}

// DecodeResponse passes the OpenAI-format reply through (re-encoding
// embeddings when the client asked for base64).
func (a *Adaptor) DecodeResponse(req *adaptor.Request, resp *http.Response) ([]byte, adaptor.Usage, error) {
	body, usage, err := a.oai.DecodeResponse(req, resp)
	if err != nil {
		return nil, usage, reclassify(err)
	}
	// Zhipu always answers a JSON object with the mode's own member; the
	// openai adaptor passes other bodies through, which here means a cut or
	// garbled reply.
	var v [2][]byte
	if !adaptor.TopLevel(body, replyMembers, v[:]) || (req.Mode == adaptor.ModeChat && adaptor.IsNull(v[0])) ||
		(req.Mode != adaptor.ModeChat && adaptor.IsNull(v[1])) {
		return nil, adaptor.Usage{}, convert.BadReply("Zhipu", body)
	}
	resp.Header.Set("Content-Type", "application/json")
	switch req.Mode {
	case adaptor.ModeEmbeddings:
		return embeddings(req, body, usage)
	case adaptor.ModeChat:
		body = convert.WithObject(body, "chat.completion")
	}
	return body, usage, nil
}

// DecodeStream passes the OpenAI-format stream through.
func (a *Adaptor) DecodeStream(req *adaptor.Request, resp *http.Response, send func(adaptor.Event) error) (adaptor.Usage, error) {
	usage, err := a.oai.DecodeStream(req, resp, func(ev adaptor.Event) error {
		ev.Data = convert.WithObject(ev.Data, "chat.completion.chunk")
		return send(ev)
	})
	return usage, reclassify(err)
}

// embeddings returns Zhipu's list as the client asked for it.
func embeddings(req *adaptor.Request, body []byte, usage adaptor.Usage) ([]byte, adaptor.Usage, error) {
	var opts struct {
		EncodingFormat string `json:"encoding_format"`
	}
	_ = json.Unmarshal(req.Body, &opts)
	if opts.EncodingFormat != "base64" {
		return body, usage, nil
	}
	var r struct {
		Data []struct {
			Index     int       `json:"index"`
			Embedding []float64 `json:"embedding"`
		} `json:"data"`
		Model string `json:"model"`
	}
	if err := json.Unmarshal(body, &r); err != nil || len(r.Data) == 0 {
		return nil, usage, convert.BadReply("Zhipu", body)
	}
	vectors := make([][]float64, len(r.Data))
	for _, d := range r.Data {
		if d.Index < 0 || d.Index >= len(vectors) {
			return nil, usage, convert.BadReply("Zhipu", body)
		}
		vectors[d.Index] = d.Embedding
	}
	out, err := convert.Embeddings(r.Model, vectors, "base64", usage)
	return out, usage, err
}

// reclassify applies Zhipu's codes to an error found in a 2xx body or a
// stream event, which the openai adaptor classified by OpenAI's rules.
func reclassify(err error) error {
	var ue *adaptor.UpstreamError
	if err != nil && errors.As(err, &ue) && ue.Code != "" {
		ue.Class = classify(ue.Status, ue.Code)
	}
	return err
}
