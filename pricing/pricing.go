// Package pricing holds One API's price model: per-model ratios, completion
// ratios and group ratios, and the formula that turns token usage into quota.
//
// One ratio unit is $0.002 per 1K tokens ($2 per 1M), so a model's ratio is
// its input list price per 1M tokens divided by 2, and its completion ratio is
// output price ÷ input price. With the default QuotaPerUnit, 500 000 quota = 1 USD.
package pricing

import (
	"math"
	"strings"
)

// MaxQuota is what any request can cost at most: far beyond every balance,
// and small enough that sums of a few of them do not overflow.
const MaxQuota = 1 << 60

// Defaults for the settings of this package, under One API's option keys.
const (
	DefaultQuotaPerUnit = 500_000
	// DefaultUnpricedRatio is what a model with no price is billed at, as
	// One API does (30 = $60 per 1M tokens: deliberately expensive, so a
	// forgotten price never undercharges).
	DefaultUnpricedRatio = 30
)

// DefaultGroupRatio is the group multiplier table.
var DefaultGroupRatio = map[string]float64{"default": 1, "vip": 1, "svip": 1}

// The default price tables, in One API's units, derived from the reference
// table (Lookup) and, for the models it lacks, One API's own default ratios.
// Operators edit ModelRatio and CompletionRatio in settings; the other tables
// are the defaults of the kinds of tokens priced apart, each holding only the
// models whose price for that kind differs from their input price.
var (
	DefaultModelRatio      = defaults.model      // input USD per 1M ÷ 2, or a per-call ratio (modelRatioOf)
	DefaultCompletionRatio = defaults.completion // output ÷ input
	DefaultCacheRatio      = defaults.cacheRead  // cache read ÷ input
	DefaultCacheWriteRatio = defaults.cacheWrite // cache write ÷ input
	// DefaultAudioRatio is audio input ÷ text input.
	DefaultAudioRatio = defaults.audioIn
	// DefaultAudioCompletionRatio is audio output ÷ text input.
	DefaultAudioCompletionRatio = defaults.audioOut
	// DefaultImageRatio is image-token input ÷ text input.
	DefaultImageRatio = defaults.imageIn
	// DefaultImageCompletionRatio is image-token output ÷ text input.
	DefaultImageCompletionRatio = defaults.imageOut
)

// fixedRatios are One API's ratios for models the relay bills per call, per
// input character or per transcript token, kept where the reference table has
// no per-token price for them. Each agrees with what modelRatioOf derives
// from the table's own price (TestFixedRatiosMatchTheTable), except where
// said.
var fixedRatios = map[string]float64{
	// Per image (ratio × 1000 quota per 1024×1024 image, the relay's size
	// factors apart): the table's $0.02 and $0.04 per image.
	"dall-e-2": 10, "dall-e-3": 20,
	// Per transcript token: One API prices Whisper's $0.006 a minute as
	// $0.03 per 1K tokens of the transcript (a minute ≈ 200 tokens).
	"whisper-1": 15,
	// Per input character, which the relay counts as a prompt token: the
	// table's $15 and $30 per 1M characters.
	"tts-1": 7.5, "tts-1-1106": 7.5, "tts-1-hd": 15, "tts-1-hd-1106": 15,
	// OpenAI charges nothing for moderations (the table says 0); One API
	// bills 0.1, so that the endpoint is not a free, unmetered channel for
	// a token with no quota left, and operators moving from it see the same
	// charges.
	"text-moderation-latest": 0.1, "text-moderation-stable": 0.1, "text-moderation-007": 0.1,
	"omni-moderation-latest": 0.1, "omni-moderation-2024-09-26": 0.1,
}

// retiredModels are names of models their provider has retired that the
// relay still serves, with their successor (relay/adaptor/palm): they are
// billed at the successor's prices, since that is what upstream charges.
var retiredModels = map[string]string{
	"PaLM-2": "gemini-2.5-flash", "palm-2": "gemini-2.5-flash",
}

