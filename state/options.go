package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"oneapi/pricing"
)

// Options are the runtime settings the relay reads, parsed from the options
// table (One API's keys) over the defaults.
type Options struct {
	ModelRatio      map[string]float64
	CompletionRatio map[string]float64
	GroupRatio      map[string]float64
	// Ratios of the parts of a request priced apart, relative to the
	// model's input price (pricing.Price): a model missing from one of
	// these tables pays the input price for that part.
	CacheRatio, CacheWriteRatio      map[string]float64
	AudioRatio, AudioCompletionRatio map[string]float64
	ImageRatio, ImageCompletionRatio map[string]float64
	WebSearchCallQuota               float64
	// MaxOutputTokens holds models' maximum output tokens where the
	// operator knows better than the price table.
	MaxOutputTokens      map[string]int
	RetryTimes           int
	AutoDisableChannel   bool
	AutoEnableChannel    bool
	QuotaPerUnit         float64
	DisplayInCurrency    bool
	UnpricedModelRatio   float64
	RefuseUnpricedModels bool
	// QuotaLeases lets a busy token reserve from a block of its quota held
	// in memory (relay/lease.go) instead of one database write per request.
	QuotaLeases bool
	// PreConsumedCompletions is the output a request is reserved for, and
	// limited to, when neither the client nor the model's known maximum
	// output sets a bound.
	PreConsumedCompletions int
	// LogRetentionDays is how many days of consumption logs the retention
	// job keeps; 0 keeps them forever.
	LogRetentionDays int
	// ChannelDisableThreshold is One API's limit on a channel test's response
	// time: a test slower than this counts as failed and disables the channel
	// (when AutoDisableChannel is on). 0 = no limit.
	ChannelDisableThreshold time.Duration
	// GroupRateLimits are the rate limits of a group's users, where a user
	// sets none of its own (ratelimits.go).
	GroupRateLimits map[string]RateLimits

	raw map[string]string
	// typedPrices: some ratio table has a "model(type)" key, so Price looks
	// for one (otherwise it builds no key on the hot path).
	typedPrices bool
}

// Price returns the price of model in group, on a channel of channelType:
// a ratio set for "model(type)" (One API's per-channel-type key) wins over
// the model's own. priced is false when the model has no ratio and
// UnpricedModelRatio applies.
func (o *Options) Price(model, group string, channelType int) (p pricing.Price, priced bool) {
	// The "model(type)" key is built in a stack buffer: a map index with
	// string(bytes) does not allocate, and this runs on every request.
	var kb [96]byte
	var typed []byte
	if channelType > 0 && o.typedPrices {
		typed = append(append(append(kb[:0], model...), '('), strconv.Itoa(channelType)...)
		typed = append(typed, ')')
	}
	ratio := func(table map[string]float64, def float64) float64 {
		if typed != nil {
			if r, ok := table[string(typed)]; ok {
				return r
			}
		}
		if r, ok := table[model]; ok {
			return r
		}
		return def
	}
	p.Model = ratio(o.ModelRatio, -1)
	priced = p.Model >= 0
	if !priced {
		p.Model = o.UnpricedModelRatio
	}
	p.Completion = ratio(o.CompletionRatio, 1)
	p.CacheRead = ratio(o.CacheRatio, 1)
	p.CacheWrite = ratio(o.CacheWriteRatio, 1)
	p.AudioIn = ratio(o.AudioRatio, 1)
	p.AudioOut = ratio(o.AudioCompletionRatio, p.Completion)
	p.ImageIn = ratio(o.ImageRatio, 1)
	p.ImageOut = ratio(o.ImageCompletionRatio, p.Completion)
	p.WebSearch = o.WebSearchCallQuota
	p.Group = 1
	if g, ok := o.GroupRatio[group]; ok {
		p.Group = g
	}
	return p, priced
}

// MaxOutput is the most output tokens model can produce: the operator's
// MaxOutputTokens, else the price table's, else 0 (unknown).
func (o *Options) MaxOutput(model string) int {
	if n, ok := o.MaxOutputTokens[model]; ok {
		return n
	}
	return pricing.MaxOutput(model)
}

// ProbeTooSlow says why a channel test that answered after elapsed counts as
// failed under ChannelDisableThreshold, or "" when it does not (no threshold,
// or under it). The probe job and the console's test both judge through here.
func (o *Options) ProbeTooSlow(elapsed time.Duration) string {
	if o.ChannelDisableThreshold <= 0 || elapsed <= o.ChannelDisableThreshold {
		return ""
	}
	return fmt.Sprintf("response time %s is over the ChannelDisableThreshold of %s",
		readableDuration(elapsed), readableDuration(o.ChannelDisableThreshold))
}

// readableDuration rounds d to milliseconds, or to microseconds below one.
func readableDuration(d time.Duration) time.Duration {
	if d >= time.Millisecond {
		return d.Round(time.Millisecond)
	}
	return d.Round(time.Microsecond)
}

// Raw returns the effective value of every registered option.
func (o *Options) Raw() map[string]string { return o.raw }

