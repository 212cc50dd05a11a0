package relay

import (
	"fmt"
	"time"

	"oneapi/queries"
)

// Failed requests get a log row (LogTypeError): a request that reserved
// quota but that no upstream served, with the last error's status and code,
// the channel tried last and the time taken, so an operator sees failures
// in the console and the error rate is real. Under a flood a key gets at
// most failureLogsPerMinute such rows a minute; the next row written says
// how many were left out. Refusals before any upstream call (bad key,
// quota, rate limits) get none: they cost nothing and are counted in the
// metrics.
const (
	LogTypeError         = 5 // as new-api numbers it
	failureLogsPerMinute = 30
)

// Failure is why no upstream served a request.
type Failure struct {
	Status   int
	Code     string
	Message  string // redacted by the adaptor
	Attempts int
}

// failureBudget counts one key's failure rows in the current minute.
type failureBudget struct {
	since   time.Time
	logged  int
	dropped int
}

// admitFailureLog reports whether s's failure gets a row, and how many
// failures of its key were left out before it. m.smu must be held.
func (m *Meter) admitFailureLog(s *Settlement) (bool, int) {
	if m.failures == nil {
		m.failures = map[int64]*failureBudget{}
	}
	b := m.failures[s.TokenID]
	if b == nil || s.At.Sub(b.since) >= time.Minute {
		if len(m.failures) > 10_000 { // forget quiet keys
			for id, o := range m.failures {
				if s.At.Sub(o.since) >= time.Minute && o.dropped == 0 {
					delete(m.failures, id)
				}
			}
		}
		dropped := 0
		if b != nil {
			dropped = b.dropped
		}
		b = &failureBudget{since: s.At}
		m.failures[s.TokenID] = b
		b.logged++
		return true, dropped
	}
	if b.logged >= failureLogsPerMinute {
		b.dropped++
		return false, 0
	}
	b.logged++
	return true, 0
}

func failureRow(s Settlement) queries.LogInsertManyParams {
	f := s.Failure
	content := fmt.Sprintf("failed: status %d, code %s, after %d attempt(s): %s", f.Status, f.Code, f.Attempts, f.Message)
	if s.Content != "" {
		content += " (" + s.Content + ")"
	}
	return queries.LogInsertManyParams{
		CreatedAt: s.At, Type: LogTypeError, UserID: s.UserID, Username: s.Username,
		TokenID: s.TokenID, TokenName: s.TokenName, ChannelID: s.ChannelID, ModelName: s.Model,
		ElapsedMs: clampInt32(int(s.Elapsed.Milliseconds())), IsStream: s.Stream, RequestID: s.RequestID, Content: content,
	}
}
