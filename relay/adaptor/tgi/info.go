package tgi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/openai"
)

// How long a channel's /info is trusted: a redeployed server (another
// model, other limits) is seen within infoTTL; a failed fetch is retried
// after infoErrTTL, so a server that is down is not asked on every request.
const (
	infoTTL      = 10 * time.Minute
	infoErrTTL   = 5 * time.Second
	infoTimeout  = 10 * time.Second
	maxInfoReply = 1 << 20
)

// serverInfo is what GET /info says that matters here.
type serverInfo struct {
	known    bool // the server answered /info (else: a proxy without it)
	modelID  string
	version  string
	messages bool // TGI ≥ 1.4: the Messages API
	tei      bool // a Text Embeddings Inference server
	// maxInput and maxTotal are the server's token limits, 0 when unknown.
	maxInput, maxTotal int
}

// wireInfo is TGI's and TEI's /info. TGI called max_input_tokens
// max_input_length before 2.0; TEI still does.
type wireInfo struct {
	ModelID        string          `json:"model_id"`
	Version        string          `json:"version"`
	MaxInputTokens int             `json:"max_input_tokens"`
	MaxInputLength int             `json:"max_input_length"`
	MaxTotalTokens int             `json:"max_total_tokens"`
	ModelType      json.RawMessage `json:"model_type"` // TEI only: {"embedding":...}, {"reranker":...}
}

func parseInfo(body []byte) (serverInfo, error) {
	var w wireInfo
	if err := json.Unmarshal(body, &w); err != nil {
		return serverInfo{}, err
	}
	if w.ModelID == "" {
		return serverInfo{}, fmt.Errorf("no model_id")
	}
	si := serverInfo{known: true, modelID: w.ModelID, version: w.Version, maxInput: w.MaxInputTokens, maxTotal: w.MaxTotalTokens}
	if si.maxInput == 0 {
		si.maxInput = w.MaxInputLength
	}
	si.tei = len(w.ModelType) > 0 && string(w.ModelType) != "null"
	si.messages = !si.tei && versionAtLeast(w.Version, 1, 4)
	return si, nil
}

// versionAtLeast compares "2.0.4" or "1.4.0-dev0" with major.minor; an
// unreadable version is taken as new.
func versionAtLeast(v string, major, minor int) bool {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return true
	}
	ma, err1 := strconv.Atoi(parts[0])
	mi, err2 := strconv.Atoi(strings.TrimLeft(parts[1], "v"))
	if err1 != nil || err2 != nil {
		return true
	}
	return ma > major || (ma == major && mi >= minor)
}

// infoCache holds each channel's /info. Concurrent requests for a channel
// whose entry is missing or stale wait for one fetch.
type infoCache struct {
	mu sync.Mutex
	m  map[string]*infoEntry
}

type infoEntry struct {
	done    chan struct{} // closed when the fetch ended
	info    serverInfo
	err     *adaptor.UpstreamError
	expires time.Time
}

func newInfoCache() *infoCache { return &infoCache{m: map[string]*infoEntry{}} }

// cacheKey names a channel's server: a changed base URL is another server.
func cacheKey(ch *adaptor.Channel) string {
	return strconv.FormatInt(ch.ID, 10) + "\x00" + ch.BaseURL
}

// peek returns the last /info fetched for key, stale or not, without
// fetching.
func (c *infoCache) peek(key string) (serverInfo, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.m[key]
	if e == nil {
		return serverInfo{}, false
	}
	select {
	case <-e.done:
		return e.info, e.err == nil
	default:
		return serverInfo{}, false
	}
}

// get returns key's /info, fetching it when missing or expired. The fetch
// runs apart from the caller's cancellation (other requests wait for it),
// bounded by infoTimeout.
func (c *infoCache) get(ctx context.Context, key string, fetch func(context.Context) (serverInfo, *adaptor.UpstreamError)) (serverInfo, *adaptor.UpstreamError) {
	for {
		c.mu.Lock()
		e := c.m[key]
		if e != nil {
			select {
			case <-e.done:
				if time.Now().Before(e.expires) {
					c.mu.Unlock()
					return e.info, e.err
				}
			default:
				c.mu.Unlock()
				select {
				case <-e.done:
					continue
				case <-ctx.Done():
					return serverInfo{}, adaptor.TransportError(ctx.Err())
				}
			}
		}
		e = &infoEntry{done: make(chan struct{})}
		c.m[key] = e
		c.mu.Unlock()

		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), infoTimeout)
		info, err := fetch(fctx)
		cancel()
		ttl := infoTTL
		if err != nil {
			ttl = infoErrTTL
		}
		c.mu.Lock()
		e.info, e.err, e.expires = info, err, time.Now().Add(ttl)
		close(e.done)
		c.mu.Unlock()
		return info, err
	}
}

