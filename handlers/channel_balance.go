package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"oneapi/relay/adaptor"
	"oneapi/views"
)

// BalanceUpdater is what the handlers need of the channel balance updates
// (jobs.River): the same fetch the balance job runs, on the caller's
// goroutine for one channel, or enqueued for all.
type BalanceUpdater interface {
	// HasBalanceAPI reports whether channels of the type have a balance
	// endpoint at their provider.
	HasBalanceAPI(channelType int) bool
	// UpdateChannelBalance asks the provider now, records the balance and
	// returns it. A provider's failure is an *adaptor.UpstreamError whose
	// message never contains the key.
	UpdateChannelBalance(ctx context.Context, id int64) (float64, error)
	// EnqueueChannelBalances enqueues an update of every enabled channel
	// with a balance API.
	EnqueueChannelBalances(ctx context.Context) (channels, enqueued int, err error)
}

// apiBalanceReply is One API's reply to a balance update: the balance at the
// top level. Data repeats it in our usual place.
type apiBalanceReply struct {
	Success bool               `json:"success"`
	Message string             `json:"message"`
	Balance float64            `json:"balance"`
	Data    map[string]float64 `json:"data"`
}

// apiChannelUpdateBalance is GET /api/channel/update_balance/:id: the
// channel's balance asked of its provider now and recorded. A provider's
// failure answers 502 with its message (never the key); a type without a
// balance endpoint 422.
func (h *Handler) apiChannelUpdateBalance(c echo.Context) error {
	id, err := apiPathID(c)
	if err != nil {
		return err
	}
	balance, err := h.updateChannelBalance(c, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, apiBalanceReply{Success: true, Balance: balance, Data: map[string]float64{"balance": balance}})
}

// apiChannelUpdateBalanceAll is GET /api/channel/update_balance: One API
// updates every channel before it answers; here one job per enabled channel
// with a balance API is enqueued and the reply says how many. The balances
// arrive on the channels (balance, balance_updated_time) as the jobs run.
func (h *Handler) apiChannelUpdateBalanceAll(c echo.Context) error {
	if h.balance == nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "background jobs are not running on this node")
	}
	channels, enqueued, err := h.balance.EnqueueChannelBalances(c.Request().Context())
	if err != nil {
		return err
	}
	return apiOK(c, map[string]int{"channels": channels, "enqueued": enqueued})
}

// updateChannelBalance runs one balance update for the JSON API and the
// console, with their shared refusals: no such channel (404), a type without
// a balance endpoint (422), the provider's failure (502, its message).
func (h *Handler) updateChannelBalance(c echo.Context, id int64) (float64, error) {
	if h.balance == nil {
		return 0, echo.NewHTTPError(http.StatusServiceUnavailable, "background jobs are not running on this node")
	}
	ctx := c.Request().Context()
	row, err := h.q.ChannelGetByID(ctx, id)
	if err != nil {
		return 0, err
	}
	if !h.balance.HasBalanceAPI(int(row.Type)) {
		return 0, apiInvalid("channel type %s has no balance endpoint", channelTypeName(row.Type))
	}
	// Recorded even if the client goes away, as a test is.
	balance, err := h.balance.UpdateChannelBalance(context.WithoutCancel(ctx), id)
	if err != nil {
		var ue *adaptor.UpstreamError
		if errors.As(err, &ue) {
			return 0, echo.NewHTTPError(http.StatusBadGateway, ue.Message)
		}
		return 0, fmt.Errorf("update balance of channel %d: %w", id, err)
	}
	// A used-up balance may have disabled the channel (the job's rule):
	// that went through the state, so this node already routes accordingly.
	return balance, nil
}

// channelUpdateBalance is the console's "Balance" button: htmx gets the row
// back with the new balance (a failure becomes the flash, as every error
// does); a plain form post gets the outcome as the flash of the channel page.
func (h *Handler) channelUpdateBalance(c echo.Context) error {
	id, err := pathIDParam(c)
	if err != nil {
		return err
	}
	balance, err := h.updateChannelBalance(c, id)
	if err != nil {
		return err
	}
	if isHTMX(c) {
		return h.renderChannelRow(c, id, nil)
	}
	h.setFlash(c, fmt.Sprintf("Channel %d balance: %.2f.", id, balance))
	return redirect(c, "/channels")
}

// channelRowView is channelView with what depends on this node: whether the
// balance button can work.
func (h *Handler) channelRowView(v views.ChannelView, channelType int32) views.ChannelView {
	v.CanUpdateBalance = h.balance != nil && h.balance.HasBalanceAPI(int(channelType))
	return v
}
