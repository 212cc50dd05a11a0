package handlers

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"oneapi/keys"
	"oneapi/relay"
	"oneapi/state"
)

// The JSON API of what a channel's keys and models are upstream:
//
//	GET  /api/channel/keys/:id         the keys of a multi-key channel: hint, enabled, why disabled
//	POST /api/channel/keys/:id/enable  enable its disabled keys again ({"hint": "…abcd"} for one)
//	GET  /api/channel/fetch_models/:id the models the upstream says the channel serves

// channelOf returns channel id from the routing state (reloading once for
// a channel created on another node a moment ago).
func (h *Handler) channelOf(c echo.Context, id int64) (*state.Channel, error) {
	if _, err := h.q.ChannelGetByID(c.Request().Context(), id); err != nil {
		return nil, err
	}
	ch := h.state.Routes().Channel(id)
	if ch == nil {
		h.apiReload(c, state.KindChannels, id)
		if ch = h.state.Routes().Channel(id); ch == nil {
			return nil, errors.New("channel is in the database but not in the routing state: is its key encrypted with another ENCRYPTION_KEY?")
		}
	}
	return ch, nil
}

// apiChannelKeys is GET /api/channel/keys/:id. A channel with one key lists
// it as enabled: its status is the channel's.
func (h *Handler) apiChannelKeys(c echo.Context) error {
	id, err := apiPathID(c)
	if err != nil {
		return err
	}
	ch, err := h.channelOf(c, id)
	if err != nil {
		return err
	}
	if ch.Keys == nil {
		return apiOK(c, []state.KeyStatus{{Index: 0, Hint: keys.Hint(ch.Key), Enabled: true}})
	}
	return apiOK(c, ch.Keys.Statuses())
}

// apiChannelKeysEnable is POST /api/channel/keys/:id/enable: the channel's
// disabled keys (or the one whose hint the body names) serve again. The
// reply's data is how many were enabled.
func (h *Handler) apiChannelKeysEnable(c echo.Context) error {
	id, err := apiPathID(c)
	if err != nil {
		return err
	}
	var in struct {
		Hint string `json:"hint"`
	}
	if body, err := apiReadBody(c); err != nil {
		return err
	} else if len(body) > 0 {
		if err := apiUnmarshal(body, &in); err != nil {
			return err
		}
	}
	if _, err := h.channelOf(c, id); err != nil {
		return err
	}
	n, err := h.state.EnableChannelKeys(c.Request().Context(), id, in.Hint)
	if err != nil {
		return err
	}
	return apiOK(c, n)
}

// fetchModelsTimeout bounds a model listing upstream.
const fetchModelsTimeout = 30 * time.Second

// apiChannelFetchModels is GET /api/channel/fetch_models/:id: the models the
// channel's upstream lists (its /v1/models, Ollama's /api/tags, TGI's
// /info, or the list its preset knows), for the channel form's model field.
// An upstream failure answers 502 with its message, never the key.
func (h *Handler) apiChannelFetchModels(c echo.Context) error {
	id, err := apiPathID(c)
	if err != nil {
		return err
	}
	ch, err := h.channelOf(c, id)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), fetchModelsTimeout)
	defer cancel()
	models, err := relay.ListModels(ctx, h.upstream, ch)
	if err != nil {
		return c.JSON(http.StatusBadGateway, map[string]any{"success": false, "message": err.Error()})
	}
	return apiOK(c, models)
}
