package tokenizer

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestSegmentsCountExactly: cutting ordinary text into segments before
// spaces and line breaks changes nothing, since tiktoken's pieces start there.
func TestSegmentsCountExactly(t *testing.T) {
	words := []string{"the", "gateway", "counts", "tokens,", "of", "每个", "请求", "123456", "a\nb", "  spaced", "don't", "URL:", "https://example.com/x?y=1"}
	r := rand.New(rand.NewPCG(1, 2))
	var b strings.Builder
	for b.Len() < 3*segmentBytes {
		b.WriteString(words[r.IntN(len(words))])
		if r.IntN(5) == 0 {
			b.WriteString("\n")
		} else {
			b.WriteString(" ")
		}
	}
	text := b.String()
	for _, e := range []*encoder{o200k, cl100k} {
		want := len(e.get().EncodeOrdinary(text))
		got, err := e.countSegments(context.Background(), text)
		if err != nil || got != want {
			t.Errorf("%s: countSegments = %d, %v; one encode gives %d", e.name, got, err, want)
		}
	}
}

// TestLongRunsCountInLinearTime: a prompt of one 64 KiB word used to take
// seconds (tiktoken's merge is quadratic in a piece). Timing is the
// benchmark's job; this checks the work is bounded: the count is close to
// the exact one for a short run, and a huge run is counted by extrapolation.
func TestLongRunsCountInLinearTime(t *testing.T) {
	short := strings.Repeat("ab", 200) // 400 bytes: a few forced pieces
	exact := len(o200k.get().EncodeOrdinary(short))
	got, _ := o200k.countSegments(context.Background(), short)
	if got < exact/2 || got > exact*2 {
		t.Errorf("400-byte run counted %d, exact %d", got, exact)
	}
	for _, text := range []string{strings.Repeat("a", 1<<20), strings.Repeat(" ", 64<<10), strings.Repeat("!?", 64<<10), strings.Repeat("字", 64<<10)} {
		n, err := o200k.countSegments(context.Background(), text)
		if err != nil || n <= 0 || n > len(text) {
			t.Errorf("run of %q × %d: %d tokens, %v", text[:1], len(text), n, err)
		}
	}
}

func TestCountStopsWhenTheClientGoes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	text := strings.Repeat("word ", 100<<10)
	if _, err := CountPrompt(ctx, "gpt-4o", text); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	// Nothing cached from the cancelled count.
	if n := CountText("gpt-4o", text); n < 100<<10 {
		t.Errorf("count after = %d", n)
	}
}

// BenchmarkLongWord is the figure: a 64 KiB single-word prompt
// (go test -bench LongWord ./relay/tokenizer).
func BenchmarkLongWord(b *testing.B) {
	Warm()
	text := strings.Repeat("a", 64<<10)
	for b.Loop() {
		if _, err := o200k.countSegments(context.Background(), text); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSegmenterBoundsPieces: no segment handed to tiktoken holds a run
// (bytes with no cut point) longer than longRun, whatever the text, and the
// segments put back together are the text.
func TestSegmenterBoundsPieces(t *testing.T) {
	for _, text := range []string{strings.Repeat("a", 5000), strings.Repeat(" ", 3000), "x " + strings.Repeat("é", 3000) + " y",
		strings.Repeat("word ", 3000), strings.Repeat("\n\n", 500) + strings.Repeat("z", 700)} {
		var joined strings.Builder
		for sg := (segmenter{text: text}); ; {
			seg, _, ok := sg.next()
			if !ok {
				break
			}
			joined.WriteString(seg)
			run := 0
			for i := 0; i < len(seg); i++ {
				if i > 0 && (seg[i] == ' ' || seg[i] == '\n') && !isSpace(seg[i-1]) {
					run = 0
				}
				if run++; run > longRun+utf8MaxLen {
					t.Fatalf("segment with a run of %d bytes", run)
				}
			}
			if len(seg) > segmentBytes+longRun {
				t.Fatalf("segment of %d bytes", len(seg))
			}
		}
		if joined.String() != text {
			t.Fatalf("segments do not rebuild the text")
		}
	}
}

const utf8MaxLen = 4
