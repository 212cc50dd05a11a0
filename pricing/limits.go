package pricing

// DefaultWebSearchCallQuota is what one web search tool call costs (before
// the group ratio): $10 per 1000 calls, OpenAI's and Anthropic's list price,
// at the default QuotaPerUnit.
const DefaultWebSearchCallQuota = 5000

// MaxOutput is the model's maximum output tokens as the price table knows
// it, or 0 when unknown. A reservation must cover it.
func MaxOutput(model string) int {
	if e, ok := Lookup(model); ok {
		return e.MaxOutput
	}
	return 0
}
