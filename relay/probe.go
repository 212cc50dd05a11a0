package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/outbound"
	"oneapi/relay/oai"
	"oneapi/state"
)

// ProbeTimeout bounds one channel test, whatever the caller's context allows.
const ProbeTimeout = 30 * time.Second

// probePrompt and probeMaxTokens make the smallest request that proves a
// channel answers: One API's channel test sends the same.
const (
	probePrompt    = "hi"
	probeMaxTokens = 1
)

// ProbeModel returns the model a test of ch asks for: model when the caller
// names one, else the channel's test model, else the first model it serves;
// "" when the channel lists none.
func ProbeModel(ch *state.Channel, model string) string {
	if m := strings.TrimSpace(model); m != "" {
		return m
	}
	if ch.TestModel != "" {
		return ch.TestModel
	}
	if len(ch.Models) > 0 {
		return ch.Models[0]
	}
	return ""
}

// Probe sends one tiny real chat request ("hi", one output token: as
// max_completion_tokens for reasoning models, which refuse max_tokens) to the
// channel's upstream through its adaptor and returns how long the answer
// took. model is chosen as ProbeModel does and goes through the channel's
// model mapping. An upstream failure comes back as an *adaptor.UpstreamError
// whose Class says whether the key is dead; no error message ever contains
// the channel key. The elapsed time is returned on failure too.
func Probe(ctx context.Context, client *http.Client, ch *state.Channel, model string) (time.Duration, error) {
	model = ProbeModel(ch, model)
	if model == "" {
		return 0, errors.New("the channel lists no model to test")
	}
	a := adaptor.For(ch.Type)
	if a == nil {
		name := fmt.Sprintf("%d", ch.Type)
		if t, ok := adaptor.TypeByID(ch.Type); ok {
			name = t.Name
		}
		return 0, fmt.Errorf("channel type %s cannot be tested: no adaptor for it in this build", name)
	}
	upstream := ch.UpstreamModel(model)
	maxTokens := probeMaxTokens
	chat := &oai.ChatRequest{
		Model:    upstream,
		Messages: []oai.Message{{Role: "user", Content: oai.TextContent(probePrompt)}},
	}
	if rejectsMaxTokens(upstream) {
		chat.MaxCompletionTokens = &maxTokens
	} else {
		chat.MaxTokens = &maxTokens
	}
	body, err := json.Marshal(chat)
	if err != nil {
		return 0, fmt.Errorf("encode test request: %w", err)
	}
	req := &adaptor.Request{Mode: adaptor.ModeChat, Model: upstream, Body: body, Chat: chat}

	ctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
	defer cancel()
	start := time.Now()
	err = probeOnce(ctx, client, a, &ch.Channel, req)
	elapsed := time.Since(start)
	if err != nil {
		return elapsed, probeError(err, ch.Key)
	}
	return elapsed, nil
}

// reasoningFamilies are OpenAI's model families that refuse max_tokens
// ("Unsupported parameter: 'max_tokens' ... Use 'max_completion_tokens'
// instead"): the o-series reasoning models and GPT-5.
var reasoningFamilies = []string{"o1", "o3", "o4", "gpt-5"}

// rejectsMaxTokens reports whether the upstream model belongs to a family
// that takes only max_completion_tokens. Other models keep max_tokens, which
// every OpenAI-compatible vendor accepts while many do not know
// max_completion_tokens. A vendor prefix ("openai/o3-mini" on OpenRouter) is
// ignored; a family matches whole ("o1", "o1-mini", "gpt-5.1", not "o10" or
// "gpt-50").
func rejectsMaxTokens(model string) bool {
	m := strings.ToLower(model)
	if i := strings.LastIndexByte(m, '/'); i >= 0 {
		m = m[i+1:]
	}
	for _, f := range reasoningFamilies {
		if rest, ok := strings.CutPrefix(m, f); ok && (rest == "" || rest[0] == '-' || rest[0] == '.') {
			return true
		}
	}
	return false
}

// probeOnce sends req and checks that the answer is a chat completion.
func probeOnce(ctx context.Context, client *http.Client, a adaptor.Adaptor, ch *adaptor.Channel, req *adaptor.Request) error {
	hreq, err := a.NewRequest(outbound.WithClient(ctx, client), ch, req)
	if err != nil {
		return err
	}
	resp, err := client.Do(hreq)
	if err != nil {
		return adaptor.TransportError(err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return a.DecodeError(resp)
	}
	out, _, err := a.DecodeResponse(req, resp)
	if err != nil {
		return err
	}
	// A proxy's HTML page or an empty 200 is not an answer. Usage alone
	// counts: some vendors send no choice when the one token was cut.
	var v struct {
		Choices []json.RawMessage `json:"choices"`
		Usage   *oai.Usage        `json:"usage"`
	}
	if json.Unmarshal(out, &v) != nil || (len(v.Choices) == 0 && v.Usage == nil) {
		return &adaptor.UpstreamError{
			Status: http.StatusBadGateway, Type: "upstream_error", Class: adaptor.ClassRetry,
			Message: "upstream answered 2xx but not with a chat completion: " + orEmpty(adaptor.Snippet(out, 200)),
		}
	}
	return nil
}

// probeError makes sure no message leaves with the key in it. Transport
// failures keep their cause ("connection refused", a TLS error): the person
// testing a channel needs it, and it names no URL (adaptor.TransportError
// drops the *url.Error around it).
func probeError(err error, key string) error {
	var ue *adaptor.UpstreamError
	if !errors.As(err, &ue) {
		return errors.New(adaptor.Redact(err.Error(), key))
	}
	cp := *ue
	if cp.Err != nil && !errors.Is(cp.Err, context.Canceled) {
		cp.Message += ": " + cp.Err.Error()
	}
	cp.Message = adaptor.Redact(cp.Message, key)
	return &cp
}

func orEmpty(s string) string {
	if s == "" {
		return "(empty body)"
	}
	return s
}
