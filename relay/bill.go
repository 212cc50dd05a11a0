package relay

import (
	"fmt"

	"oneapi/pricing"
	"oneapi/relay/adaptor"
	"oneapi/state"
)

// Reservation policy. A request is reserved for the most it can cost: its
// prompt plus all the output it may produce (the client's max_tokens, else
// the model's known maximum output, else PreConsumedCompletionTokens), times
// n. When the token or user cannot cover that, it gets what they have, down
// to the cost of minOutput tokens, and the gateway sends upstream the
// max_tokens that grant pays for. So a request's cost never exceeds its
// reservation by more than its prompt was underestimated (or by what an
// upstream writes beyond the max_tokens it was sent); that excess is still
// billed and logged.
const minOutput = 64

// bill is how one request is priced on one channel.
type bill struct {
	price  pricing.Price
	model  string // what is priced and sent upstream: the channel's model mapping applied
	priced bool
	note   string // for the log row
	// tokenImages: an image model priced by token (gpt-image-1) rather than
	// per image.
	tokenImages bool
}

// billFor prices p on ch: the model that serves it (after the channel's
// mapping) at its price for this channel type and group, else the
// requested alias's price, else UnpricedModelRatio.
func (s *Server) billFor(opts *state.Options, ch *state.Channel, p *parsed, group string) bill {
	up := ch.UpstreamModel(p.model)
	price, priced := opts.Price(up, group, ch.Type)
	if !priced && up != p.model {
		if alias, ok := opts.Price(p.model, group, ch.Type); ok {
			price, priced = alias, true
		}
	}
	b := bill{price: price, model: up, priced: priced}
	if !priced {
		b.note = fmt.Sprintf("model has no price: billed at the default ratio %g", price.Model)
	}
	if p.mode == adaptor.ModeImages {
		_, b.tokenImages = opts.ImageCompletionRatio[up]
	}
	return b
}

// limitable: modes whose output the gateway can bound with max_tokens.
func limitable(m adaptor.Mode) bool {
	return m == adaptor.ModeChat || m == adaptor.ModeCompletions || m == adaptor.ModeResponses
}

// outputCap is the most output tokens one answer of p may have.
func (b bill) outputCap(p *parsed, opts *state.Options) int {
	switch p.mode {
	case adaptor.ModeChat, adaptor.ModeCompletions, adaptor.ModeResponses:
		if p.maxOutput > 0 {
			return p.maxOutput
		}
		if n := opts.MaxOutput(b.model); n > 0 {
			return n
		}
		return opts.PreConsumedCompletions
	case adaptor.ModeAudioTranscription, adaptor.ModeAudioTranslation:
		return opts.PreConsumedCompletions // a transcript's length cannot be bounded upstream
	}
	return 0
}

// reservePlan is what to reserve: at most max, at least min.
type reservePlan struct{ min, max int64 }

func (b bill) plan(p *parsed, opts *state.Options) reservePlan {
	switch {
	case b.tokenImages:
		q := pricing.Cost(b.price, pricing.Usage{Input: p.promptTokens, Output: p.imageTokens, ImageOut: p.imageTokens})
		return reservePlan{q, q}
	case p.perCall > 0:
		q := pricing.PerCall(b.price, p.perCall)
		return reservePlan{q, q}
	}
	outCap := b.outputCap(p, opts)
	most := pricing.Cost(b.price, pricing.Usage{Input: p.promptTokens, Output: satMul(outCap, p.choices)})
	if !limitable(p.mode) {
		return reservePlan{most, most}
	}
	least := pricing.Cost(b.price, pricing.Usage{Input: p.promptTokens, Output: satMul(min(outCap, minOutput), p.choices)})
	return reservePlan{least, most}
}

// outputLimit is the max_tokens to send upstream on ch for a request
// granted granted: 0 to leave the request as it is (its own limit, or the
// model's, bounds it within the grant), -1 when the grant does not pay for
// the prompt at this channel's price.
func (b bill) outputLimit(p *parsed, opts *state.Options, ch *state.Channel, granted int64) int {
	if !limitable(p.mode) {
		return 0
	}
	outCap := b.outputCap(p, opts)
	afford := pricing.AffordableOutput(b.price, p.promptTokens, granted)
	if afford < 0 {
		return -1
	}
	limit := min(outCap, afford/p.choices)
	if limit < 1 {
		return -1
	}
	// Bounded without help: by the client's own limit, or by the model's
	// known maximum on an upstream that applies it by itself. Anthropic
	// and the other native APIs need a max_tokens in any case.
	t, _ := adaptor.TypeByID(ch.Type)
	bounded := p.maxOutput > 0 || (opts.MaxOutput(b.model) > 0 && t.OpenAICompatible)
	if limit < outCap || !bounded {
		return limit
	}
	return 0
}

// cost is what a served attempt costs.
func (b bill) cost(p *parsed, o outcome) int64 {
	if p.mode == adaptor.ModeImages && (!b.tokenImages || o.perCall) {
		return pricing.PerCall(b.price, p.perCall)
	}
	return pricing.Cost(b.price, o.usage)
}

func satMul(a, b int) int {
	if a <= 0 || b <= 0 {
		return 0
	}
	if a > (1<<31)/b {
		return 1 << 31
	}
	return a * b
}
