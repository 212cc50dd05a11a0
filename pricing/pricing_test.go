package pricing

import (
	"math"
	"testing"
)

func TestCost(t *testing.T) {
	mini := Price{Model: 0.075, Completion: 4, CacheRead: 0.5, CacheWrite: 1, AudioIn: 1, AudioOut: 4, ImageIn: 1, ImageOut: 4, Group: 1}
	tests := []struct {
		name  string
		price Price
		usage Usage
		want  int64
	}{
		{"gpt-4o-mini 12+20", mini, Usage{Input: 12, Output: 20}, 7}, // (12 + 80) × 0.075 = 6.9 → 7
		{"group doubles", Price{Model: 0.075, Completion: 4, Group: 2}, Usage{Input: 12, Output: 20}, 14},
		{"tiny rounds up to 1", Price{Model: 0.001, Completion: 1, Group: 1}, Usage{Input: 1}, 1},
		{"free model is free", Price{Completion: 1, Group: 1}, Usage{Input: 100, Output: 100}, 0},
		{"one million gpt-4o input tokens is 2.5 USD", Price{Model: 1.25, Completion: 4, Group: 1}, Usage{Input: 1_000_000}, 1_250_000},
		{"an absurd output saturates instead of wrapping", Price{Model: 15, Completion: 4, Group: 1}, Usage{Input: 10, Output: 1 << 62}, MaxQuota},
		{"cache reads at their ratio", Price{Model: 1.5, Completion: 5, CacheRead: 0.1, CacheWrite: 1.25, Group: 1},
			Usage{Input: 2100, CacheRead: 2000, Output: 10}, 525}, // (100 + 200 + 50) × 1.5
		{"cache writes at theirs", Price{Model: 1.5, Completion: 5, CacheRead: 0.1, CacheWrite: 1.25, Group: 1},
			Usage{Input: 1100, CacheWrite: 1000}, 2025}, // (100 + 1250) × 1.5
		{"parts larger than the total grow it", Price{Model: 1, Completion: 1, CacheRead: 0, Group: 1}, Usage{Input: 5, CacheRead: 10}, 1},
		{"gpt-image-1 image tokens", Price{Model: 2.5, Completion: 1, ImageIn: 2, ImageOut: 8, Group: 1},
			Usage{Input: 50, ImageIn: 40, Output: 4160, ImageOut: 4160}, 83_425}, // (10 + 80 + 33280) × 2.5
		{"web search per call", Price{Model: 1, Completion: 1, WebSearch: 5000, Group: 1}, Usage{Input: 10, WebSearch: 2}, 10_010},
		{"negative counters cost nothing", mini, Usage{Input: -100, Output: -5}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Cost(tt.price, tt.usage); got != tt.want {
				t.Errorf("Cost = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestAffordableOutput(t *testing.T) {
	p := Price{Model: 0.075, Completion: 4, Group: 1}
	if n := AffordableOutput(p, 100, 3000); n != 9975 { // (3000 − 7.5) / 0.3
		t.Errorf("affordable = %d", n)
	}
	if n := AffordableOutput(p, 100_000, 10); n != -1 {
		t.Errorf("prompt alone beyond the grant: %d", n)
	}
	if n := AffordableOutput(Price{Model: 1, Group: 1}, 1, 10); n != math.MaxInt32 {
		t.Errorf("free output: %d", n)
	}
}

// FuzzCostNeverNegative: whatever the counters and ratios (n, sizes,
// max_tokens and durations end up as these), a charge is never negative and
// never wraps.
func FuzzCostNeverNegative(f *testing.F) {
	f.Add(12, 20, 3, 1, 4, 0.075, 4.0, 0.5, 1.0, 1.0)
	f.Add(1<<62, 1<<62, 1<<61, 0, -5, 1e308, 1e308, -1.0, 0.0, 2.0)
	f.Fuzz(func(t *testing.T, in, out, cache, web, n int, model, compl, cr, group, units float64) {
		p := Price{Model: model, Completion: compl, CacheRead: cr, CacheWrite: cr, AudioIn: cr, AudioOut: compl, ImageIn: cr, ImageOut: compl, WebSearch: model, Group: group}
		for _, q := range []int64{
			Cost(p, Usage{Input: in, CacheRead: cache, Output: out, Reasoning: out, WebSearch: web}),
			PerCall(p, units*float64(n)),
		} {
			if q < 0 || q > MaxQuota {
				t.Fatalf("charge %d for %+v", q, p)
			}
		}
	})
}

// A retired model the relay serves with its successor costs what the
// successor costs.
func TestRetiredModelsPricedAsTheirSuccessor(t *testing.T) {
	for old, successor := range retiredModels {
		if _, ok := DefaultModelRatio[successor]; !ok {
			t.Fatalf("successor %s of %s has no price", successor, old)
		}
		if DefaultModelRatio[old] != DefaultModelRatio[successor] || DefaultCompletionRatio[old] != DefaultCompletionRatio[successor] {
			t.Errorf("%s = %v/%v, %s = %v/%v", old, DefaultModelRatio[old], DefaultCompletionRatio[old],
				successor, DefaultModelRatio[successor], DefaultCompletionRatio[successor])
		}
	}
}
