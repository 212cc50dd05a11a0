// Package replicate is the adaptor for Replicate (type 46) channels:
// predictions of language models served as chat (stream and not) and of
// image models as image generation. The model is Replicate's
// "owner/name" (an official model, as One API calls it) or
// "owner/name:version"; the key is a Replicate API token.
//
// A non-stream call waits for the prediction (Prefer: wait, then polling
// its URL); a stream call creates the prediction and reads its stream URL.
// Chat is billed by the prediction's own token counts
// (metrics.input_token_count / output_token_count), images per image. The
// URLs Replicate hands back are followed only to its own hosts (the base
// URL's host, or hosts of the same parent domain such as
// stream.replicate.com), never elsewhere. Importing the package registers
// it for adaptor.TypeReplicate.
package replicate

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
	"oneapi/relay/adaptor/convert"
	"oneapi/relay/adaptor/outbound"
)

func init() {
	adaptor.Register(New(), adaptor.TypeReplicate)
}

// Adaptor is the Replicate adaptor.
type Adaptor struct {
	pollEvery, pollMost time.Duration
}

var _ adaptor.Adaptor = (*Adaptor)(nil)

// New returns the adaptor.
func New() *Adaptor { return &Adaptor{pollEvery: time.Second, pollMost: 10 * time.Minute} }

// prediction is Replicate's prediction object.
type prediction struct {
	ID     string          `json:"id"`
	Status string          `json:"status"` // starting, processing, succeeded, failed, canceled
	Output json.RawMessage `json:"output"`
	Error  json.RawMessage `json:"error"`
	URLs   struct {
		Get    string `json:"get"`
		Stream string `json:"stream"`
	} `json:"urls"`
	Metrics struct {
		InputTokenCount  *int `json:"input_token_count"`
		OutputTokenCount *int `json:"output_token_count"`
	} `json:"metrics"`
}

func (p *prediction) done() bool {
	return p.Status == "succeeded" || p.Status == "failed" || p.Status == "canceled"
}

func (p *prediction) usage() adaptor.Usage {
	if p.Metrics.InputTokenCount == nil && p.Metrics.OutputTokenCount == nil {
		return adaptor.Usage{}
	}
	in, out := 0, 0
	if p.Metrics.InputTokenCount != nil {
		in = *p.Metrics.InputTokenCount
	}
	if p.Metrics.OutputTokenCount != nil {
		out = *p.Metrics.OutputTokenCount
	}
	return convert.Tokens(in, out)
}

// outputs reads output: a string, or a list of strings (tokens for a
// language model, URLs for an image model).
func (p *prediction) outputs() ([]string, bool) {
	o := bytes.TrimSpace(p.Output)
	if len(o) == 0 || string(o) == "null" {
		return nil, true
	}
	var one string
	if json.Unmarshal(o, &one) == nil {
		return []string{one}, true
	}
	var many []string
	if json.Unmarshal(o, &many) == nil {
		return many, true
	}
	return nil, false
}

// call is what the Decode methods need to know about a request.
type call struct {
	ch   *adaptor.Channel
	base *url.URL
	pred *prediction // stream calls: the prediction created in NewRequest
}

type callKey struct{}

func callOf(resp *http.Response) *call {
	if resp != nil && resp.Request != nil {
		if c, ok := resp.Request.Context().Value(callKey{}).(*call); ok {
			return c
		}
	}
	return &call{ch: &adaptor.Channel{}}
}

// predictionsURL is where a prediction of model is created, and the
// version to send, if the model names one.
func predictionsURL(base *url.URL, model string) (string, string, error) {
	name, version, _ := strings.Cut(model, ":")
	owner, rest, ok := strings.Cut(name, "/")
	if !ok || owner == "" || rest == "" || strings.Contains(rest, "/") {
		return "", "", convert.ClientError(`a Replicate model is "owner/name" or "owner/name:version", not %q`, model)
	}
	root := *base
	root.Path = strings.TrimSuffix(strings.TrimSuffix(root.Path, "/models"), "/v1")
	if version != "" {
		return convert.JoinPath(&root, "v1", "predictions"), version, nil
	}
	return convert.JoinPath(&root, "v1", "models", owner, rest, "predictions"), "", nil
}

// NewRequest builds the prediction. For a stream it creates the
// prediction itself and returns the request for its stream.
func (a *Adaptor) NewRequest(ctx context.Context, ch *adaptor.Channel, req *adaptor.Request) (*http.Request, error) {
	var (
		input any
		err   error
	)
	switch req.Mode {
	case adaptor.ModeChat:
		input, err = chatInput(req.Body)
	case adaptor.ModeImages:
		input, err = imageInput(req.Body)
	default:
		return nil, convert.Unsupported("Replicate", req.Mode)
	}
	if err != nil {
		return nil, err
	}
	base, err := convert.BaseURL(ch)
	if err != nil {
		return nil, err
	}
	u, version, err := predictionsURL(base, req.Model)
	if err != nil {
		return nil, err
	}
	stream := req.Stream && req.Mode == adaptor.ModeChat
	body := map[string]any{"input": input}
	if version != "" {
		body["version"] = version
	}
	if stream {
		body["stream"] = true
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode Replicate request: %w", err)
	}
	c := &call{ch: ch, base: base}
	ctx = context.WithValue(ctx, callKey{}, c)
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("build upstream request: %w", err)
	}
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Authorization", "Bearer "+ch.Key)
	if !stream {
		r.Header.Set("Prefer", "wait=60")
		return r, nil
	}
	// Create the prediction now; the relay reads its stream.
	if c.pred, err = a.create(ctx, r); err != nil {
		return nil, err
	}
	su, ok := sameSite(base, c.pred.URLs.Stream)
	if !ok {
		return nil, convert.BadReply("Replicate", []byte("a prediction without a stream URL on Replicate's hosts"))
	}
	sr, err := http.NewRequestWithContext(ctx, http.MethodGet, su.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("build stream request: %w", err)
	}
	sr.Header.Set("Accept", "text/event-stream")
	sr.Header.Set("Cache-Control", "no-store")
	sr.Header.Set("Authorization", "Bearer "+ch.Key)
	return sr, nil
}

