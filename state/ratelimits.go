package state

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Limits are rate limits; 0 is none.
type Limits struct {
	RPM         int64 `json:"rpm,omitempty"`             // requests per rolling minute
	RPD         int64 `json:"rpd,omitempty"`             // requests per rolling day
	TPM         int64 `json:"tpm,omitempty"`             // tokens (prompt + completion) per rolling minute
	Concurrency int64 `json:"max_concurrency,omitempty"` // requests in flight
}

// Zero reports whether no limit is set.
func (l Limits) Zero() bool { return l == Limits{} }

// orDefault fills each limit that is 0 from d.
func (l Limits) orDefault(d Limits) Limits {
	pick := func(a, b int64) int64 {
		if a != 0 {
			return a
		}
		return b
	}
	return Limits{pick(l.RPM, d.RPM), pick(l.RPD, d.RPD), pick(l.TPM, d.TPM), pick(l.Concurrency, d.Concurrency)}
}

// RateLimits are a token's, a user's or a group's limits: on every request,
// and per model besides.
type RateLimits struct {
	Limits
	Models map[string]Limits `json:"models,omitempty"`
}

// Zero reports whether no limit at all is set.
func (r RateLimits) Zero() bool { return r.Limits.Zero() && len(r.Models) == 0 }

// Model is the limits set for one model (all 0 when none).
func (r RateLimits) Model(model string) Limits { return r.Models[model] }

// ParseModelLimits parses a model_limits column: JSON of model name to
// limits, "" for none.
func ParseModelLimits(s string) (map[string]Limits, error) {
	if s == "" {
		return nil, nil
	}
	var m map[string]Limits
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, errors.New(`want a JSON object of model name to limits, e.g. {"gpt-4o": {"rpm": 10, "tpm": 20000}}`)
	}
	for name, l := range m {
		if err := l.Validate(); err != nil {
			return nil, fmt.Errorf("limits of %q: %w", name, err)
		}
	}
	if len(m) == 0 {
		return nil, nil
	}
	return m, nil
}

// Validate refuses negative limits.
func (l Limits) Validate() error {
	if l.RPM < 0 || l.RPD < 0 || l.TPM < 0 || l.Concurrency < 0 {
		return errors.New("limits must be 0 (none) or more")
	}
	return nil
}

// UserLimits is what limits u: its own, each one it leaves at 0 taken from
// its group's defaults (the GroupRateLimits option).
func (o *Options) UserLimits(u *User) RateLimits {
	g, ok := o.GroupRateLimits[u.Group]
	if !ok {
		return u.Limits
	}
	out := RateLimits{Limits: u.Limits.Limits.orDefault(g.Limits)}
	if len(u.Limits.Models)+len(g.Models) > 0 {
		out.Models = make(map[string]Limits, len(u.Limits.Models)+len(g.Models))
		for m, l := range g.Models {
			out.Models[m] = l
		}
		for m, l := range u.Limits.Models {
			out.Models[m] = l.orDefault(g.Models[m])
		}
	}
	return out
}

// groupRateLimits validates the GroupRateLimits option: JSON of group name
// to limits, e.g. {"default": {"rpm": 60, "models": {"gpt-4o": {"rpm": 10}}}}.
func groupRateLimits(v string) error {
	var m map[string]RateLimits
	if err := json.Unmarshal([]byte(v), &m); err != nil || m == nil {
		return errors.New(`want a JSON object of group name to limits, e.g. {"default": {"rpm": 60, "tpm": 100000, "rpd": 0, "max_concurrency": 4, "models": {"gpt-4o": {"rpm": 10}}}}`)
	}
	for g, l := range m {
		if err := l.Validate(); err != nil {
			return fmt.Errorf("group %q: %w", g, err)
		}
		for name, ml := range l.Models {
			if err := ml.Validate(); err != nil {
				return fmt.Errorf("group %q, model %q: %w", g, name, err)
			}
		}
	}
	return nil
}

func init() {
	RegisterOption("GroupRateLimits", OptionSpec{"{}", groupRateLimits})
}

// rowLimits reads a token's or user's limit columns (model_limits was
// validated when it was saved).
func rowLimits(rpm, rpd, tpm, conc int64, models string) RateLimits {
	m, _ := ParseModelLimits(models)
	return RateLimits{Limits: Limits{RPM: rpm, RPD: rpd, TPM: tpm, Concurrency: conc}, Models: m}
}
