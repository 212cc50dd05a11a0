package state

import (
	"strings"
	"testing"
	"time"
)

func TestOptionsThresholdAndRetention(t *testing.T) {
	o, err := ParseOptions(nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.ChannelDisableThreshold != 0 || o.LogRetentionDays != 0 || o.ProbeTooSlow(time.Hour) != "" {
		t.Errorf("defaults: threshold %v, retention %d: both should be off", o.ChannelDisableThreshold, o.LogRetentionDays)
	}
	o, err = ParseOptions(map[string]string{"ChannelDisableThreshold": "2.5", "LogRetentionDays": "30"})
	if err != nil {
		t.Fatal(err)
	}
	if o.ChannelDisableThreshold != 2500*time.Millisecond || o.LogRetentionDays != 30 {
		t.Errorf("parsed: threshold %v, retention %d", o.ChannelDisableThreshold, o.LogRetentionDays)
	}
	if got := o.ProbeTooSlow(2500 * time.Millisecond); got != "" {
		t.Errorf("at the threshold: %q, want not too slow", got)
	}
	if got := o.ProbeTooSlow(3*time.Second + 1234*time.Microsecond); !strings.Contains(got, "time 3.001s ") || !strings.HasSuffix(got, "of 2.5s") {
		t.Errorf("over the threshold: %q", got)
	}
}

func TestOptionValidators(t *testing.T) {
	tests := []struct {
		key, value string
		ok         bool
	}{
		{"ChannelDisableThreshold", "0", true},
		{"ChannelDisableThreshold", "0.5", true},
		{"ChannelDisableThreshold", "-1", false},
		{"ChannelDisableThreshold", "NaN", false},
		{"ChannelDisableThreshold", "1e9", false},
		{"QuotaPerUnit", "NaN", false},
		{"QuotaPerUnit", "Inf", false},
		{"UnpricedModelRatio", "NaN", false},
		{"UnpricedModelRatio", "0", true},
		{"ModelRatio", "null", false},
		{"ModelRatio", "{}", true},
		{"GroupRatio", `{"vip":0.5}`, true},
		{"LogRetentionDays", "30", true},
		{"LogRetentionDays", "-1", false},
	}
	for _, tt := range tests {
		if err := ValidateOption(tt.key, tt.value); (err == nil) != tt.ok {
			t.Errorf("ValidateOption(%s, %q) = %v, want ok=%v", tt.key, tt.value, err, tt.ok)
		}
	}
}

func TestIsSecretOptionWords(t *testing.T) {
	for key, want := range map[string]bool{
		"GitHubClientSecret": true, "SMTPToken": true, "TurnstileSecretKey": true, "LarkClientSecret": true,
		"PreConsumedCompletionTokens": false, "ModelRatio": false,
	} {
		if got := IsSecretOption(key); got != want {
			t.Errorf("IsSecretOption(%s) = %v, want %v", key, got, want)
		}
	}
}
