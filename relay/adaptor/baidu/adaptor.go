// Package baidu is the adaptor for Baidu Wenxin / Qianfan (type 15)
// channels, with One API's two key shapes:
//
//   - "ClientId|ClientSecret" (a Qianfan application's API Key and Secret
//     Key): the ERNIE v1 API (/rpc/2.0/ai_custom/v1/wenxinworkshop), with
//     an access token from /oauth/2.0/token, cached per channel and renewed
//     a day before its 30 days run out;
//   - any other key (a Qianfan v2 "bce-v3/..." API key): Qianfan v2
//     (https://qianfan.baidubce.com/v2), which speaks OpenAI's format and
//     is served as a Qianfan v2 channel (type 47) would be.
//
// Chat, stream and embeddings are served. Importing the package registers
// it for adaptor.TypeBaidu.
package baidu

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/convert"
	"oneapi/relay/adaptor/openai"
	"oneapi/relay/adaptor/outbound"
)

func init() {
	adaptor.Register(New(), adaptor.TypeBaidu)
}

// renewBefore is how long before expiry an access token is renewed.
const renewBefore = 24 * time.Hour

// qianfanV2 is Qianfan v2's default host.
const qianfanV2 = "https://qianfan.baidubce.com"

// Adaptor is the Baidu adaptor.
type Adaptor struct {
	v2     *openai.Adaptor
	tokens outbound.Tokens
}

var _ adaptor.Adaptor = (*Adaptor)(nil)

// New returns the adaptor.
func New() *Adaptor { return &Adaptor{v2: openai.New()} }

// callKey marks, in a request's context, how it was made: the channel and
// its access token for v1, nil for v2.
type callKey struct{}

type v1Call struct {
	ch    *adaptor.Channel
	token string
}

// NewRequest builds the call: Qianfan v2 for a v2 key, else ERNIE v1 with
// an access token (fetched first if none is cached).
func (a *Adaptor) NewRequest(ctx context.Context, ch *adaptor.Channel, req *adaptor.Request) (*http.Request, error) {
	clientID, secret, ok := splitKey(ch.Key)
	if !ok {
		return a.v2.NewRequest(ctx, v2Channel(ch), req)
	}
	var (
		kind string
		body any
		err  error
	)
	switch req.Mode {
	case adaptor.ModeChat:
		kind = "chat"
		body, err = toChatRequest(req.Body)
	case adaptor.ModeEmbeddings:
		kind = "embeddings"
		body, err = toEmbeddingRequest(req.Body)
	default:
		return nil, convert.Unsupported("Baidu ERNIE v1", req.Mode)
	}
	if err != nil {
		return nil, err
	}
	base, err := convert.BaseURL(ch)
	if err != nil {
		return nil, err
	}
	token, err := a.tokens.Get(ctx, ch, renewBefore, func(ctx context.Context) (outbound.Credential, error) {
		return fetchToken(ctx, base, clientID, secret)
	})
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode Baidu request: %w", err)
	}
	u := convert.JoinPath(base, "rpc", "2.0", "ai_custom", "v1", "wenxinworkshop", kind, endpoint(req.Model))
	u += "?access_token=" + url.QueryEscape(token)
	ctx = context.WithValue(ctx, callKey{}, &v1Call{ch: ch, token: token})
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("build upstream request: %w", err)
	}
	r.Header.Set("Content-Type", "application/json")
	return r, nil
}

// splitKey reads "ClientId|ClientSecret".
func splitKey(key string) (id, secret string, ok bool) {
	id, secret, ok = strings.Cut(strings.TrimSpace(key), "|")
	return strings.TrimSpace(id), strings.TrimSpace(secret), ok && id != "" && secret != ""
}

// v2Channel is ch as a Qianfan v2 channel: v1's default host is replaced
// by v2's; another base URL (a proxy, a test server) is kept.
func v2Channel(ch *adaptor.Channel) *adaptor.Channel {
	c := *ch
	c.Type = adaptor.TypeBaiduV2
	if u, err := url.Parse(strings.TrimSpace(ch.BaseURL)); ch.BaseURL == "" || (err == nil && u.Host == "aip.baidubce.com") {
		c.BaseURL = qianfanV2
	}
	return &c
}

