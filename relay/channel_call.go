package relay

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/outbound"
	"oneapi/state"
)

// send makes one call to a channel: the key in rotation, the channel's
// client (its proxy, timeout and extra headers), the adaptor's Prepare, the
// request and, for a non-2xx reply, the adaptor's error. It returns a 2xx
// response, or the failure, with transport set when it is a transport error
// (no reply, or a reply cut off), as against an error reply or a request
// the adaptor refused to build.
func send(ctx context.Context, base *http.Client, ch *state.Channel, a adaptor.Adaptor, areq *adaptor.Request) (resp *http.Response, ue *adaptor.UpstreamError, transport bool) {
	client := channelClient(base, ch)
	ue = eachKey(ctx, ch, func(cc *adaptor.Channel) *adaptor.UpstreamError {
		resp, ue, transport = sendOnce(ctx, client, cc, a, areq)
		return ue
	})
	return resp, ue, transport
}

// eachKey runs call with the channel and its key: the next in rotation on a
// multi-key channel. There a key the upstream refuses (an error of class
// ClassDisable) is disabled alone when AutomaticDisableChannelEnabled is
// on, and call runs again with the next key; only when no key is left does
// the failure keep its class, so that the caller disables the channel.
func eachKey(ctx context.Context, ch *state.Channel, call func(*adaptor.Channel) *adaptor.UpstreamError) *adaptor.UpstreamError {
	if ch.Keys == nil {
		cc := ch.Channel
		return call(&cc)
	}
	tried := map[string]bool{}
	for try := 0; ; try++ {
		cc := ch.Channel
		// ch.Keys is the ring as it was when the request was routed: skip
		// the keys this call disabled already, whatever other requests did
		// to the rotation meanwhile.
		cc.Key = ch.Keys.Next()
		for i := 0; i < ch.Keys.Len() && tried[cc.Key]; i++ {
			cc.Key = ch.Keys.Next()
		}
		if cc.Key == "" || tried[cc.Key] {
			return &adaptor.UpstreamError{Status: http.StatusBadGateway, Type: "upstream_error", Code: "no_usable_key",
				Message: "every key of the channel is disabled", Class: adaptor.ClassRetry}
		}
		tried[cc.Key] = true
		ue := call(&cc)
		if ue == nil || ue.Class != adaptor.ClassDisable || !ch.Keys.AutoDisable() {
			return ue
		}
		// This key is dead; the channel may have others. (Disabling the
		// last one disables the channel.)
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), keyDisableTimeout)
		whole, err := ch.Keys.Disable(dctx, cc.Key, ue.Message)
		cancel()
		if err != nil || whole || try+1 >= ch.Keys.Len() || ctx.Err() != nil {
			return ue
		}
	}
}

func sendOnce(ctx context.Context, client *http.Client, ch *adaptor.Channel, a adaptor.Adaptor, areq *adaptor.Request) (*http.Response, *adaptor.UpstreamError, bool) {
	asUpstream := func(err error) *adaptor.UpstreamError {
		// An adaptor says what kind of failure it is (a request its
		// provider cannot take is the client's); anything else is this
		// channel's, and another may do.
		var ue *adaptor.UpstreamError
		if !errors.As(err, &ue) {
			ue = &adaptor.UpstreamError{Status: http.StatusBadGateway, Message: err.Error(), Class: adaptor.ClassRetry}
		}
		ue.Message = adaptor.Redact(ue.Message, ch.Key)
		return ue
	}
	if p, ok := a.(adaptor.Preparer); ok {
		if err := p.Prepare(ctx, client, ch, areq); err != nil {
			return nil, asUpstream(err), false
		}
	}
	// Adaptors that fetch tokens or poll tasks do it with this client.
	hreq, err := a.NewRequest(outbound.WithClient(ctx, client), ch, areq)
	if err != nil {
		return nil, asUpstream(err), false
	}
	resp, err := client.Do(hreq)
	if err != nil {
		ue := adaptor.TransportError(err)
		ue.Message = adaptor.Redact(ue.Message, ch.Key)
		return nil, ue, true
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, a.DecodeError(resp), false
	}
	return resp, nil, false
}