// Per-call conversions of the reference table's non-token prices into a
// model ratio, following the relay's units and One API's rules.
const (
	// perImageRatio: the relay bills an image at ratio × 1000 quota, and
	// 500 000 quota is $1, so a $1 image is ratio 500.
	perImageRatio = DefaultQuotaPerUnit / 1000
	// perCharacterRatio: speech bills each input character as a prompt
	// token, at ratio × $2 per 1M.
	perCharacterRatio = 1e6 / 2
	// perSecondRatio: a transcription bills the transcript's tokens; One
	// API takes a minute of audio as 200 of them, so $1 a second is $300
	// per 1K tokens, ratio 150 000.
	perSecondRatio = 60.0 / 200 * 1000 * 1000 / 2
)

// modelRatioOf is e's model ratio: input USD per 1M ÷ 2 for a token-priced
// model, else a per-call ratio for one the table prices per image,
// character or second of audio. ok is false when the price cannot be put in
// One API's units (per request, per second of video, output tokens without
// an input price): such a model stays unpriced rather than free.
func modelRatioOf(e Entry) (ratio float64, ok bool) {
	switch {
	case e.Input > 0:
		return roundRatio(e.Input / 2), true
	case e.Output > 0 || e.CacheRead > 0 || e.CacheWrite > 0 || e.AudioIn > 0 || e.AudioOut > 0 ||
		e.ImageIn > 0 || e.ImageOut > 0:
		return 0, false
	case e.PerImage > 0 && strings.HasPrefix(e.Mode, "image_"):
		return roundRatio(e.PerImage * perImageRatio), true
	case e.PerCharacter > 0 && e.Mode == "audio_speech":
		return roundRatio(e.PerCharacter * perCharacterRatio), true
	case e.PerSecond > 0 && e.Mode == "audio_transcription":
		return roundRatio(e.PerSecond * perSecondRatio), true
	case e.free():
		return 0, true
	}
	return 0, false
}

type defaultTables struct {
	model, completion, cacheRead, cacheWrite, audioIn, audioOut, imageIn, imageOut map[string]float64
}

var defaults = buildDefaults(table, mustParseRatios(oneAPIRatios))

// buildDefaults derives the ratio tables: fixedRatios first, then the
// reference table, then One API's ratios for the names neither has.
func buildDefaults(prices map[string]Entry, oneAPI []ratioRow) defaultTables {
	d := defaultTables{
		model: make(map[string]float64, len(prices)+len(oneAPI)), completion: map[string]float64{},
		cacheRead: map[string]float64{}, cacheWrite: map[string]float64{}, audioIn: map[string]float64{},
		audioOut: map[string]float64{}, imageIn: map[string]float64{}, imageOut: map[string]float64{},
	}
	for m, e := range prices {
		r, ok := modelRatioOf(e)
		if !ok {
			continue
		}
		d.model[m] = r
		if e.Input == 0 {
			continue
		}
		// Each kind of token priced apart, relative to the input price.
		for _, k := range []struct {
			to    map[string]float64
			price float64
		}{{d.completion, e.Output}, {d.cacheRead, e.CacheRead}, {d.cacheWrite, e.CacheWrite},
			{d.audioIn, e.AudioIn}, {d.audioOut, e.AudioOut}, {d.imageIn, e.ImageIn}, {d.imageOut, e.ImageOut}} {
			if k.price > 0 && k.price != e.Input {
				k.to[m] = roundRatio(k.price / e.Input)
			}
		}
	}
	for m, r := range fixedRatios {
		d.model[m] = r
		delete(d.completion, m)
	}
	for old, successor := range retiredModels {
		for _, t := range []map[string]float64{d.model, d.completion, d.cacheRead, d.cacheWrite, d.audioIn, d.audioOut, d.imageIn, d.imageOut} {
			if r, ok := t[successor]; ok {
				t[old] = r
			}
		}
	}
	for _, r := range oneAPI {
		if _, ok := d.model[r.model]; ok {
			continue
		}
		d.model[r.model] = r.ratio
		if r.completion != 1 {
			d.completion[r.model] = r.completion
		}
	}
	return d
}

// roundRatio keeps 10 significant digits, so that 0.3 ÷ 3 is 0.1 and not
// 0.09999999999999999.
func roundRatio(f float64) float64 {
	if f == 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return f
	}
	p := math.Pow(10, 9-math.Floor(math.Log10(math.Abs(f))))
	return math.Round(f*p) / p
}
