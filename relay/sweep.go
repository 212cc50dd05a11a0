package relay

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"oneapi/queries"
)

// SweepStale settles, at their estimate, the reservations of nodes that
// stopped renewing their meter_nodes row more than deadAfter ago: they died
// before settling. A live node's requests are never swept, however long they
// run. Each becomes a log row that says so. Leases not renewed for
// leaseStaleAfter (or deadAfter, if shorter) go back to their tokens and
// users first, then the reservation rows drawn from them are billed likewise.
func (m *Meter) SweepStale(ctx context.Context, deadAfter time.Duration) (int, error) {
	var n int
	now := time.Now()
	err := pgx.BeginFunc(ctx, m.pool, func(tx pgx.Tx) error {
		n = 0
		q := m.q.WithTx(tx)
		var agg settleAggregate
		var logs []queries.LogInsertManyParams
		if err := q.MeterFlushForget(ctx); err != nil {
			return err
		}
		if err := q.MeterNodeForget(ctx); err != nil {
			return err
		}
		// Concurrency slots a stopped node held (ratelimit.go).
		if err := q.RateSlotsOfDeadNodes(ctx, now.Add(-deadAfter)); err != nil {
			return err
		}
		leases, err := q.LeaseTakeStale(ctx, now.Add(-min(deadAfter, leaseStaleAfter)))
		if err != nil {
			return err
		}
		for _, l := range leases {
			agg.tokens.add(l.TokenID, l.TokenEpoch, l.Amount, 0, 0, false, 0)
			agg.users.add(l.UserID, l.UserEpoch, l.Amount, 0, 0, false, 0)
			logs = append(logs, queries.LogInsertManyParams{
				CreatedAt: now, Type: LogTypeSystem, UserID: l.UserID, TokenID: l.TokenID,
				Content: fmt.Sprintf("node %s stopped renewing its quota lease %d: %d quota it still held went back to the token "+
					"(requests it began in its last %s, if any, were not billed)", l.NodeID, l.ID, l.Amount, journalAfter+settleEvery),
			})
		}
		stale, err := q.ReservationTakeStale(ctx, now.Add(-deadAfter))
		if err != nil {
			return err
		}
		n = len(leases) + len(stale)
		if n == 0 {
			return nil
		}
		for _, r := range stale {
			s := Settlement{
				Ticket:   Ticket{ReservationID: r.ID, Granted: r.Quota, TokenEpoch: r.TokenEpoch, UserEpoch: r.UserEpoch},
				Reserved: r.Quota, Quota: r.Quota, UserID: r.UserID, TokenID: r.TokenID,
				ChannelID: r.ChannelID, Model: r.ModelName, Stream: r.IsStream, RequestID: r.RequestID,
				Served: true, At: r.CreatedAt,
				Content: fmt.Sprintf("settled at the reserved estimate by the sweeper: node %s stopped before settling it", r.NodeID),
			}
			agg.add(s, 0, 0)
			logs = append(logs, logRow(s))
		}
		if _, err := q.LogInsertMany(ctx, logs); err != nil {
			return err
		}
		return agg.apply(ctx, q)
	})
	return n, err
}
