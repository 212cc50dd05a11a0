package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// sources returns the two source files, or skips when this machine has
// them elsewhere (PRICING_LITELLM, PRICING_ONEAPI) or not at all.
func sources(t *testing.T) (litellm, oneapi []byte) {
	t.Helper()
	read := func(env, def string) []byte {
		p := os.Getenv(env)
		if p == "" {
			p = def
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Skipf("source %s not here (set %s): %v", p, env, err)
		}
		return b
	}
	return read("PRICING_LITELLM", DefaultLiteLLM), read("PRICING_ONEAPI", DefaultOneAPI)
}

func TestGeneratedTablesAreCurrent(t *testing.T) {
	ll, oa := sources(t)
	res, err := Generate(ll, oa)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]byte{PricesFile: res.Prices, RatiosFile: res.Ratios} {
		got, err := os.ReadFile(filepath.Join("..", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("pricing/%s is stale (%s): run `go generate ./pricing` and commit", name, firstDiff(got, want))
		}
	}
	again, _ := Generate(ll, oa)
	if !bytes.Equal(again.Prices, res.Prices) || !bytes.Equal(again.Ratios, res.Ratios) {
		t.Error("two runs on the same input differ")
	}
}

func firstDiff(got, want []byte) string {
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var a, b string
		if i < len(g) {
			a = g[i]
		}
		if i < len(w) {
			b = w[i]
		}
		if a != b {
			return "line " + strconv.Itoa(i+1) + ": have " + a + ", want " + b
		}
	}
	return "same lines"
}

// Every model One API ships a valid price for is priced by one of the two
// files.
func TestEveryOneAPIModelIsPriced(t *testing.T) {
	ll, oa := sources(t)
	res, err := Generate(ll, oa)
	if err != nil {
		t.Fatal(err)
	}
	ratios, err := parseOneAPI(oa)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, data := range [][]byte{res.Prices, res.Ratios} {
		for _, line := range strings.Split(string(data), "\n") {
			if name, _, ok := strings.Cut(line, "\t"); ok && !strings.HasPrefix(line, "#") {
				names[name] = true
			}
		}
	}
	for n := range ratios {
		if !names[n] {
			t.Errorf("One API prices %s; the generated tables do not", n)
		}
	}
	if len(ratios) < 560 {
		t.Errorf("%d One API ratios read, want its ~565 defaults", len(ratios))
	}
	// The fallback holds no unit slip: every ratio is free or a plausible
	// price ($0.002 to $200 per 1M tokens, or per-call).
	for _, line := range strings.Split(string(res.Ratios), "\n")[8:] {
		f := strings.Split(line, "\t")
		if len(f) != 3 {
			continue
		}
		if r := mustFloat(t, f[1]); r != 0 && (r < 0.001 || r > 100) {
			t.Errorf("One API ratio of %s = %v: a unit slip?", f[0], r)
		}
	}
}

func mustFloat(t *testing.T, s string) float64 {
	t.Helper()
	if s == "" {
		return 0
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
