// Package relay serves the OpenAI-compatible API under /v1: it authenticates
// issued keys against the in-memory state, picks a channel, has the channel
// type's adaptor call upstream, streams the answer back and meters the
// request (reserve before, settle after).
//
// It is a plain net/http handler mounted beside the Echo console, so the hot
// path carries no middleware it does not need.
package relay

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"oneapi/relay/adaptor"
	_ "oneapi/relay/adaptor/aiproxy"    // registers AI Proxy Library (21)
	_ "oneapi/relay/adaptor/ali"        // registers Alibaba DashScope (17)
	_ "oneapi/relay/adaptor/anthropic"  // registers Anthropic Claude
	_ "oneapi/relay/adaptor/baidu"      // registers Baidu Wenxin (15)
	_ "oneapi/relay/adaptor/bedrock"    // registers AWS Bedrock
	_ "oneapi/relay/adaptor/cloudflare" // registers Cloudflare Workers AI
	_ "oneapi/relay/adaptor/cohere"     // registers Cohere
	_ "oneapi/relay/adaptor/coze"       // registers Coze (34)
	_ "oneapi/relay/adaptor/deepl"      // registers DeepL (38)
	_ "oneapi/relay/adaptor/gemini"     // registers Google Gemini
	_ "oneapi/relay/adaptor/ollama"     // registers Ollama
	_ "oneapi/relay/adaptor/openai"     // registers the OpenAI-compatible channel types
	_ "oneapi/relay/adaptor/palm"       // registers Google PaLM (11), served by Gemini
	"oneapi/relay/adaptor/proxy"        // registers Proxy (43); its route is oneapi_proxy.go
	_ "oneapi/relay/adaptor/replicate"  // registers Replicate (46)
	_ "oneapi/relay/adaptor/tencent"    // registers Tencent Hunyuan (23)
	_ "oneapi/relay/adaptor/tgi"        // registers Hugging Face TGI / TEI
	_ "oneapi/relay/adaptor/vertex"     // registers Google Vertex AI
	_ "oneapi/relay/adaptor/xunfei"     // registers iFlytek Spark (18)
	_ "oneapi/relay/adaptor/zhipu"      // registers Zhipu (16)
	"oneapi/state"
	"oneapi/successrate"
)

// Config holds the relay's start-up settings; runtime ones live in state.Options.
type Config struct {
	// TrustedProxies may set X-Forwarded-For; for anyone else the client IP is the socket peer.
	TrustedProxies []netip.Prefix
	// Timeout bounds one upstream call from start to last byte; 0 = none.
	Timeout time.Duration
	// MaxBodyBytes bounds a request body (audio uploads included).
	MaxBodyBytes int64
	// BodyReadTimeout bounds how long a client may take to send its body
	// (slowloris); 0 = two minutes, room for a large audio upload on a
	// slow link.
	BodyReadTimeout time.Duration
	// SuccessRate, when set (ENABLE_METRIC), counts each upstream attempt's
	// outcome per channel and disables a channel whose recent success rate
	// falls under its threshold.
	SuccessRate *successrate.Tracker
}

// Server is the /v1 handler.
type Server struct {
	state  *state.State
	meter  *Meter
	client *http.Client
	log    *slog.Logger
	cfg    Config

	idPrefix string
	idSeq    atomic.Uint64

	cooldowns cooldowns // channels that answered 429 with Retry-After
}

// NewServer wires the relay. client is the upstream client (see NewTransport).
func NewServer(st *state.State, meter *Meter, client *http.Client, log *slog.Logger, cfg Config) *Server {
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 32 << 20
	}
	if cfg.BodyReadTimeout == 0 {
		cfg.BodyReadTimeout = 2 * time.Minute
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return &Server{state: st, meter: meter, client: client, log: log, cfg: cfg, idPrefix: hex.EncodeToString(b[:])}
}

// NewTransport is the one upstream transport: many idle connections per host
// (the default 2 would make every burst dial), bounded dial and header waits.
// proxy (RELAY_PROXY) carries every upstream call when set; nil follows
// HTTPS_PROXY and the like.
func NewTransport(proxy *url.URL) *http.Transport {
	proxyFunc := http.ProxyFromEnvironment
	if proxy != nil {
		proxyFunc = http.ProxyURL(proxy)
	}
	return &http.Transport{
		Proxy:                 proxyFunc,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 5 * time.Minute, // slow models think before the first byte
		ExpectContinueTimeout: time.Second,
	}
}

// NewClient is the upstream HTTP client: NewTransport, and redirects refused.
// API endpoints do not redirect calls; following one would send the request
// wherever a misconfigured or hostile upstream points, internal addresses
// included, and with it the key: Go drops Authorization on a redirect to
// another host, but not Azure's api-key header.
func NewClient(proxy *url.URL) *http.Client {
	return &http.Client{Transport: NewTransport(proxy), CheckRedirect: refuseRedirect}
}

// errRedirect is what a redirecting upstream fails with (a retryable
// connection error to the router, the reason in probe results).
var errRedirect = errors.New("upstream answered with a redirect, which the gateway does not follow")

func refuseRedirect(*http.Request, []*http.Request) error { return errRedirect }

