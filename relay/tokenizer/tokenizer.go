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
	"strings"
	"sync"

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

// CountText returns the number of tokens of text for model.
func CountText(model, text string) int {
	if text == "" {
		return 0
	}
	return encoderFor(model).count(text)
}

// count encodes text, going through the cache.
func (e *encoder) count(text string) int {
	h := e.cache.hash(text)
	if n, ok := e.cache.get(h); ok {
		return n
	}
	// EncodeOrdinary treats special tokens such as <|endoftext|> in user text
	// as plain text, as OpenAI does for API input, and skips Encode's
	// per-call special-token maps.
	n := len(e.get().EncodeOrdinary(text))
	e.cache.put(h, n)
	return n
}