// create sends the prediction request r and reads the prediction.
func (a *Adaptor) create(ctx context.Context, r *http.Request) (*prediction, error) {
	client, err := outbound.Client(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(r)
	if err != nil {
		return nil, adaptor.TransportError(err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		resp.Request = r
		return nil, a.DecodeError(resp)
	}
	body, err := convert.ReadReply(resp)
	if err != nil {
		return nil, err
	}
	var p prediction
	if err := json.Unmarshal(body, &p); err != nil || p.ID == "" {
		return nil, convert.BadReply("Replicate", body)
	}
	return &p, nil
}

// sameSite parses a URL Replicate returned and reports whether it may be
// called with the channel's token: the base URL's scheme, and its host or
// a host under the same parent domain (api.replicate.com and
// stream.replicate.com). An IP address or a single-label host matches
// only itself.
func sameSite(base *url.URL, raw string) (*url.URL, bool) {
	u, err := url.Parse(raw)
	if err != nil || raw == "" || u.Scheme != base.Scheme || u.User != nil {
		return nil, false
	}
	if strings.EqualFold(u.Host, base.Host) {
		return u, true
	}
	host, bhost := strings.ToLower(u.Hostname()), strings.ToLower(base.Hostname())
	if u.Port() != base.Port() || strings.Count(bhost, ".") < 2 || strings.Trim(bhost, "0123456789.:[]") == "" {
		return nil, false
	}
	parent := bhost[strings.IndexByte(bhost, '.')+1:]
	return u, host == parent || strings.HasSuffix(host, "."+parent)
}

// DecodeResponse waits for the prediction to end and returns its output.
func (a *Adaptor) DecodeResponse(req *adaptor.Request, resp *http.Response) ([]byte, adaptor.Usage, error) {
	c := callOf(resp)
	body, err := convert.ReadReply(resp)
	if err != nil {
		return nil, adaptor.Usage{}, err
	}
	var p prediction
	if err := json.Unmarshal(body, &p); err != nil || p.ID == "" {
		return nil, adaptor.Usage{}, convert.BadReply("Replicate", body)
	}
	if !p.done() {
		if err := a.wait(resp.Request.Context(), c, &p); err != nil {
			return nil, adaptor.Usage{}, err
		}
	}
	if p.Status != "succeeded" {
		return nil, adaptor.Usage{}, failed(&p, c)
	}
	outs, ok := p.outputs()
	if !ok {
		return nil, adaptor.Usage{}, convert.BadReply("Replicate", p.Output)
	}
	if req.Mode == adaptor.ModeImages {
		images := make([]convert.Image, 0, len(outs))
		for _, o := range outs {
			images = append(images, convert.Image{URL: o})
		}
		if len(images) == 0 {
			return nil, adaptor.Usage{}, convert.BadReply("Replicate", body)
		}
		out, err := convert.Images(images)
		return out, adaptor.Usage{}, err // billed per image by the relay
	}
	usage := p.usage()
	out, err := convert.Reply("chatcmpl-"+p.ID, req.Model, convert.TextMessage(strings.Join(outs, "")), "stop", usage)
	return out, usage, err
}

// wait polls the prediction's get URL until it ends.
func (a *Adaptor) wait(ctx context.Context, c *call, p *prediction) error {
	deadline := time.Now().Add(a.pollMost)
	for !p.done() {
		if time.Now().After(deadline) {
			return &adaptor.UpstreamError{Status: http.StatusGatewayTimeout, Message: "the Replicate prediction did not finish in time",
				Type: "upstream_error", Code: "timeout", Class: adaptor.ClassRetry}
		}
		select {
		case <-ctx.Done():
			return adaptor.TransportError(ctx.Err())
		case <-time.After(a.pollEvery):
		}
		next, err := a.get(ctx, c, p.URLs.Get)
		if err != nil {
			return err
		}
		*p = *next
	}
	return nil
}

// get fetches a prediction by its URL.
func (a *Adaptor) get(ctx context.Context, c *call, raw string) (*prediction, error) {
	u, ok := sameSite(c.base, raw)
	if !ok {
		return nil, convert.BadReply("Replicate", []byte("a prediction URL outside Replicate's hosts"))
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("build prediction request: %w", err)
	}
	r.Header.Set("Authorization", "Bearer "+c.ch.Key)
	return a.create(ctx, r)
}

// failed is the error of a prediction that failed or was canceled: on
// Replicate's side, so another channel may do.
func failed(p *prediction, c *call) *adaptor.UpstreamError {
	msg := "the Replicate prediction " + p.Status
	var s string
	if json.Unmarshal(p.Error, &s) == nil && s != "" {
		msg += ": " + s
	}
	return convert.Error(http.StatusBadGateway, nil, "replicate_error", "prediction_"+p.Status, msg, adaptor.ClassRetry, c.ch.Key)
}