// newRequestID is unique per node and cheap: a random node prefix and a counter.
func (s *Server) newRequestID() string {
	return s.idPrefix + strconv.FormatUint(s.idSeq.Add(1), 36)
}

// ServeHTTP routes /v1 requests.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rid := s.newRequestID()
	h := w.Header()
	h.Set("X-Request-Id", rid)
	// Browser apps call /v1 directly with their own keys, as they can with
	// OpenAI. Keys travel in a header, never a cookie, so any origin is safe.
	h.Set("Access-Control-Allow-Origin", "*")
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Api-Key, Anthropic-Version, Anthropic-Beta, Anthropic-Dangerous-Direct-Browser-Access, X-Goog-Api-Key, OpenAI-Organization, OpenAI-Project, X-Stainless-Lang, X-Stainless-Package-Version, X-Stainless-OS, X-Stainless-Arch, X-Stainless-Runtime, X-Stainless-Runtime-Version, X-Stainless-Retry-Count, X-Stainless-Timeout")
		h.Set("Access-Control-Max-Age", "86400")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("relay panic", "request_id", rid, "panic", fmt.Sprint(v))
			writeError(w, rid, errInternal)
		}
	}()
	path := r.URL.Path
	anthropicClient := r.Header.Get("anthropic-version") != ""
	if usage, ok := isBillingPath(path); ok {
		s.billing(w, r, rid, usage) // billing_dashboard.go
		return
	}
	switch {
	case geminiPath(path) != "":
		s.serveGemini(w, r, rid, geminiPath(path)) // entrance_gemini.go
	case path == "/v1/messages" || path == "/v1/messages/count_tokens":
		if r.Method != http.MethodPost {
			messagesEntrance{}.writeError(w, rid, &apiError{http.StatusMethodNotAllowed, "invalid_request_error", "method_not_allowed",
				fmt.Sprintf("%s %s: use POST", r.Method, path)})
		} else if path == "/v1/messages" {
			s.relay(w, r, rid, messagesEntrance{})
		} else {
			s.countTokens(w, r, rid)
		}
	case path == "/v1/models" && r.Method == http.MethodGet && anthropicClient:
		s.anthropicModels(w, r, rid, "")
	case strings.HasPrefix(path, "/v1/models/") && r.Method == http.MethodGet && anthropicClient:
		s.anthropicModels(w, r, rid, strings.TrimPrefix(path, "/v1/models/"))
	case path == "/v1/models" && r.Method == http.MethodGet:
		s.listModels(w, r, rid)
	case strings.HasPrefix(path, "/v1/models/") && r.Method == http.MethodGet:
		s.getModel(w, r, rid, strings.TrimPrefix(path, "/v1/models/"))
	case strings.HasPrefix(path, "/v1/engines/") && strings.HasSuffix(path, "/embeddings") && r.Method == http.MethodPost:
		// The old engines path of embeddings: the model comes from the body.
		model := strings.TrimSuffix(strings.TrimPrefix(path, "/v1/engines/"), "/embeddings")
		s.relay(w, r, rid, openAIEntrance{mode: adaptor.ModeEmbeddings, pathModel: model})
	case strings.HasPrefix(path, proxy.Prefix):
		s.oneAPIProxy(w, r, rid) // One API's Proxy channels: oneapi_proxy.go
	default:
		mode, ok := adaptor.ModeForPath(path)
		if !ok {
			writeError(w, rid, &apiError{http.StatusNotFound, "invalid_request_error", "unknown_url",
				fmt.Sprintf("Invalid URL (%s %s)", r.Method, path)})
			return
		}
		if r.Method != http.MethodPost {
			writeError(w, rid, &apiError{http.StatusMethodNotAllowed, "invalid_request_error", "method_not_allowed",
				fmt.Sprintf("%s %s: use POST", r.Method, path)})
			return
		}
		s.relay(w, r, rid, openAIEntrance{mode: mode})
	}
}

// geminiPath is the "{model}:{method}" of Gemini's
// /v1beta/models/{model}:{method} (or /v1/models/...), "" for other paths.
// Only Gemini's method names count: an OpenAI fine-tune's id has colons
// too (GET /v1/models/ft:gpt-4o-mini:org::id).
func geminiPath(path string) string {
	rest, ok := strings.CutPrefix(path, "/v1beta/models/")
	if !ok {
		if rest, ok = strings.CutPrefix(path, "/v1/models/"); !ok {
			return ""
		}
	}
	i := strings.LastIndexByte(rest, ':')
	if i <= 0 {
		return ""
	}
	switch rest[i+1:] {
	case "generateContent", "streamGenerateContent", "countTokens", "embedContent", "batchEmbedContents":
		return rest
	}
	return ""
}

// caller is an authenticated request's token and user.
type caller struct {
	token         *state.Token
	user          *state.User
	pinnedChannel int64 // sk-KEY-CHANNELID, admins only
}

// authenticate checks the key and everything about it that does not depend
// on the request body.
func (s *Server) authenticate(r *http.Request) (*caller, *apiError) {
	return s.authenticateKey(r, headerKey(r))
}

