package handlers

import (
	"context"

	"oneapi/queries"
	"oneapi/state"
)

// limitFields are a token's or user's rate limits in the JSON API (One
// API's shapes, extended): 0 is none; model_limits is JSON of model name
// to limits, e.g. {"gpt-4o": {"rpm": 10, "tpm": 20000}}. The relay applies
// them across the cluster (relay/ratelimit.go).
type limitFields struct {
	RPMLimit       int64  `json:"rpm_limit"`
	RPDLimit       int64  `json:"rpd_limit"`
	TPMLimit       int64  `json:"tpm_limit"`
	MaxConcurrency int64  `json:"max_concurrency"`
	ModelLimits    string `json:"model_limits"`
}

// limitInput is limitFields as submitted: a field not given keeps its value.
type limitInput struct {
	RPMLimit       *int64  `json:"rpm_limit"`
	RPDLimit       *int64  `json:"rpd_limit"`
	TPMLimit       *int64  `json:"tpm_limit"`
	MaxConcurrency *int64  `json:"max_concurrency"`
	ModelLimits    *string `json:"model_limits"`
}

func tokenLimitFields(r queries.Token) limitFields {
	return limitFields{r.RpmLimit, r.RpdLimit, r.TpmLimit, r.MaxConcurrency, r.ModelLimits}
}

func userLimitFields(u queries.User) limitFields {
	return limitFields{u.RpmLimit, u.RpdLimit, u.TpmLimit, u.MaxConcurrency, u.ModelLimits}
}

// over is cur with what in gives, validated: the field name and message of
// the first bad one.
func (in limitInput) over(cur limitFields) (limitFields, string, string) {
	out := cur
	for _, f := range []struct {
		name string
		src  *int64
		dst  *int64
	}{{"rpm_limit", in.RPMLimit, &out.RPMLimit}, {"rpd_limit", in.RPDLimit, &out.RPDLimit},
		{"tpm_limit", in.TPMLimit, &out.TPMLimit}, {"max_concurrency", in.MaxConcurrency, &out.MaxConcurrency}} {
		if f.src == nil {
			continue
		}
		if *f.src < 0 {
			return cur, f.name, f.name + " must be 0 (no limit) or more"
		}
		*f.dst = *f.src
	}
	if in.ModelLimits != nil {
		if _, err := state.ParseModelLimits(*in.ModelLimits); err != nil {
			return cur, "model_limits", "model_limits: " + err.Error()
		}
		out.ModelLimits = *in.ModelLimits
	}
	return out, "", ""
}

func setTokenLimits(ctx context.Context, q *queries.Queries, id int64, l limitFields) (queries.Token, error) {
	return q.TokenSetLimits(ctx, queries.TokenSetLimitsParams{ID: id, RpmLimit: l.RPMLimit, RpdLimit: l.RPDLimit,
		TpmLimit: l.TPMLimit, MaxConcurrency: l.MaxConcurrency, ModelLimits: l.ModelLimits})
}

func setUserLimits(ctx context.Context, q *queries.Queries, id int64, l limitFields) (queries.User, error) {
	return q.UserSetLimits(ctx, queries.UserSetLimitsParams{ID: id, RpmLimit: l.RPMLimit, RpdLimit: l.RPDLimit,
		TpmLimit: l.TPMLimit, MaxConcurrency: l.MaxConcurrency, ModelLimits: l.ModelLimits})
}
