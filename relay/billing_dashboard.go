package relay

import (
	"net/http"

	"oneapi/queries"
)

// One API's old OpenAI billing endpoints, which chat front-ends (NextChat,
// Lobe and others) call with the user's key to show a balance:
// GET /dashboard/billing/subscription and /dashboard/billing/usage, also
// under /v1. Amounts are in USD at the QuotaPerUnit option. A token with
// its own quota shows its own; an unlimited one shows its owner's account.

type billingSubscription struct {
	Object             string  `json:"object"`
	HasPaymentMethod   bool    `json:"has_payment_method"`
	SoftLimitUSD       float64 `json:"soft_limit_usd"`
	HardLimitUSD       float64 `json:"hard_limit_usd"`
	SystemHardLimitUSD float64 `json:"system_hard_limit_usd"`
	AccessUntil        int64   `json:"access_until"`
}

// isBillingPath reports whether path is one of the billing endpoints.
func isBillingPath(path string) (usage, ok bool) {
	switch path {
	case "/dashboard/billing/subscription", "/v1/dashboard/billing/subscription":
		return false, true
	case "/dashboard/billing/usage", "/v1/dashboard/billing/usage":
		return true, true
	}
	return false, false
}

// billing answers both endpoints from the database (not the cache: a
// balance must be current). Quota held by this node's leases is not yet
// in the rows, so a balance may show slightly less than is left.
func (s *Server) billing(w http.ResponseWriter, r *http.Request, rid string, usage bool) {
	if r.Method != http.MethodGet {
		writeError(w, rid, &apiError{http.StatusMethodNotAllowed, "invalid_request_error", "method_not_allowed", r.Method + " " + r.URL.Path + ": use GET"})
		return
	}
	c, aerr := s.authenticate(r)
	if aerr != nil {
		writeError(w, rid, aerr)
		return
	}
	q := queries.New(s.meter.pool)
	tok, err := q.TokenGetByID(r.Context(), c.token.ID)
	if err != nil {
		s.log.Error("billing: token", "request_id", rid, "err", err)
		writeError(w, rid, errInternal)
		return
	}
	remain, used := tok.RemainQuota, tok.UsedQuota
	if tok.UnlimitedQuota {
		u, err := q.UserGetByID(r.Context(), c.user.ID)
		if err != nil {
			s.log.Error("billing: user", "request_id", rid, "err", err)
			writeError(w, rid, errInternal)
			return
		}
		remain, used = u.Quota, u.UsedQuota
	}
	perUnit := s.state.Options().QuotaPerUnit
	if perUnit <= 0 {
		perUnit = 500_000
	}
	usd := func(q int64) float64 { return float64(q) / perUnit }
	if usage {
		// total_usage is in cents, as OpenAI's was.
		writeJSON(w, http.StatusOK, map[string]any{"object": "list", "total_usage": usd(used) * 100})
		return
	}
	limit := usd(remain + used)
	var until int64
	if tok.ExpiresAt != nil {
		until = tok.ExpiresAt.Unix()
	}
	writeJSON(w, http.StatusOK, billingSubscription{Object: "billing_subscription", HasPaymentMethod: true,
		SoftLimitUSD: limit, HardLimitUSD: limit, SystemHardLimitUSD: limit, AccessUntil: until})
}
