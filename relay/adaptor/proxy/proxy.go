// Package proxy holds what the relay needs for One API's Proxy channels
// (type 43): /v1/oneapi/proxy/{channel}/{path} forwards a request as it is
// to {channel base URL}/{path}, with the channel key as its Authorization
// header (sent as it is stored, as One API does: store "Bearer sk-..."
// for a bearer token). The relay serves that route (relay/oneapi_proxy.go);
// this package builds the upstream URL, which never leaves the base URL's
// host, and filters the headers both ways.
//
// The registered adaptor refuses the OpenAI endpoints: a Proxy channel
// has no format to convert, so it serves only its own route. Importing
// the package registers it for adaptor.TypeProxy, so such channels can be
// created and imported.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"

	"oneapi/relay/adaptor"
)

func init() {
	adaptor.Register(Adaptor{}, adaptor.TypeProxy)
}

// Prefix is the route's prefix; the channel id follows it.
const Prefix = "/v1/oneapi/proxy/"

// Target is the upstream URL for rest (the path after the channel id, as
// the client sent it, escaped) and rawQuery on ch: the base URL's scheme
// and host always, its path followed by rest. Dot segments are resolved
// within rest, so "../" cannot climb above the base path, and the host
// cannot change whatever rest holds.
func Target(ch *adaptor.Channel, rest, rawQuery string) (*url.URL, error) {
	base, err := url.Parse(strings.TrimSpace(ch.BaseURL))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, errors.New("the Proxy channel's base URL is not an http(s) URL")
	}
	decoded, err := url.PathUnescape(rest)
	if err != nil {
		return nil, fmt.Errorf("the path is not valid: %w", err)
	}
	cleanRaw := path.Clean("/" + rest)
	clean := path.Clean("/" + decoded)
	if strings.HasSuffix(rest, "/") && clean != "/" {
		clean, cleanRaw = clean+"/", cleanRaw+"/"
	}
	u := &url.URL{Scheme: base.Scheme, Host: base.Host}
	basePath := strings.TrimRight(base.Path, "/")
	u.Path = basePath + clean
	if cleanRaw != clean {
		// Keep the client's escaping (%2F stays %2F) when it is a valid
		// encoding of the path.
		u.RawPath = strings.TrimRight(base.EscapedPath(), "/") + cleanRaw
	}
	u.RawQuery = rawQuery
	if u.Host != base.Host || u.Scheme != base.Scheme {
		return nil, errors.New("the proxied URL left the channel's host") // cannot happen; kept as the invariant
	}
	return u, nil
}

// hopHeaders are connection-level headers, never forwarded (RFC 9110
// section 7.6.1), with what the gateway sets itself.
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Host", "Content-Length"}

// RequestHeader is what goes upstream of the client's header: all of it
// but the connection headers, the client's gateway key (Authorization),
// its cookies (the console's session) and Accept-Encoding (the transport
// negotiates compression and hands back plain bytes); then the channel key
// as Authorization.
func RequestHeader(client http.Header, key string) http.Header {
	h := client.Clone()
	for _, k := range hopHeaders {
		h.Del(k)
	}
	for _, k := range strings.Split(client.Get("Connection"), ",") {
		if k = strings.TrimSpace(k); k != "" {
			h.Del(k)
		}
	}
	h.Del("Authorization")
	h.Del("Cookie")
	h.Del("Accept-Encoding")
	h.Del("Content-Encoding") // the gateway inflated the body when it read it
	h.Del("Content-Length")
	if key != "" {
		h.Set("Authorization", key)
	}
	return h
}

// CopyResponseHeader copies the upstream reply's header to the client's,
// without connection headers and without Set-Cookie: upstream cookies
// would land on the gateway's own domain.
func CopyResponseHeader(dst, src http.Header) {
	skip := map[string]bool{"Set-Cookie": true}
	for _, k := range hopHeaders {
		skip[k] = true
	}
	for k, vs := range src {
		if skip[http.CanonicalHeaderKey(k)] {
			continue
		}
		for _, v := range vs {
			dst.Add(k, v)
		}
	}
}

// Adaptor refuses the OpenAI endpoints for Proxy channels.
type Adaptor struct{}

var _ adaptor.Adaptor = Adaptor{}

// errOwnRoute is what a Proxy channel says when routed an OpenAI request:
// a plain error, so the relay tries another channel.
var errOwnRoute = errors.New("Proxy channels serve only " + Prefix + "{channel}/..., not the OpenAI endpoints")

// NewRequest refuses.
func (Adaptor) NewRequest(context.Context, *adaptor.Channel, *adaptor.Request) (*http.Request, error) {
	return nil, errOwnRoute
}

// DecodeResponse is never called (NewRequest refuses).
func (Adaptor) DecodeResponse(*adaptor.Request, *http.Response) ([]byte, adaptor.Usage, error) {
	return nil, adaptor.Usage{}, errOwnRoute
}

// DecodeStream is never called (NewRequest refuses).
func (Adaptor) DecodeStream(*adaptor.Request, *http.Response, func(adaptor.Event) error) (adaptor.Usage, error) {
	return adaptor.Usage{}, errOwnRoute
}

// DecodeError is never called (NewRequest refuses).
func (Adaptor) DecodeError(resp *http.Response) *adaptor.UpstreamError {
	_ = resp.Body.Close()
	return &adaptor.UpstreamError{Status: http.StatusBadGateway, Message: errOwnRoute.Error(), Class: adaptor.ClassRetry}
}
