package tokenizer

import (
	"hash/maphash"
	"sync/atomic"
)

// countCache remembers token counts of recent texts. System prompts and
// conversation history repeat across requests and tiktoken-go costs about
// a microsecond per word, so a hit saves most of CountChat.
//
// It is direct-mapped and lock-free: each slot packs a 40-bit tag from the
// text's 64-bit hash with the count, so a lookup is one atomic load and a
// collision simply overwrites. A false hit needs 54 equal hash bits, and
// would only skew an estimate.
type countCache struct {
	slots [cacheSlots]atomic.Uint64
}

const (
	cacheBits  = 14
	cacheSlots = 1 << cacheBits // 16384 slots, 128 KiB per encoding
	countBits  = 24
	countMask  = 1<<countBits - 1
)

// Texts and JSON string literals are hashed with different seeds so the
// literal "\"hi\"" (the text hi) never shares a key with the text "hi" in quotes.
var textSeed, rawSeed = maphash.MakeSeed(), maphash.MakeSeed()

// hash keys a text.
func (c *countCache) hash(text string) uint64 {
	return maphash.String(textSeed, text)
}

// hashRaw keys a JSON string literal, quotes and escapes included.
func (c *countCache) hashRaw(literal []byte) uint64 {
	return maphash.Bytes(rawSeed, literal)
}

func (c *countCache) get(h uint64) (int, bool) {
	v := c.slots[h&(cacheSlots-1)].Load()
	if v == 0 || v>>countBits != h>>countBits {
		return 0, false
	}
	return int(v&countMask) - 1, true
}

func (c *countCache) put(h uint64, n int) {
	if n+1 > countMask {
		return // counts over 16M tokens are not worth a slot
	}
	c.slots[h&(cacheSlots-1)].Store(h>>countBits<<countBits | uint64(n+1))
}
