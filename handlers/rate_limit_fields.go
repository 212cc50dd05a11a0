package handlers

import (
	"context"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"oneapi/queries"
	"oneapi/state"
	"oneapi/views"
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

// limitsView is how the forms show stored limits.
func limitsView(l limitFields) views.LimitsInputView {
	n := func(v int64) string { return strconv.FormatInt(v, 10) }
	return views.LimitsInputView{RPM: n(l.RPMLimit), RPD: n(l.RPDLimit), TPM: n(l.TPMLimit), Concurrency: n(l.MaxConcurrency),
		ModelLimits: l.ModelLimits}
}

// limitFormInput reads the forms' rate-limit fields; an empty one is 0.
func limitFormInput(c echo.Context, errs map[string]string) (limitInput, views.LimitsInputView) {
	view := views.LimitsInputView{RPM: c.FormValue("rpm_limit"), RPD: c.FormValue("rpd_limit"), TPM: c.FormValue("tpm_limit"),
		Concurrency: c.FormValue("max_concurrency"), ModelLimits: strings.TrimSpace(c.FormValue("model_limits"))}
	var in limitInput
	for _, f := range []struct {
		name string
		dst  **int64
	}{{"rpm_limit", &in.RPMLimit}, {"rpd_limit", &in.RPDLimit}, {"tpm_limit", &in.TPMLimit}, {"max_concurrency", &in.MaxConcurrency}} {
		if v, ok := formInt(c, f.name); ok {
			*f.dst = &v
		} else {
			errs[f.name] = "Enter a whole number."
		}
	}
	in.ModelLimits = &view.ModelLimits
	return in, view
}
