package handlers

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"oneapi/state"
	"oneapi/views"
)

// The "Prices and limits" settings page edits the options the relay and the
// jobs apply (state.Options). They are registered in the state package, whose
// validators the JSON API (PUT /api/option/) uses too, and the relay reads
// them from memory: a save is followed by a reload, and the options trigger
// tells the other nodes.

// pricingField is one option on the page: its key (a registered option),
// how it is drawn and where.
type pricingField struct {
	Key     string
	Type    string // textarea (JSON table), checkbox, number
	Step    string // "any" for numbers that may have a fraction
	Section string
	Label   string
	Help    string
}

// pricingFields is the page, in order. None is secret: the page draws
// values, and a secret option must never be drawn (TestPricingFieldsNotSecret).
var pricingFields = []pricingField{
	{"ModelRatio", "textarea", "", "Prices", "Model ratios",
		"JSON object of model name to ratio. At 500000 quota per dollar, a ratio of 1 is $0.002 per 1K prompt tokens, as in One API."},
	{"CompletionRatio", "textarea", "", "Prices", "Completion ratios",
		"JSON object of model name to the price of a completion token relative to a prompt token (1 when a model is absent)."},
	{"GroupRatio", "textarea", "", "Prices", "Group ratios",
		"JSON object of user group to a multiplier of every price (1 when a group is absent)."},
	{"CacheRatio", "textarea", "", "Prices", "Cache read ratios",
		"JSON object of model name to the price of a prompt token read from the provider's cache, relative to a prompt token (1 when a model is absent)."},
	{"CacheWriteRatio", "textarea", "", "Prices", "Cache write ratios",
		"JSON object of model name to the price of a prompt token written to the cache (Anthropic), relative to a prompt token (1 when absent)."},
	{"AudioRatio", "textarea", "", "Prices", "Audio input ratios", "JSON object of model name to the price of an audio prompt token relative to a text prompt token (1 when absent)."},
	{"AudioCompletionRatio", "textarea", "", "Prices", "Audio output ratios", "JSON object of model name to the price of an audio output token relative to a text prompt token (the completion ratio when absent)."},
	{"ImageRatio", "textarea", "", "Prices", "Image input ratios", "JSON object of model name to the price of an image prompt token relative to a text prompt token (1 when absent)."},
	{"ImageCompletionRatio", "textarea", "", "Prices", "Image output ratios", "JSON object of model name to the price of a generated image token relative to a text prompt token (gpt-image-1; the completion ratio when absent)."},
	{"WebSearchCallQuota", "number", "any", "Prices", "Quota per web search call", "Charged for each web search tool call upstream reports, before the group ratio (5000 = $0.01 at 500000 quota per dollar)."},
	{"MaxOutputTokens", "textarea", "", "Prices", "Maximum output tokens",
		"JSON object of model name to the most tokens it can write, where the built-in table does not know it or knows it wrong. A request without max_tokens is reserved for this much output."},
	{"UnpricedModelRatio", "number", "any", "Prices", "Ratio of models without a price", "Applied to a model missing from the model ratios."},
	{"RefuseUnpricedModels", "checkbox", "", "Prices", "Refuse models without a price", "Requests for a model missing from the model ratios fail instead of using the ratio above."},
	{"PreConsumedCompletionTokens", "number", "", "Prices", "Output limit of models of unknown maximum",
		"A request that sets no max_tokens, for a model whose maximum output is unknown, is reserved for this many output tokens and sent upstream with this limit, so that no balance can be overdrawn."},
	{"QuotaLeaseEnabled", "checkbox", "", "Prices", "Quota leases for busy tokens",
		"A token busy on a node reserves from a block of its quota held in memory instead of writing to the database for every request. If the node is killed, requests it began in its last ~150 ms go unbilled; turn this off to reserve every request in the database."},

	{"QuotaPerUnit", "number", "any", "Display", "Quota per US dollar", "500000 in One API."},
	{"DisplayInCurrencyEnabled", "checkbox", "", "Display", "Show amounts in US dollars", "Otherwise as raw quota."},

	{"RetryTimes", "number", "", "Channels", "Retries", "Other channels tried after a retryable failure (0 to 10)."},
	{"AutomaticDisableChannelEnabled", "checkbox", "", "Channels", "Disable failing channels automatically", "A dead key, a used-up balance or a test slower than the threshold below."},
	{"AutomaticEnableChannelEnabled", "checkbox", "", "Channels", "Re-enable channels that pass their test", "Only channels disabled automatically."},
	{"ChannelDisableThreshold", "number", "any", "Channels", "Slowest acceptable test (seconds)", "A channel test slower than this disables the channel; 0 = no limit."},

	{"LogRetentionDays", "number", "", "Logs", "Keep consumption logs (days)", "Older consumption logs are deleted hourly; top-up, management and system logs are kept. 0 = forever."},
}

// pricingSettingsPage shows the options as the relay applies them now.
func (h *Handler) pricingSettingsPage(c echo.Context) error {
	return render(c, http.StatusOK, views.PricingSettingsPage(h.pricingView(c, h.state.Options().Raw(), nil)))
}

// pricingView draws values (effective ones, or a failed submission's);
// JSON tables are indented for editing.
func (h *Handler) pricingView(c echo.Context, values map[string]string, errs map[string]string) views.SettingsView {
	v := views.SettingsView{Layout: h.layout(c, "Prices and limits"), Errors: errs}
	for _, d := range pricingFields {
		f := views.SettingField{Key: d.Key, Section: d.Section, Label: d.Label, Help: d.Help, Type: d.Type, Step: d.Step}
		switch d.Type {
		case "checkbox":
			f.Checked = values[d.Key] == "true"
		case "textarea":
			f.Value = values[d.Key]
			var b bytes.Buffer
			if json.Indent(&b, []byte(f.Value), "", "  ") == nil {
				f.Value = b.String()
			}
		default:
			f.Value = values[d.Key]
		}
		v.Fields = append(v.Fields, f)
	}
	return v
}

// pricingSettingsUpdate validates every field with the option's own
// validator; any failure re-renders the form (422) with the messages and
// stores nothing. Values equal to what is in effect are not written, so
// saving the page does not pin the built-in defaults (a later release's
// longer model-ratio table still applies to an option nobody changed).
func (h *Handler) pricingSettingsUpdate(c echo.Context) error {
	ctx := c.Request().Context()
	form, err := c.FormParams()
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "unreadable form")
	}
	current := h.state.Options().Raw()
	submitted := make(map[string]string, len(pricingFields))
	changed := map[string]string{}
	errs := map[string]string{}
	for _, d := range pricingFields {
		v := strings.TrimSpace(form.Get(d.Key))
		switch d.Type {
		case "checkbox":
			// All fields are on the form: an absent checkbox is unchecked.
			v = boolText(v == "true" || v == "on" || v == "1")
		case "textarea":
			var b bytes.Buffer
			if json.Compact(&b, []byte(v)) == nil {
				v = b.String()
			}
		}
		submitted[d.Key] = v
		if err := state.ValidateOption(d.Key, v); err != nil {
			errs[d.Key] = err.Error()
			continue
		}
		if v != current[d.Key] {
			changed[d.Key] = v
		}
	}
	if len(errs) > 0 {
		return render(c, http.StatusUnprocessableEntity, views.PricingSettingsPage(h.pricingView(c, submitted, errs)))
	}
	if err := h.saveSettings(ctx, changed); err != nil {
		return err
	}
	h.apiReload(c, state.KindOptions, 0)
	h.setFlash(c, "Prices and limits saved.")
	return redirect(c, "/settings/pricing")
}

func boolText(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
