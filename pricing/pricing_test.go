package pricing

import "testing"

func TestQuota(t *testing.T) {
	tests := []struct {
		name                string
		prompt, completion  int
		model, compl, group float64
		want                int64
	}{
		{"gpt-4o-mini 12+20", 12, 20, 0.075, 4, 1, 7}, // (12 + 80) × 0.075 = 6.9 → 7
		{"group doubles", 12, 20, 0.075, 4, 2, 14},
		{"tiny rounds up to 1", 1, 0, 0.001, 1, 1, 1},
		{"free model is free", 100, 100, 0, 1, 1, 0},
		{"one million gpt-4o input tokens is 2.5 USD", 1_000_000, 0, 1.25, 4, 1, 1_250_000},
		{"an absurd max_tokens saturates instead of wrapping", 10, 1 << 62, 15, 4, 1, MaxQuota},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Quota(tt.prompt, tt.completion, tt.model, tt.compl, tt.group); got != tt.want {
				t.Errorf("Quota = %d, want %d", got, tt.want)
			}
		})
	}
}
