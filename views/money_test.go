package views

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
)

func TestMoney(t *testing.T) {
	usd := Money{PerUnit: 500000, Currency: true}
	for q, want := range map[int64]string{0: "$0.00 (0)", 500000: "$1.00 (500 000)", 1250: "$0.0025 (1 250)",
		4000: "$0.008 (4 000)", 7: "$0.000014 (7)", 123456789: "$246.91 (123 456 789)", -2500: "$-0.005 (-2 500)"} {
		if got := usd.Format(q); got != want {
			t.Errorf("Format(%d) = %q, want %q", q, got, want)
		}
	}
	if got := (Money{PerUnit: 500000}).Format(1234567); got != "1 234 567" {
		t.Errorf("without currency = %q", got)
	}
	if got := (Money{PerUnit: 1000, Currency: true}).USD(1500); got != "$1.50" {
		t.Errorf("QuotaPerUnit 1000 = %q", got)
	}
}

func TestShortList(t *testing.T) {
	for in, want := range map[string]string{"": "", "a": "a", "a,b": "a, b", "a,b,c,d": "a, b +2"} {
		if got := shortList(in, 2); got != want {
			t.Errorf("shortList(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestSecretsOnlyWhereMeant: rows and forms have no field a key could be
// rendered into; the creation pages show theirs in a read-only input.
func TestSecretsOnlyWhereMeant(t *testing.T) {
	render := func(c interface {
		Render(context.Context, io.Writer) error
	}) string {
		var buf bytes.Buffer
		if err := c.Render(context.Background(), &buf); err != nil {
			t.Fatal(err)
		}
		return buf.String()
	}
	form := render(ChannelFormPage(ChannelFormView{KeyHint: "…WXYZ", KeyEntered: true, Input: ChannelInputView{Name: "n"}}))
	if !strings.Contains(form, `<textarea id="key" name="key" rows="3" class="mono" autocomplete="off" spellcheck="false" data-testid="channel-key"></textarea>`) {
		t.Errorf("channel key field is not empty: %s", form)
	}
	created := render(TokenCreatedPage(TokenCreatedView{Key: "sk-secret", Token: TokenView{Name: "t"}}))
	if !strings.Contains(created, `<input id="token-key" readonly class="mono secret" value="sk-secret"`) {
		t.Errorf("token key not in a read-only input: %s", created)
	}
	row := render(ChannelRow(ChannelView{ID: 3, Name: `<b>x</b>`, ProbeError: `<script>alert(1)</script>`, Status: 3}, Money{}, "tok"))
	if strings.Contains(row, "<script>") || strings.Contains(row, "<b>x") || !strings.Contains(row, "auto-disabled") {
		t.Errorf("row = %s", row)
	}
}