// OptionSpec describes one setting: its default and how to check a new value.
type OptionSpec struct {
	Default  string
	Validate func(string) error
}

var (
	specsMu sync.RWMutex
	specs   = map[string]OptionSpec{}
)

// RegisterOption declares a setting stored in the options table. Packages that
// own settings (sign-in, mail...) register theirs at init.
func RegisterOption(key string, spec OptionSpec) {
	specsMu.Lock()
	defer specsMu.Unlock()
	specs[key] = spec
}

// OptionKeys lists the registered keys, sorted.
func OptionKeys() []string {
	specsMu.RLock()
	defer specsMu.RUnlock()
	keys := make([]string, 0, len(specs))
	for k := range specs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ValidateOption checks value for key; unknown keys are refused.
func ValidateOption(key, value string) error {
	specsMu.RLock()
	spec, ok := specs[key]
	specsMu.RUnlock()
	if !ok {
		return fmt.Errorf("unknown option %q", key)
	}
	if spec.Validate != nil {
		if err := spec.Validate(value); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
	}
	return nil
}

// IsSecretOption reports whether an option must never be returned by an API:
// any key naming a Secret (GitHubClientSecret, TurnstileSecretKey...) or
// ending in Token (SMTPToken), as One API's rule. "Tokens" in the middle or
// at the end counts words, not credentials: PreConsumedCompletionTokens is
// a number an admin must be able to read back.
func IsSecretOption(key string) bool {
	return strings.Contains(key, "Secret") || strings.HasSuffix(key, "Token")
}

func ratioTable(v string) error {
	var m map[string]float64
	if err := json.Unmarshal([]byte(v), &m); err != nil || m == nil { // "null" is no table
		return errors.New("want a JSON object of name to number")
	}
	for k, r := range m {
		if r < 0 || math.IsNaN(r) || math.IsInf(r, 0) {
			return fmt.Errorf("ratio of %q must be a number ≥ 0", k)
		}
	}
	return nil
}

// tokenTable accepts a JSON object of model name to a whole number of
// tokens, at least 1.
func tokenTable(v string) error {
	var m map[string]int
	if err := json.Unmarshal([]byte(v), &m); err != nil || m == nil {
		return errors.New("want a JSON object of model name to a whole number of tokens")
	}
	for k, n := range m {
		if n < 1 {
			return fmt.Errorf("the maximum output of %q must be at least 1", k)
		}
	}
	return nil
}

// ValidBool accepts One API's "true"/"false".
func ValidBool(v string) error {
	if v != "true" && v != "false" {
		return errors.New(`want "true" or "false"`)
	}
	return nil
}

// ValidInt returns a validator for whole numbers in [min, max].
func ValidInt(min, max int) func(string) error {
	return func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < min || n > max {
			return fmt.Errorf("want a whole number from %d to %d", min, max)
		}
		return nil
	}
}

func validPositiveFloat(v string) error {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || !(f > 0) || math.IsInf(f, 0) { // !(f > 0) refuses NaN too
		return errors.New("want a number > 0")
	}
	return nil
}

