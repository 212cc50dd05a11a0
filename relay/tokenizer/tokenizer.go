// Package tokenizer counts tokens with tiktoken, offline.
//
// The BPE tables are embedded (tiktoken-go-loader), so counting never
// downloads anything. Counts are estimates for reserving quota before a
// call and for billing when upstream reports no usage; upstream usage wins
// when it exists. Nothing here fetches a URL: images are estimated from
// their declared detail only, because the gateway must make no outbound
// call a client can aim.
package tokenizer

import (
	"context"
	"math"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/pkoukk/tiktoken-go"
	tiktoken_loader "github.com/pkoukk/tiktoken-go-loader"
)

func init() {
	// Replace the default loader, which downloads the tables from
	// openaipublic.blob.core.windows.net on first use.
	tiktoken.SetBpeLoader(tiktoken_loader.NewOfflineLoader())
}

// Encoding names.
const (
	O200K  = "o200k_base"
	CL100K = "cl100k_base"
)

// encoder is a tiktoken encoding built on first use, with its count cache.
type encoder struct {
	name  string
	once  sync.Once
	tk    *tiktoken.Tiktoken
	err   error
	cache countCache
}

func (e *encoder) get() *tiktoken.Tiktoken {
	// Building an encoding parses ~200k BPE ranks (tens of ms, tens of MB),
	// so it is done once per encoding and only for encodings in use.
	e.once.Do(func() { e.tk, e.err = tiktoken.GetEncoding(e.name) })
	if e.err != nil {
		// The tables are embedded: failing to load them is a build defect.
		panic("tokenizer: load " + e.name + ": " + e.err.Error())
	}
	return e.tk
}

var (
	o200k  = &encoder{name: O200K}
	cl100k = &encoder{name: CL100K}
)

// Warm builds both encodings now, so the first request does not pay for it.
func Warm() {
	o200k.get()
	cl100k.get()
}

// EncodingFor returns the encoding used for model: o200k_base for the
// GPT-4o, GPT-4.1, GPT-4.5, GPT-5 and o-series families, cl100k_base for
// everything else (other vendors' models included: an estimate is all that
// is needed). A vendor prefix such as "openai/" is ignored.
func EncodingFor(model string) string {
	return encoderFor(model).name
}

func encoderFor(model string) *encoder {
	if i := strings.LastIndexByte(model, '/'); i >= 0 {
		model = model[i+1:]
	}
	for _, p := range o200kPrefixes {
		if strings.HasPrefix(model, p) {
			return o200k
		}
	}
	return cl100k
}

var o200kPrefixes = []string{
	"gpt-4o", "chatgpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "gpt-oss", "gpt-image",
	"o1", "o3", "o4", "codex-",
}

// CountText returns the number of tokens of text for model. It takes time
// linear in the text (see countSegments) and is meant for what upstream
// answered; a client's prompt is counted with CountPrompt.
func CountText(model, text string) int {
	n, _ := CountPrompt(context.Background(), model, text)
	return n
}

// CountPrompt is CountText for a client's prompt: it stops, with ctx's error,
// as soon as ctx ends (the client went away).
func CountPrompt(ctx context.Context, model, text string) (int, error) {
	if text == "" {
		return 0, nil
	}
	return encoderFor(model).count(ctx, text)
}

// count encodes text, going through the cache.
func (e *encoder) count(ctx context.Context, text string) (int, error) {
	h := e.cache.hash(text)
	if n, ok := e.cache.get(h); ok {
		return n, nil
	}
	n, err := e.countSegments(ctx, text)
	if err != nil {
		return 0, err
	}
	e.cache.put(h, n)
	return n, nil
}

// Counting limits. tiktoken's byte-pair merge is quadratic in the length of
// one regex piece, and a piece is a run of letters (or spaces, or
// punctuation) with no break: a 64 KiB word took seconds. So text is encoded
// in segments cut where tiktoken would cut anyway (before a space or a line
// break that follows a non-space: every piece starts there), and a run
// longer than longRun is cut every longRun bytes; only the first
// maxLongPieces such pieces of a text are encoded, the rest is extrapolated
// from them, as is anything past maxExactBytes. Counts of ordinary text are
// exact; of pathological text, estimates, which is all a count is for
// (upstream usage wins when there is some).
const (
	segmentBytes  = 4 << 10
	longRun       = 128
	maxLongPieces = 64
	maxExactBytes = 1 << 20
)

// countSegments counts text segment by segment, checking ctx between them.
func (e *encoder) countSegments(ctx context.Context, text string) (int, error) {
	tk := e.get()
	var (
		total, exact                int // tokens and bytes encoded
		longTokens, longBytes, long int // of the encoded pieces of long runs
		skipped, skippedLong        int // bytes extrapolated
	)
	for sg := (segmenter{text: text}); ; {
		seg, forced, ok := sg.next()
		if !ok {
			break
		}
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		switch {
		case forced && long >= maxLongPieces:
			skippedLong += len(seg)
		case exact >= maxExactBytes:
			skipped += len(seg)
		default:
			// EncodeOrdinary treats special tokens such as <|endoftext|> in
			// user text as plain text, as OpenAI does for API input, and
			// skips Encode's per-call special-token maps.
			n := len(tk.EncodeOrdinary(seg))
			total += n
			exact += len(seg)
			if forced {
				long++
				longTokens += n
				longBytes += len(seg)
			}
		}
	}
	total += extrapolate(skippedLong, longTokens, longBytes)
	total += extrapolate(skipped, total, exact)
	return total, nil
}

// extrapolate estimates the tokens of n bytes at the rate tokens/bytes
// measured, or one token per two bytes (more than any ordinary text) when
// nothing was measured.
func extrapolate(n, tokens, bytes int) int {
	if n == 0 {
		return 0
	}
	if bytes == 0 {
		return (n + 1) / 2
	}
	return int(math.Ceil(float64(n) * float64(tokens) / float64(bytes)))
}

// segmenter cuts a text into the segments countSegments encodes.
type segmenter struct {
	text string
	pos  int
}

// next returns the next segment; forced says it was cut inside a long run.
func (s *segmenter) next() (seg string, forced, ok bool) {
	t, start := s.text, s.pos
	if start >= len(t) {
		return "", false, false
	}
	lastCut := start // the last natural cut point, or the start
	for i := start + 1; i < len(t); i++ {
		if (t[i] == ' ' || t[i] == '\n') && !isSpace(t[i-1]) {
			lastCut = i
			if i-start >= segmentBytes {
				s.pos = i
				return t[start:i], false, true
			}
			continue
		}
		if i-lastCut < longRun {
			continue
		}
		if lastCut > start { // the ordinary text before the run goes first
			s.pos = lastCut
			return t[start:lastCut], false, true
		}
		cut := i
		for cut > start+1 && !utf8.RuneStart(t[cut]) {
			cut--
		}
		s.pos = cut
		return t[start:cut], true, true
	}
	s.pos = len(t)
	return t[start:], false, true
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\v' || c == '\f'
}