// endpoint is the v1 path segment that serves a model: Baidu's own names
// for the models One API lists, else the model name in lower case (how
// Baidu names the rest, and what a custom deployment is called).
func endpoint(model string) string {
	if e, ok := endpoints[model]; ok {
		return e
	}
	return strings.ToLower(model)
}

var endpoints = map[string]string{
	"ERNIE-4.0": "completions_pro", "ERNIE-Bot-4": "completions_pro", "ERNIE-4.0-8K": "completions_pro",
	"ERNIE-Bot": "completions", "ERNIE-3.5-8K": "completions",
	"ERNIE-Bot-turbo": "eb-instant", "ERNIE-Lite-8K-0922": "eb-instant",
	"ERNIE-Speed": "ernie_speed", "ERNIE-Speed-8K": "ernie_speed",
	"ERNIE-Bot-8K":       "ernie_bot_8k",
	"ERNIE-3.5-8K-0205":  "ernie-3.5-8k-0205",
	"ERNIE-3.5-8K-1222":  "ernie-3.5-8k-1222",
	"ERNIE-3.5-4K-0205":  "ernie-3.5-4k-0205",
	"ERNIE-Speed-128K":   "ernie-speed-128k",
	"ERNIE-Lite-8K-0308": "ernie-lite-8k",
	"ERNIE-Tiny-8K":      "ernie-tiny-8k",
	"BLOOMZ-7B":          "bloomz_7b1",
	"Embedding-V1":       "embedding-v1",
	"bge-large-zh":       "bge_large_zh",
	"bge-large-en":       "bge_large_en",
	"tao-8k":             "tao_8k",
}

// fetchToken exchanges the application's keys for an access token.
func fetchToken(ctx context.Context, base *url.URL, clientID, secret string) (outbound.Credential, error) {
	client, err := outbound.Client(ctx)
	if err != nil {
		return outbound.Credential{}, err
	}
	q := url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret}}
	u := convert.JoinPath(base, "oauth", "2.0", "token") + "?" + q.Encode()
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err != nil {
		return outbound.Credential{}, fmt.Errorf("build token request: %w", err)
	}
	r.Header.Set("Accept", "application/json")
	resp, err := client.Do(r)
	if err != nil {
		// The URL holds the secret: TransportError keeps only the cause.
		return outbound.Credential{}, tokenError(adaptor.TransportError(err))
	}
	body := convert.ReadError(resp)
	var t struct {
		AccessToken      string `json:"access_token"`
		ExpiresIn        int64  `json:"expires_in"`
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
	}
	if json.Unmarshal(body, &t) != nil {
		return outbound.Credential{}, tokenError(convert.Error(http.StatusBadGateway, resp.Header, "", "bad_token_reply",
			fmt.Sprintf("Baidu's token endpoint answered %d without a token", resp.StatusCode), convert.StatusClass(resp.StatusCode)))
	}
	if t.Error != "" || t.AccessToken == "" {
		// invalid_client: unknown client id or wrong secret; the key is dead.
		class := adaptor.ClassRetry
		status := http.StatusBadGateway
		if t.Error == "invalid_client" || resp.StatusCode == http.StatusUnauthorized {
			class, status = adaptor.ClassDisable, http.StatusUnauthorized
		}
		return outbound.Credential{}, tokenError(convert.Error(status, resp.Header, "authentication_error", t.Error,
			"Baidu refused the channel's API Key and Secret Key: "+t.ErrorDescription, class, secret))
	}
	if t.ExpiresIn <= 0 {
		t.ExpiresIn = 30 * 24 * 3600
	}
	return outbound.Credential{Value: t.AccessToken, Expires: time.Now().Add(time.Duration(t.ExpiresIn) * time.Second)}, nil
}

func tokenError(ue *adaptor.UpstreamError) *adaptor.UpstreamError {
	ue.Message = "access token: " + ue.Message
	return ue
}

// v1 reports whether resp answers a v1 call, and the call.
func v1(resp *http.Response) (*v1Call, bool) {
	if resp == nil || resp.Request == nil {
		return nil, false
	}
	c, ok := resp.Request.Context().Value(callKey{}).(*v1Call)
	return c, ok
}