func validNonNegativeFloat(v string) error {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || !(f >= 0) || math.IsInf(f, 0) { // !(f >= 0) refuses NaN too
		return errors.New("want a number ≥ 0")
	}
	return nil
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func init() {
	RegisterOption("ModelRatio", OptionSpec{mustJSON(pricing.DefaultModelRatio), ratioTable})
	RegisterOption("CompletionRatio", OptionSpec{mustJSON(pricing.DefaultCompletionRatio), ratioTable})
	RegisterOption("GroupRatio", OptionSpec{mustJSON(pricing.DefaultGroupRatio), ratioTable})
	RegisterOption("CacheRatio", OptionSpec{mustJSON(pricing.DefaultCacheRatio), ratioTable})
	RegisterOption("CacheWriteRatio", OptionSpec{mustJSON(pricing.DefaultCacheWriteRatio), ratioTable})
	RegisterOption("AudioRatio", OptionSpec{mustJSON(pricing.DefaultAudioRatio), ratioTable})
	RegisterOption("AudioCompletionRatio", OptionSpec{mustJSON(pricing.DefaultAudioCompletionRatio), ratioTable})
	RegisterOption("ImageRatio", OptionSpec{mustJSON(pricing.DefaultImageRatio), ratioTable})
	RegisterOption("ImageCompletionRatio", OptionSpec{mustJSON(pricing.DefaultImageCompletionRatio), ratioTable})
	RegisterOption("WebSearchCallQuota", OptionSpec{strconv.Itoa(pricing.DefaultWebSearchCallQuota), validNonNegativeFloat})
	RegisterOption("MaxOutputTokens", OptionSpec{"{}", tokenTable})
	RegisterOption("RetryTimes", OptionSpec{"2", ValidInt(0, 10)})
	RegisterOption("AutomaticDisableChannelEnabled", OptionSpec{"true", ValidBool})
	RegisterOption("AutomaticEnableChannelEnabled", OptionSpec{"true", ValidBool})
	RegisterOption("QuotaPerUnit", OptionSpec{strconv.Itoa(pricing.DefaultQuotaPerUnit), validPositiveFloat})
	RegisterOption("DisplayInCurrencyEnabled", OptionSpec{"true", ValidBool})
	RegisterOption("UnpricedModelRatio", OptionSpec{strconv.Itoa(pricing.DefaultUnpricedRatio), validNonNegativeFloat})
	RegisterOption("RefuseUnpricedModels", OptionSpec{"false", ValidBool})
	RegisterOption("QuotaLeaseEnabled", OptionSpec{"true", ValidBool})
	RegisterOption("PreConsumedCompletionTokens", OptionSpec{"4096", ValidInt(1, 1_000_000)})
	// Registered here rather than by the jobs package that applies it, so
	// that every binary (and every package's tests) validates it the same.
	RegisterOption("LogRetentionDays", OptionSpec{"0", ValidInt(0, 36500)})
	// Seconds, as One API stores it; One API's default is 5, ours is off:
	// a slow but working channel (a reasoning model thinks before its one
	// token) should not disappear from routing unless the operator asks.
	RegisterOption("ChannelDisableThreshold", OptionSpec{"0", validThresholdSeconds})
}

// validThresholdSeconds accepts ChannelDisableThreshold: seconds ≥ 0, at
// most a day (any test gives up long before).
func validThresholdSeconds(v string) error {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || !(f >= 0 && f <= 86400) { // NaN fails both
		return errors.New("want a number of seconds from 0 (off) to 86400")
	}
	return nil
}

// ParseOptions overlays stored values on the defaults. A stored value that no
// longer validates is an error, so a bad edit is never half-applied.
func ParseOptions(stored map[string]string) (*Options, error) {
	specsMu.RLock()
	raw := make(map[string]string, len(specs))
	for k, s := range specs {
		raw[k] = s.Default
	}
	specsMu.RUnlock()
	var errs []error
	for k, v := range stored {
		if _, known := raw[k]; !known {
			raw[k] = v // kept for whoever owns it; not ours to judge
			continue
		}
		if err := ValidateOption(k, v); err != nil {
			errs = append(errs, err)
			continue
		}
		raw[k] = v
	}
	o := &Options{raw: raw}
	_ = json.Unmarshal([]byte(raw["ModelRatio"]), &o.ModelRatio)
	_ = json.Unmarshal([]byte(raw["CompletionRatio"]), &o.CompletionRatio)
	_ = json.Unmarshal([]byte(raw["GroupRatio"]), &o.GroupRatio)
	for key, dst := range map[string]*map[string]float64{
		"CacheRatio": &o.CacheRatio, "CacheWriteRatio": &o.CacheWriteRatio, "AudioRatio": &o.AudioRatio,
		"AudioCompletionRatio": &o.AudioCompletionRatio, "ImageRatio": &o.ImageRatio, "ImageCompletionRatio": &o.ImageCompletionRatio,
	} {
		_ = json.Unmarshal([]byte(raw[key]), dst)
	}
	o.WebSearchCallQuota, _ = strconv.ParseFloat(raw["WebSearchCallQuota"], 64)
	for _, table := range []map[string]float64{o.ModelRatio, o.CompletionRatio, o.CacheRatio, o.CacheWriteRatio,
		o.AudioRatio, o.AudioCompletionRatio, o.ImageRatio, o.ImageCompletionRatio} {
		for k := range table {
			if strings.HasSuffix(k, ")") && strings.Contains(k, "(") {
				o.typedPrices = true
			}
		}
	}
	_ = json.Unmarshal([]byte(raw["MaxOutputTokens"]), &o.MaxOutputTokens)
	o.RetryTimes, _ = strconv.Atoi(raw["RetryTimes"])
	o.AutoDisableChannel = raw["AutomaticDisableChannelEnabled"] == "true"
	o.AutoEnableChannel = raw["AutomaticEnableChannelEnabled"] == "true"
	o.QuotaPerUnit, _ = strconv.ParseFloat(raw["QuotaPerUnit"], 64)
	o.DisplayInCurrency = raw["DisplayInCurrencyEnabled"] == "true"
	o.UnpricedModelRatio, _ = strconv.ParseFloat(raw["UnpricedModelRatio"], 64)
	o.RefuseUnpricedModels = raw["RefuseUnpricedModels"] == "true"
	o.QuotaLeases = raw["QuotaLeaseEnabled"] == "true"
	o.PreConsumedCompletions, _ = strconv.Atoi(raw["PreConsumedCompletionTokens"])
	o.LogRetentionDays, _ = strconv.Atoi(raw["LogRetentionDays"])
	secs, _ := strconv.ParseFloat(raw["ChannelDisableThreshold"], 64)
	o.ChannelDisableThreshold = time.Duration(secs * float64(time.Second))
	_ = json.Unmarshal([]byte(raw["GroupRateLimits"]), &o.GroupRateLimits)
	return o, errors.Join(errs...)
}
