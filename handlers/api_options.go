package handlers

import (
	"encoding/json"
	"slices"
	"sort"
	"strings"

	"github.com/labstack/echo/v4"

	"oneapi/queries"
	"oneapi/state"
)

// apiOption is one entry of One API's option list.
type apiOption struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// optionIsSecret reports whether an option is write-only: One API's rule
// (keys ending in Secret or Token) plus the sign-in settings marked secret,
// such as TurnstileSecretKey, which One API's rule misses.
func optionIsSecret(key string) bool {
	if state.IsSecretOption(key) {
		return true
	}
	d, ok := settingDefOf(key)
	return ok && d.Kind == kindSecret
}

// apiOptionList is GET /api/option/: the effective value of every option,
// secrets left out. Relay options come from the in-memory state (what the
// relay uses right now); sign-in settings from the options table, which is
// what the sign-in pages read.
func (h *Handler) apiOptionList(c echo.Context) error {
	raw := h.state.Options().Raw()
	registered := state.OptionKeys()
	out := make([]apiOption, 0, len(registered)+len(authSettingDefs))
	for _, k := range registered {
		if !optionIsSecret(k) {
			out = append(out, apiOption{Key: k, Value: raw[k]})
		}
	}
	s, err := h.loadSettings(c.Request().Context())
	if err != nil {
		return err
	}
	for _, d := range authSettingDefs {
		if !optionIsSecret(d.Key) && !slices.Contains(registered, d.Key) {
			out = append(out, apiOption{Key: d.Key, Value: s.str(d.Key)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return apiOK(c, out)
}

// apiOptionUpdate is PUT /api/option/ {"key","value"}: validated, stored,
// and applied on this node at once (other nodes through their reload). The
// value may be sent as a JSON string, as One API's console does, or as a
// bare number or boolean, as scripts do. Unknown keys are refused rather
// than stored for nothing.
func (h *Handler) apiOptionUpdate(c echo.Context) error {
	body, err := apiReadBody(c)
	if err != nil {
		return err
	}
	var in struct {
		Key   string          `json:"key"`
		Value json.RawMessage `json:"value"`
	}
	if err := apiUnmarshal(body, &in); err != nil {
		return err
	}
	key := strings.TrimSpace(in.Key)
	if key == "" {
		return apiInvalid("key is required")
	}
	value, err := optionValue(in.Value)
	if err != nil {
		return err
	}
	switch d, isSetting := settingDefOf(key); {
	case slices.Contains(state.OptionKeys(), key):
		if err := state.ValidateOption(key, value); err != nil {
			return apiInvalid("%s", err.Error())
		}
	case isSetting:
		if value, err = validateSetting(d, value); err != nil {
			return apiInvalid("%s", err.Error())
		}
	default:
		return apiInvalid("unknown option %q", key)
	}
	if err := h.q.OptionUpsert(c.Request().Context(), queries.OptionUpsertParams{Key: key, Value: sealSetting(h.cipher, key, value)}); err != nil {
		return err
	}
	h.apiReload(c, state.KindOptions, 0)
	return apiOK(c, nil)
}

// optionValue turns the submitted value into the stored text.
func optionValue(raw json.RawMessage) (string, error) {
	t := strings.TrimSpace(string(raw))
	switch {
	case t == "" || t == "null":
		return "", apiInvalid("value is required")
	case strings.HasPrefix(t, `"`):
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", apiInvalid("value must be a string")
		}
		return s, nil
	}
	// A number, true/false, or a ratio table sent as an object rather than
	// as a JSON string: its text is the value.
	return t, nil
}