// keyDisableTimeout bounds the database write that disables one key.
const keyDisableTimeout = 5 * time.Second

// channelClients holds the clients of channels with their own proxy,
// timeout or headers, by the base client and channel. An entry is replaced
// when the channel's options change.
var channelClients sync.Map // clientKey -> *channelClientEntry

type clientKey struct {
	base *http.Client
	id   int64
}

type channelClientEntry struct {
	opts   *state.ChannelOptions // the options it was made for (compared by value of the fields)
	client *http.Client
}

// channelClient returns the client for ch: base itself when the channel
// sets no proxy, timeout or headers; else base's transport cloned with the
// proxy and the timeout as its response-header timeout, wrapped to add the
// headers, refusing redirects as base does.
func channelClient(base *http.Client, ch *state.Channel) *http.Client {
	o := &ch.Options
	if o.Proxy == nil && o.Timeout == 0 && len(o.Headers) == 0 {
		return base
	}
	k := clientKey{base, ch.ID}
	if e, ok := channelClients.Load(k); ok {
		if e := e.(*channelClientEntry); sameOptions(e.opts, o) {
			return e.client
		}
	}
	var rt http.RoundTripper = base.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	if t, ok := rt.(*http.Transport); ok && (o.Proxy != nil || o.Timeout > 0) {
		t = t.Clone()
		if o.Proxy != nil {
			t.Proxy = http.ProxyURL(o.Proxy)
		}
		if o.Timeout > 0 {
			t.ResponseHeaderTimeout = o.Timeout
		}
		rt = t
	}
	if len(o.Headers) > 0 {
		rt = headerTransport{next: rt, headers: o.Headers}
	}
	c := &http.Client{Transport: rt, CheckRedirect: base.CheckRedirect, Jar: base.Jar, Timeout: base.Timeout}
	if old, ok := channelClients.Load(k); ok {
		if t, ok := old.(*channelClientEntry).client.Transport.(*http.Transport); ok && t != base.Transport {
			t.CloseIdleConnections()
		}
	}
	cp := *o
	channelClients.Store(k, &channelClientEntry{opts: &cp, client: c})
	return c
}

func sameOptions(a, b *state.ChannelOptions) bool {
	if a.Timeout != b.Timeout || (a.Proxy == nil) != (b.Proxy == nil) || (a.Proxy != nil && a.Proxy.String() != b.Proxy.String()) ||
		len(a.Headers) != len(b.Headers) {
		return false
	}
	for k, v := range a.Headers {
		w := b.Headers[k]
		if len(v) != len(w) {
			return false
		}
		for i := range v {
			if v[i] != w[i] {
				return false
			}
		}
	}
	return true
}

// headerTransport adds a channel's extra headers to each request; they
// replace what the adaptor set under the same name.
type headerTransport struct {
	next    http.RoundTripper
	headers http.Header
}

func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r2 := r.Clone(r.Context())
	for k, v := range h.headers {
		r2.Header[k] = v
	}
	return h.next.RoundTrip(r2)
}

// channelSecrets are what must never appear in a message about ch: its key
// field and, for a multi-key channel, each key.
func channelSecrets(ch *state.Channel) []string {
	if ch.Keys == nil {
		return []string{ch.Key}
	}
	return append(state.SplitKeys(ch.Key), ch.Key)
}

// ListModels asks ch's upstream which models it serves (the adaptor's
// adaptor.ModelLister), through the channel's client, with one of its
// keys. The error never contains a key.
func ListModels(ctx context.Context, client *http.Client, ch *state.Channel) ([]string, error) {
	lister, ok := adaptor.For(ch.Type).(adaptor.ModelLister)
	if !ok {
		name := fmt.Sprint(ch.Type)
		if t, ok := adaptor.TypeByID(ch.Type); ok {
			name = t.Name
		}
		return nil, fmt.Errorf("%s channels cannot list their models: enter them", name)
	}
	cc := ch.Channel
	if ch.Keys != nil {
		cc.Key = ch.Keys.Next()
	}
	models, err := lister.ListModels(ctx, channelClient(client, ch), &cc)
	if err != nil {
		return nil, probeError(err, channelSecrets(ch)...)
	}
	return models, nil
}