// DecodeResponse reads a chat or embeddings reply.
func (a *Adaptor) DecodeResponse(req *adaptor.Request, resp *http.Response) ([]byte, adaptor.Usage, error) {
	call, ok := v1(resp)
	if !ok {
		body, u, err := a.v2.DecodeResponse(req, resp)
		if err == nil && req.Mode == adaptor.ModeChat {
			body = convert.WithObject(body, "chat.completion")
			resp.Header.Set("Content-Type", "application/json")
		}
		return body, u, err
	}
	body, err := convert.ReadReply(resp)
	if err != nil {
		return nil, adaptor.Usage{}, err
	}
	if req.Mode == adaptor.ModeEmbeddings {
		return a.decodeEmbeddings(req, call, body)
	}
	var cr chatResponse
	if err := json.Unmarshal(body, &cr); err != nil {
		return nil, adaptor.Usage{}, convert.BadReply("Baidu", body)
	}
	if cr.ErrorCode != 0 {
		return nil, adaptor.Usage{}, a.apiError(call, http.StatusOK, resp.Header, cr.ErrorCode, cr.ErrorMsg)
	}
	if cr.Usage == nil && cr.Result == "" && cr.ID == "" {
		return nil, adaptor.Usage{}, convert.BadReply("Baidu", body)
	}
	usage := cr.usage()
	out, err := convert.Reply("chatcmpl-"+idOr(cr.ID), req.Model, convert.TextMessage(cr.Result), finishReason(cr.FinishReason, cr.IsTruncated), usage)
	return out, usage, err
}

func (a *Adaptor) decodeEmbeddings(req *adaptor.Request, call *v1Call, body []byte) ([]byte, adaptor.Usage, error) {
	var er embeddingResponse
	if err := json.Unmarshal(body, &er); err != nil {
		return nil, adaptor.Usage{}, convert.BadReply("Baidu", body)
	}
	if er.ErrorCode != 0 {
		return nil, adaptor.Usage{}, a.apiError(call, http.StatusOK, nil, er.ErrorCode, er.ErrorMsg)
	}
	if len(er.Data) == 0 {
		return nil, adaptor.Usage{}, convert.BadReply("Baidu", body)
	}
	vectors := make([][]float64, len(er.Data))
	for i, d := range er.Data {
		idx := d.Index
		if idx < 0 || idx >= len(vectors) {
			idx = i
		}
		vectors[idx] = d.Embedding
	}
	var usage adaptor.Usage
	if er.Usage != nil {
		usage = convert.Tokens(er.Usage.PromptTokens, 0)
	}
	var opts struct {
		EncodingFormat string `json:"encoding_format"`
	}
	_ = json.Unmarshal(req.Body, &opts)
	out, err := convert.Embeddings(req.Model, vectors, opts.EncodingFormat, usage)
	return out, usage, err
}

func idOr(id string) string {
	if id != "" {
		return id
	}
	return convert.ID()
}

// finishReason maps ERNIE's finish_reason ("normal", "stop", "length",
// "content_filter", "function_call") and is_truncated to OpenAI's.
func finishReason(reason string, truncated bool) string {
	switch {
	case reason == "length" || truncated:
		return "length"
	case reason == "content_filter":
		return "content_filter"
	}
	return "stop"
}

// apiError is an error_code answer (which Baidu sends with status 200). An
// access token Baidu no longer takes (110, 111) is forgotten, so the next
// request fetches another.
func (a *Adaptor) apiError(call *v1Call, status int, header http.Header, code int, msg string) *adaptor.UpstreamError {
	class, st := classify(code)
	if st == 0 {
		st = status
		if st < 400 {
			st = http.StatusBadGateway
		}
	}
	if code == 110 || code == 111 {
		a.tokens.Forget(call.ch, call.token)
	}
	secrets := []string{call.token}
	if id, secret, ok := splitKey(call.ch.Key); ok {
		secrets = append(secrets, id, secret)
	}
	return convert.Error(st, header, "baidu_error", strconv.Itoa(code), msg, class, secrets...)
}
