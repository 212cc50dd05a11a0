package gemini

import "sync/atomic"

// Settings are the operator's defaults for every Gemini channel, One API's
// GEMINI_VERSION and GEMINI_SAFETY_SETTING.
type Settings struct {
	// Version is the API version of channels that set no api_version; ""
	// is DefaultAPIVersion.
	Version string
	// SafetyThreshold, when set (BLOCK_NONE, BLOCK_ONLY_HIGH, ...), is sent
	// for every harm category, as One API does; "" sends none, so Google's
	// defaults apply.
	SafetyThreshold string
}

var settings atomic.Pointer[Settings]

// SetDefaults sets the defaults (at start, before requests are served).
func SetDefaults(version, safetyThreshold string) {
	settings.Store(&Settings{Version: version, SafetyThreshold: safetyThreshold})
}

func defaultVersion() string {
	if s := settings.Load(); s != nil && s.Version != "" {
		return s.Version
	}
	return DefaultAPIVersion
}

// harmCategories are the categories One API sets a threshold for.
var harmCategories = []string{
	"HARM_CATEGORY_HARASSMENT", "HARM_CATEGORY_HATE_SPEECH", "HARM_CATEGORY_SEXUALLY_EXPLICIT",
	"HARM_CATEGORY_DANGEROUS_CONTENT", "HARM_CATEGORY_CIVIC_INTEGRITY",
}

type safetySetting struct {
	Category  string `json:"category"`
	Threshold string `json:"threshold"`
}

func safetySettings() []safetySetting {
	s := settings.Load()
	if s == nil || s.SafetyThreshold == "" {
		return nil
	}
	out := make([]safetySetting, len(harmCategories))
	for i, c := range harmCategories {
		out[i] = safetySetting{c, s.SafetyThreshold}
	}
	return out
}