// authenticateKey checks an issued key, found where the entrance's clients
// send it.
func (s *Server) authenticateKey(r *http.Request, key string) (*caller, *apiError) {
	if as, ok := r.Context().Value(asTokenKey{}).(asToken); ok {
		return s.authenticateAs(r, as) // the console's playground (playground.go)
	}
	if key == "" {
		return nil, errMissingKey
	}
	key = strings.TrimPrefix(key, "sk-")
	var pinned int64
	if i := strings.LastIndexByte(key, '-'); i > 0 {
		id, err := strconv.ParseInt(key[i+1:], 10, 64)
		if err != nil || id <= 0 {
			return nil, errInvalidKey
		}
		key, pinned = key[:i], id
	}
	hash := sha256.Sum256([]byte(key))
	tok, err := s.state.Token(r.Context(), hash)
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, errInvalidKey
		}
		s.log.Error("token lookup", "err", err)
		return nil, errInternal
	}
	return s.admit(r, tok, pinned)
}

// admit checks everything about a token and its user that does not depend
// on the request body.
func (s *Server) admit(r *http.Request, tok *state.Token, pinned int64) (*caller, *apiError) {
	if tok.Status != state.StatusEnabled {
		return nil, errTokenDisabled
	}
	if tok.ExpiresAt != nil && time.Now().After(*tok.ExpiresAt) {
		return nil, errTokenExpired
	}
	user, err := s.state.User(r.Context(), tok.UserID)
	if err != nil || user.Status != state.StatusEnabled {
		return nil, errUserDisabled
	}
	if tok.Subnets != nil && !s.ipAllowed(r, tok.Subnets) {
		return nil, errIPNotAllowed
	}
	if pinned != 0 && user.Role < state.RoleAdmin {
		return nil, errPinNotAllowed
	}
	return &caller{token: tok, user: user, pinnedChannel: pinned}, nil
}

func (s *Server) ipAllowed(r *http.Request, subnets []netip.Prefix) bool {
	ip := ClientIP(r, s.cfg.TrustedProxies)
	if !ip.IsValid() {
		return false
	}
	for _, p := range subnets {
		if p.IsValid() && p.Contains(ip) {
			return true
		}
	}
	return false
}

// ClientIP is the socket peer, or, when the peer is a trusted proxy, the
// nearest X-Forwarded-For address that is not itself a trusted proxy.
func ClientIP(r *http.Request, trusted []netip.Prefix) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	ip := ap.Addr().Unmap()
	if len(trusted) == 0 || !inPrefixes(ip, trusted) {
		return ip
	}
	xff := strings.Join(r.Header.Values("X-Forwarded-For"), ",")
	parts := strings.Split(xff, ",")
	for i := len(parts) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(parts[i]))
		if err != nil {
			return ip // a malformed hop: trust nothing before it
		}
		a = a.Unmap()
		if !inPrefixes(a, trusted) {
			return a
		}
		ip = a
	}
	return ip
}

func inPrefixes(a netip.Addr, ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// modelAllowed applies the token's model allowlist.
func (c *caller) modelAllowed(model string) bool {
	return c.token.Models == nil || c.token.Models[model]
}

func (s *Server) listModels(w http.ResponseWriter, r *http.Request, rid string) {
	c, aerr := s.authenticate(r)
	if aerr != nil {
		writeError(w, rid, aerr)
		return
	}
	routes := s.state.Routes()
	list := modelList{Object: "list", Data: []modelEntry{}}
	for _, m := range routes.Models(c.user.Group) {
		if c.modelAllowed(m) {
			list.Data = append(list.Data, newModelEntry(m))
		}
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) getModel(w http.ResponseWriter, r *http.Request, rid, id string) {
	c, aerr := s.authenticate(r)
	if aerr != nil {
		writeError(w, rid, aerr)
		return
	}
	if !c.modelAllowed(id) || !s.state.Routes().Serves(c.user.Group, id) {
		writeError(w, rid, modelNotFound(id))
		return
	}
	writeJSON(w, http.StatusOK, newModelEntry(id))
}

type modelEntry struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

type modelList struct {
	Object string       `json:"object"`
	Data   []modelEntry `json:"data"`
}

// startTime stands in for a model's creation time, which upstreams don't share.
var startTime = time.Now().Unix()

func newModelEntry(id string) modelEntry {
	return modelEntry{ID: id, Object: "model", Created: startTime, OwnedBy: ownerOf(id)}
}

func ownerOf(model string) string {
	switch {
	case strings.HasPrefix(model, "claude"):
		return "anthropic"
	case strings.HasPrefix(model, "gemini"), strings.HasPrefix(model, "text-embedding-004"):
		return "google"
	case strings.HasPrefix(model, "deepseek"):
		return "deepseek"
	case strings.HasPrefix(model, "qwen"):
		return "alibaba"
	case strings.HasPrefix(model, "glm"):
		return "zhipu"
	}
	return "openai"
}

// withTimeout applies the relay timeout, if any.
func (s *Server) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.cfg.Timeout > 0 {
		return context.WithTimeout(ctx, s.cfg.Timeout)
	}
	return context.WithCancel(ctx)
}
