package relay

import (
	"context"
	"fmt"
	"time"

	"oneapi/relay/adaptor"
	"oneapi/state"
)

// recordOutcome gives one upstream attempt's outcome to the success-rate
// tracker (ENABLE_METRIC), and disables the channel when its recent success
// rate falls under the threshold. Only what the channel is answerable for
// counts: an answer is a success; a failure the client caused (a request the
// upstream refused as malformed, ClassClient) or an attempt cut short by the
// client going away is left out.
func (s *Server) recordOutcome(ch *state.Channel, out outcome, clientGone bool) {
	t := s.cfg.SuccessRate
	if t == nil {
		return
	}
	if !out.served && (out.err == nil || out.err.Class == adaptor.ClassClient || clientGone) {
		return
	}
	rate, tripped := t.Record(ch.ID, out.served)
	if !tripped {
		return
	}
	reason := fmt.Sprintf("success rate %.0f%% over its last %d requests is under ENABLE_METRIC's threshold of %.0f%%",
		rate*100, t.Window(), t.Threshold()*100)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.state.DisableChannel(ctx, ch.ID, reason); err != nil {
		s.log.Error("auto-disable channel (success rate)", "channel", ch.ID, "err", err)
		return
	}
	s.log.Warn("channel auto-disabled", "channel", ch.ID, "name", ch.Name, "reason", reason)
}
