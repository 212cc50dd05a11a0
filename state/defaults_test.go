package state

import (
	"testing"

	"oneapi/pricing"
)

// Every registered default passes its own validator: the generated price
// tables included (thousands of ratios, all finite and ≥ 0).
func TestDefaultOptionsValidate(t *testing.T) {
	specsMu.RLock()
	defer specsMu.RUnlock()
	for key, spec := range specs {
		if spec.Validate == nil {
			continue
		}
		if err := spec.Validate(spec.Default); err != nil {
			t.Errorf("default of %s does not validate: %v", key, err)
		}
	}
	o, err := ParseOptions(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.ModelRatio) != len(pricing.DefaultModelRatio) || len(o.CompletionRatio) != len(pricing.DefaultCompletionRatio) {
		t.Errorf("options hold %d model and %d completion ratios, the defaults %d and %d",
			len(o.ModelRatio), len(o.CompletionRatio), len(pricing.DefaultModelRatio), len(pricing.DefaultCompletionRatio))
	}
	for _, m := range []string{"gpt-4o", "claude-sonnet-4-5", "ERNIE-4.0-8K", "anthropic.claude-3-5-sonnet-20240620-v1:0"} {
		if p, priced := o.Price(m, "default", 0); !priced || p.Model != pricing.DefaultModelRatio[m] {
			t.Errorf("Price(%s) = %v priced %v, want the default %v", m, p.Model, priced, pricing.DefaultModelRatio[m])
		}
	}
}
