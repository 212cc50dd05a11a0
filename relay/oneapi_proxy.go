package relay

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"oneapi/pricing"
	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/proxy"
	"oneapi/state"
)

// proxyModel is what a proxied call is priced and logged as: set a
// ModelRatio for "proxy" (or "proxy(43)"); ratio r bills r × 1000 quota a
// call, One API's per-call rule.
const proxyModel = "proxy"

// oneAPIProxy serves One API's /v1/oneapi/proxy/{channel}/{path}: any
// method, forwarded as it is to the Proxy channel's base URL (never to
// another host), the reply passed back as it comes. Only admins' tokens
// may use it; each call the upstream answers with a 2xx or 3xx is billed
// per call, the others are refunded.
func (s *Server) oneAPIProxy(w http.ResponseWriter, r *http.Request, rid string) {
	start := time.Now()
	ctx, cancel := s.withTimeout(r.Context())
	defer cancel()

	idText, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.EscapedPath(), proxy.Prefix), "/")
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil || id <= 0 {
		writeError(w, rid, &apiError{http.StatusNotFound, "invalid_request_error", "unknown_url",
			fmt.Sprintf("Invalid URL (%s %s): use %s{channel id}/{path}", r.Method, r.URL.Path, proxy.Prefix)})
		return
	}
	c, aerr := s.authenticate(r)
	if aerr != nil {
		writeError(w, rid, aerr)
		return
	}
	if c.user.Role < state.RoleAdmin {
		writeError(w, rid, &apiError{http.StatusForbidden, "invalid_request_error", "proxy_not_allowed", "Only administrators' keys may use the proxy route."})
		return
	}
	if !c.modelAllowed(proxyModel) {
		writeError(w, rid, modelNotAllowed(proxyModel))
		return
	}
	ch := s.state.Routes().Channel(id)
	if ch == nil || ch.Type != adaptor.TypeProxy || ch.Status != state.StatusEnabled {
		writeError(w, rid, &apiError{http.StatusNotFound, "invalid_request_error", "channel_not_found",
			fmt.Sprintf("Channel %d is not an enabled Proxy channel.", id)})
		return
	}
	target, err := proxy.Target(&ch.Channel, rest, r.URL.RawQuery)
	if err != nil {
		writeError(w, rid, &apiError{http.StatusBadRequest, "invalid_request_error", "invalid_proxy_path", err.Error()})
		return
	}
	body, aerr := s.readBody(w, r)
	if aerr != nil {
		writeError(w, rid, aerr)
		return
	}

	opts := s.state.Options()
	price, priced := opts.Price(proxyModel, c.user.Group, ch.Type)
	if !priced && opts.RefuseUnpricedModels {
		writeError(w, rid, &apiError{http.StatusForbidden, "invalid_request_error", "model_price_not_set",
			"Proxied calls have no price set (model `proxy`); ask the administrator to set one."})
		return
	}
	quota := pricing.PerCall(price, 1)
	ticket, err := s.meter.Reserve(ctx, Reservation{UserID: c.user.ID, TokenID: c.token.ID, ChannelID: ch.ID, Model: proxyModel,
		Quota: quota, MinQuota: quota, RequestID: rid, Leasable: opts.QuotaLeases})
	switch {
	case errors.Is(err, ErrTokenQuota):
		writeError(w, rid, errTokenQuota)
		return
	case errors.Is(err, ErrUserQuota):
		writeError(w, rid, errUserQuota)
		return
	case err != nil:
		s.log.Error("reserve", "request_id", rid, "err", err)
		writeError(w, rid, errInternal)
		return
	}
	settle := Settlement{Ticket: ticket, Reserved: ticket.Granted, UserID: c.user.ID, Username: c.user.Username,
		TokenID: c.token.ID, TokenName: c.token.Name, ChannelID: ch.ID, Model: proxyModel, UpstreamModel: proxyModel, RequestID: rid,
		Content: "proxy " + r.Method + " " + target.Path}
	defer func() {
		settle.Elapsed = time.Since(start)
		s.meter.Settle(settle)
	}()
	if !priced {
		settle.Content += fmt.Sprintf("; no price set: billed at the default ratio %g", price.Model)
	}

	var reqBody io.Reader
	if len(body) > 0 {
		reqBody = bytes.NewReader(body)
	}
	up, err := http.NewRequestWithContext(ctx, r.Method, target.String(), reqBody)
	if err != nil {
		writeError(w, rid, &apiError{http.StatusBadRequest, "invalid_request_error", "invalid_proxy_request", "The request cannot be forwarded."})
		return
	}
	up.Header = proxy.RequestHeader(r.Header, ch.Key)
	resp, err := s.client.Do(up)
	if err != nil {
		ue := adaptor.TransportError(err)
		s.log.Warn("proxy failed", "request_id", rid, "channel", ch.ID, "err", adaptor.Redact(err.Error(), ch.Key))
		writeError(w, rid, fromUpstream(ue))
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode < 400 {
		settle.Served, settle.Quota = true, ticket.Granted
	}
	proxy.CopyResponseHeader(w.Header(), resp.Header)
	w.WriteHeader(resp.StatusCode)
	// Flush as bytes arrive: a proxied stream stays a stream.
	rc := http.NewResponseController(w)
	buf := make([]byte, 32<<10)
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				break
			}
			_ = rc.Flush()
		}
		if rerr != nil {
			break
		}
	}
}