// fetchInfo asks the server for GET /info. A server that has no /info (a
// proxy in front of TGI that only exposes /v1) is not an error: its info is
// unknown. A refused key, an unreachable or failing server is.
func (a *Adaptor) fetchInfo(ctx context.Context, client *http.Client, ch *adaptor.Channel) (serverInfo, *adaptor.UpstreamError) {
	u, err := serverURL(ch, pathInfo)
	if err != nil {
		return serverInfo{}, &adaptor.UpstreamError{Status: http.StatusBadGateway, Message: err.Error(), Type: "upstream_error", Class: adaptor.ClassRetry}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return serverInfo{}, adaptor.TransportError(err)
	}
	req.Header.Set("Accept", "application/json")
	setAuth(req.Header, ch)
	resp, err := client.Do(req)
	if err != nil {
		return serverInfo{}, adaptor.TransportError(err)
	}
	if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed {
		resp.Body.Close()
		return serverInfo{}, nil
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return serverInfo{}, a.DecodeError(resp)
	}
	defer resp.Body.Close()
	body, err := adaptor.ReadBody(resp, maxInfoReply)
	if err != nil {
		return serverInfo{}, adaptor.TransportError(err)
	}
	si, err := parseInfo(body)
	if err != nil {
		return serverInfo{}, badReply("/info reply", body, err)
	}
	return si, nil
}

// Prepare reads the channel's /info (cached) before a chat or completion:
// a prompt over the server's max_input_tokens is refused with a 400, and an
// output limit over what max_total_tokens leaves is lowered to it, so the
// server does not refuse the call with a 422 after a round trip. The
// prompt size is the gateway's count; the limit is applied to it only
// when it is over, since the server's tokenizer is the judge.
func (a *Adaptor) Prepare(ctx context.Context, client *http.Client, ch *adaptor.Channel, req *adaptor.Request) error {
	if req.Mode != adaptor.ModeChat && req.Mode != adaptor.ModeCompletions {
		return nil
	}
	info, ue := a.info.get(ctx, cacheKey(ch), func(ctx context.Context) (serverInfo, *adaptor.UpstreamError) {
		return a.fetchInfo(ctx, client, ch)
	})
	if ue != nil {
		return ue
	}
	if info.tei {
		return &adaptor.UpstreamError{Status: http.StatusBadGateway, Type: "upstream_error", Code: "not_a_generation_server", Class: adaptor.ClassRetry,
			Message: fmt.Sprintf("the channel's server is a Text Embeddings Inference server (%s): it serves embeddings and rerank, not %s", info.modelID, req.Mode)}
	}
	if info.maxInput > 0 && req.PromptTokens > info.maxInput {
		return clientError("context_length_exceeded",
			"This model's server takes at most %d input tokens (max_input_tokens); the prompt has about %d. Shorten the messages.", info.maxInput, req.PromptTokens)
	}
	if info.maxTotal > 0 {
		budget := info.maxTotal - req.PromptTokens
		if budget < 1 {
			return clientError("context_length_exceeded",
				"This model's server takes at most %d tokens of prompt and answer together (max_total_tokens); the prompt alone has about %d.", info.maxTotal, req.PromptTokens)
		}
		if body, changed := capOutput(req.Body, budget); changed {
			req.Body = body
		}
	}
	return nil
}

// capOutput lowers max_tokens and max_completion_tokens above limit to it.
func capOutput(body []byte, limit int) ([]byte, bool) {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return body, false
	}
	changed := false
	for _, k := range []string{"max_tokens", "max_completion_tokens"} {
		var n int
		if v, ok := m[k]; ok && json.Unmarshal(v, &n) == nil && n > limit {
			m[k] = json.RawMessage(strconv.Itoa(limit))
			changed = true
		}
	}
	if !changed {
		return body, false
	}
	out, err := json.Marshal(m)
	if err != nil {
		return body, false
	}
	return out, true
}

// Probe tests the channel with GET /info: it proves the server is up and
// takes the key, for TEI servers too (they serve no chat), and generates
// nothing. Its answer refreshes the cache.
func (a *Adaptor) Probe(ctx context.Context, client *http.Client, ch *adaptor.Channel, _ string) error {
	info, ue := a.fetchInfo(ctx, client, ch)
	if ue != nil {
		return ue
	}
	if !info.known {
		return &adaptor.UpstreamError{Status: http.StatusBadGateway, Type: "upstream_error", Class: adaptor.ClassRetry,
			Message: "the server has no GET /info: is the base URL a TGI or TEI server (or Inference Endpoint)?"}
	}
	a.info.put(cacheKey(ch), info)
	return nil
}

func (c *infoCache) put(key string, info serverInfo) {
	e := &infoEntry{done: make(chan struct{}), info: info, expires: time.Now().Add(infoTTL)}
	close(e.done)
	c.mu.Lock()
	c.m[key] = e
	c.mu.Unlock()
}

// ListModels returns the model the server serves (a TGI or TEI server
// serves one), from /info; a server without /info is asked for the
// Messages API's /v1/models.
func (a *Adaptor) ListModels(ctx context.Context, client *http.Client, ch *adaptor.Channel) ([]string, error) {
	info, ue := a.fetchInfo(ctx, client, ch)
	if ue != nil {
		return nil, ue
	}
	if info.known {
		a.info.put(cacheKey(ch), info)
		return []string{info.modelID}, nil
	}
	u, err := serverURL(ch, "/v1/models")
	if err != nil {
		return nil, err
	}
	return openai.FetchModelIDs(ctx, client, u, func(h http.Header) { setAuth(h, ch) }, a.DecodeError)
}
