package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/labstack/echo/v4"

	"oneapi/keys"
	"oneapi/queries"
	"oneapi/relay"
	"oneapi/relay/adaptor"
	"oneapi/state"
)

// apiChannel is a channel in One API's JSON shape. Key is always empty: keys
// are write-only, and the field is kept only so that a script that reads a
// channel, edits it and sends it back (an empty key keeps the stored one)
// works unchanged. KeyHint is ours: the key's last characters.
type apiChannel struct {
	ID                 int64   `json:"id"`
	Type               int32   `json:"type"`
	Key                string  `json:"key"`
	KeyHint            string  `json:"key_hint"`
	Status             int16   `json:"status"`
	Name               string  `json:"name"`
	Weight             int32   `json:"weight"`
	CreatedTime        int64   `json:"created_time"`
	TestTime           int64   `json:"test_time"`
	ResponseTime       int32   `json:"response_time"` // milliseconds
	BaseURL            string  `json:"base_url"`
	Other              string  `json:"other"` // One API's deprecated field, always ""
	Balance            float64 `json:"balance"`
	BalanceUpdatedTime int64   `json:"balance_updated_time"`
	Models             string  `json:"models"`
	Group              string  `json:"group"`
	UsedQuota          int64   `json:"used_quota"`
	ModelMapping       string  `json:"model_mapping"`
	Priority           int64   `json:"priority"`
	Config             string  `json:"config"`
	SystemPrompt       string  `json:"system_prompt"`
	TestModel          string  `json:"test_model"`
}

func toAPIChannel(r queries.Channel) apiChannel {
	return apiChannel{
		ID: r.ID, Type: r.Type, KeyHint: r.KeyHint, Status: r.Status, Name: r.Name, Weight: r.Weight,
		CreatedTime: r.CreatedAt.Unix(), TestTime: unixOrZero(r.TestTime), ResponseTime: r.ResponseTimeMs,
		BaseURL: r.BaseURL, Balance: r.Balance, BalanceUpdatedTime: unixOrZero(r.BalanceUpdatedAt),
		Models: r.Models, Group: r.Groups, UsedQuota: r.UsedQuota, ModelMapping: r.ModelMapping,
		Priority: r.Priority, Config: state.RedactConfig(r.Config), SystemPrompt: r.SystemPrompt, TestModel: r.TestModel,
	}
}

func toAPIChannels(rows []queries.Channel) []apiChannel {
	out := make([]apiChannel, 0, len(rows))
	for _, r := range rows {
		out = append(out, toAPIChannel(r))
	}
	return out
}

// channelInput is a channel as submitted, in One API's field names. It is
// shared by the JSON API and the console form: validate normalises it and
// says what is wrong in words a person can act on.
type channelInput struct {
	ID           int64      `json:"id"`
	Type         int        `json:"type"`
	Key          string     `json:"key"`
	Name         string     `json:"name"`
	BaseURL      string     `json:"base_url"`
	Models       string     `json:"models"`
	Group        string     `json:"group"`
	ModelMapping flexString `json:"model_mapping"`
	Priority     int64      `json:"priority"`
	Weight       int64      `json:"weight"`
	Status       int        `json:"status"`
	Config       flexString `json:"config"`
	SystemPrompt string     `json:"system_prompt"`
	TestModel    string     `json:"test_model"`
	// Other is One API's deprecated field; for Azure it held the API version.
	Other string `json:"other"`
}

// channelInputFrom fills an input with a stored channel, so that a PUT
// decoded over it changes only the fields it names.
func channelInputFrom(r queries.Channel) channelInput {
	return channelInput{
		ID: r.ID, Type: int(r.Type), Name: r.Name, BaseURL: r.BaseURL, Models: r.Models, Group: r.Groups,
		ModelMapping: flexString(r.ModelMapping), Priority: r.Priority, Weight: int64(r.Weight),
		Status: int(r.Status), Config: flexString(r.Config), SystemPrompt: r.SystemPrompt, TestModel: r.TestModel,
	}
}

// servedType refuses a channel type no adaptor serves yet: such a channel
// could only fail every request sent to it. (A channel stored with one stays
// editable.)
func servedType(typ int) error {
	if adaptor.For(typ) != nil {
		return nil
	}
	t, _ := adaptor.TypeByID(typ)
	return invalidField("type", "%s channels are not supported yet; if the provider offers an OpenAI-compatible endpoint, use the OpenAI type (or \"Custom\") with that base URL", t.Name)
}

// validate checks and normalises in, and returns its keys: one per line on
// create (One API makes a channel per key), at most one on update, where no
// key keeps the stored one. A multi_key channel keeps all its lines as its
// one key field, used in rotation.
func (in *channelInput) validate(create bool) ([]string, error) {
	t, ok := adaptor.TypeByID(in.Type)
	if !ok {
		return nil, invalidField("type", "unknown channel type %d", in.Type)
	}
	if create {
		if err := servedType(in.Type); err != nil {
			return nil, err
		}
	}
	in.Name = strings.TrimSpace(in.Name)

	chKeys := splitChannelKeys(in.Key)
	if create && len(chKeys) == 0 {
		return nil, invalidField("key", "key is required")
	}

	models := splitCommaList(in.Models)
	if len(models) == 0 {
		return nil, invalidField("models", "models: list at least one model, comma-separated")
	}
	in.Models = strings.Join(models, ",")
	groups := splitCommaList(in.Group)
	if len(groups) == 0 {
		groups = []string{"default"}
	}
	in.Group = strings.Join(groups, ",")
	in.TestModel = strings.TrimSpace(in.TestModel)

	in.ModelMapping = flexString(strings.TrimSpace(string(in.ModelMapping)))
	if in.ModelMapping != "" {
		var m map[string]string
		if json.Unmarshal([]byte(in.ModelMapping), &m) != nil || m == nil {
			return nil, invalidField("model_mapping", `model_mapping must be a JSON object of model name to model name, like {"gpt-4o":"gpt-4o-2024-08-06"}`)
		}
	}
	in.Config = flexString(strings.TrimSpace(string(in.Config)))
	var cfg map[string]string
	if in.Config != "" {
		if json.Unmarshal([]byte(in.Config), &cfg) != nil || cfg == nil {
			return nil, invalidField("config", `config must be a JSON object with string values, like {"api_version":"2024-10-21"}`)
		}
	}
	// Headers, proxy, timeout, keys in rotation (state/channel_options.go).
	if _, err := state.ParseChannelOptions(cfg); err != nil {
		return nil, invalidField("config", "%s", err)
	}
	if state.MultiKeyConfig(cfg) && len(chKeys) > 1 {
		chKeys = []string{strings.Join(chKeys, "\n")} // one channel, its keys in rotation
	}
	if !create && len(chKeys) > 1 {
		return nil, invalidField("key", "key: an update takes one key; create a channel for each other key, or set \"multi_key\": \"true\" in config to use them all in rotation")
	}
	// One API kept Azure's API version in "other" before config existed.
	if v := strings.TrimSpace(in.Other); v != "" && in.Type == adaptor.TypeAzure && cfg["api_version"] == "" {
		if cfg == nil {
			cfg = map[string]string{}
		}
		cfg["api_version"] = v
		b, _ := json.Marshal(cfg)
		in.Config = flexString(b)
	}

	in.BaseURL = strings.TrimSpace(in.BaseURL)
	if in.BaseURL != "" {
		u, err := url.Parse(in.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, invalidField("base_url", "base_url must be an http:// or https:// URL")
		}
	} else if t.BaseURL == "" {
		return nil, invalidField("base_url", "base_url is required for channel type %s", t.Name)
	}

	if in.Weight < 0 || in.Weight > math.MaxInt32 {
		return nil, invalidField("weight", "weight must be a whole number ≥ 0")
	}
	if create && in.Status == 0 {
		in.Status = state.StatusEnabled
	}
	if in.Status < state.StatusEnabled || in.Status > state.StatusAutoDisabled {
		return nil, invalidField("status", "status must be 1 (enabled), 2 (disabled) or 3 (disabled automatically)")
	}
	return chKeys, nil
}

// splitChannelKeys splits One API's batch key field: one key per line. A
// key that is a JSON document (a Vertex AI service account) is one key
// however many lines it has.
func splitChannelKeys(s string) []string {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil
	}
	if strings.HasPrefix(s, "{") && json.Valid([]byte(s)) {
		return []string{s}
	}
	var out []string
	for line := range strings.SplitSeq(s, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	return out
}

// apiChannelList is GET /api/channel/?p=: one page, newest first.
func (h *Handler) apiChannelList(c echo.Context) error {
	limit, offset := apiPage(c)
	rows, err := h.q.ChannelList(c.Request().Context(), queries.ChannelListParams{Limit: limit, Offset: offset})
	if err != nil {
		return err
	}
	return apiOK(c, toAPIChannels(rows))
}

// apiChannelSearch is GET /api/channel/search?keyword=.
func (h *Handler) apiChannelSearch(c echo.Context) error {
	rows, err := h.q.ChannelSearch(c.Request().Context(), strings.TrimSpace(c.QueryParam("keyword")))
	if err != nil {
		return err
	}
	return apiOK(c, toAPIChannels(rows))
}

// apiChannelGet is GET /api/channel/:id.
func (h *Handler) apiChannelGet(c echo.Context) error {
	id, err := apiPathID(c)
	if err != nil {
		return err
	}
	row, err := h.q.ChannelGetByID(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return apiOK(c, toAPIChannel(row))
}

// apiChannelCreate is POST /api/channel/. The key field may hold several
// keys, one per line: each becomes a channel with the same settings and
// name, as in One API. All are created or none. The reply's data lists the
// new channels (One API sends none; scripts ignore it).
func (h *Handler) apiChannelCreate(c echo.Context) error {
	body, err := apiReadBody(c)
	if err != nil {
		return err
	}
	var in channelInput
	if err := apiUnmarshal(body, &in); err != nil {
		return err
	}
	chKeys, err := in.validate(true)
	if err != nil {
		return err
	}
	rows, err := h.createChannels(c.Request().Context(), in, chKeys)
	if err != nil {
		return err
	}
	h.apiReload(c, state.KindChannels, 0)
	return apiOK(c, toAPIChannels(rows))
}

// createChannels stores one channel per key, all with in's settings, in one
// transaction: all are created or none. in must have been validated. The
// console's form and the JSON API both create through here.
func (h *Handler) createChannels(ctx context.Context, in channelInput, chKeys []string) ([]queries.Channel, error) {
	created := make([]queries.Channel, 0, len(chKeys))
	err := queries.InTx(ctx, h.pool, func(q *queries.Queries) error {
		for _, k := range chKeys {
			row, err := q.ChannelCreate(ctx, queries.ChannelCreateParams{
				Type: int32(in.Type), Name: in.Name, KeyCiphertext: h.cipher.Seal(k), KeyHint: keys.Hint(k),
				BaseURL: in.BaseURL, Models: in.Models, ModelMapping: string(in.ModelMapping), Groups: in.Group,
				Priority: in.Priority, Weight: int32(in.Weight), Status: int16(in.Status), Config: state.SealConfig(h.cipher, string(in.Config)),
				SystemPrompt: in.SystemPrompt, TestModel: in.TestModel,
			})
			if err != nil {
				return err
			}
			created = append(created, row)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("create channels: %w", err)
	}
	return created, nil
}

// apiChannelUpdate is PUT /api/channel/ with the channel's id in the body.
// Fields the body leaves out keep their values (One API's update skips zero
// fields too, so {"id":3,"status":2} disables channel 3); an empty key keeps
// the stored key.
func (h *Handler) apiChannelUpdate(c echo.Context) error {
	body, err := apiReadBody(c)
	if err != nil {
		return err
	}
	var ref struct {
		ID int64 `json:"id"`
	}
	if err := apiUnmarshal(body, &ref); err != nil {
		return err
	}
	if ref.ID <= 0 {
		return apiInvalid("id is required")
	}
	updated, err := h.updateChannel(c.Request().Context(), ref.ID, h.currentUser(c).Role >= roleRoot, func(in *channelInput) error {
		return apiUnmarshal(body, in)
	})
	if err != nil {
		return err
	}
	h.apiReload(c, state.KindChannels, updated.ID)
	return apiOK(c, toAPIChannel(updated))
}

// updateChannel is the read-modify-write of one channel: the stored channel,
// locked, becomes an input that apply changes (the JSON API decodes a body
// over it, the console sets the form's fields), then it is validated and
// saved. An empty key keeps the stored key. The console and the JSON API both
// update through here; a validation failure comes back as invalidField's error.
// byRoot is whether root makes the change (see keyFollowsChannel).
func (h *Handler) updateChannel(ctx context.Context, id int64, byRoot bool, apply func(*channelInput) error) (queries.Channel, error) {
	var updated queries.Channel
	err := queries.InTx(ctx, h.pool, func(q *queries.Queries) error {
		cur, err := q.ChannelGetByIDForUpdate(ctx, id)
		if err != nil {
			return err
		}
		in := channelInputFrom(cur)
		stored, err := state.OpenConfig(h.cipher, cur.Config)
		if err != nil {
			return err
		}
		in.Config = flexString(stored)
		if err := apply(&in); err != nil {
			return err
		}
		in.Config = flexString(state.UnredactConfig(string(in.Config), stored))
		in.ID = cur.ID
		chKeys, err := in.validate(false)
		if err != nil {
			return err
		}
		if !byRoot {
			if err := keyFollowsChannel(cur, in, len(chKeys) > 0, stored); err != nil {
				return err
			}
		}
		if in.Type != int(cur.Type) {
			if err := servedType(in.Type); err != nil {
				return err
			}
		}
		p := queries.ChannelUpdateParams{
			ID: cur.ID, Type: int32(in.Type), Name: in.Name, BaseURL: in.BaseURL, Models: in.Models,
			ModelMapping: string(in.ModelMapping), Groups: in.Group, Priority: in.Priority, Weight: int32(in.Weight),
			Status: int16(in.Status), Config: state.SealConfig(h.cipher, string(in.Config)), SystemPrompt: in.SystemPrompt, TestModel: in.TestModel,
		}
		if len(chKeys) == 1 {
			p.KeyCiphertext = h.cipher.Seal(chKeys[0])
			p.KeyHint = pgtype.Text{String: keys.Hint(chKeys[0]), Valid: true}
		}
		updated, err = q.ChannelUpdate(ctx, p)
		return err
	})
	return updated, err
}

// keyFollowsChannel refuses an admin's change of where a channel's stored
// credentials go — its base URL, type or proxy — unless the key and every
// secret config value are entered again: otherwise a stolen admin session
// could send a stored upstream key to any host. Root may.
func keyFollowsChannel(cur queries.Channel, in channelInput, keyEntered bool, storedConfig string) error {
	var what string
	switch {
	case in.BaseURL != cur.BaseURL:
		what = "the base URL"
	case in.Type != int(cur.Type):
		what = "the type"
	case state.ConfigProxy(string(in.Config)) != state.ConfigProxy(storedConfig):
		what = "the proxy"
	default:
		return nil
	}
	if !keyEntered {
		return invalidField("key", "changing %s of a channel sends its key somewhere else: enter the key again (or ask root)", what)
	}
	if kept := state.KeptSecrets(string(in.Config), storedConfig); len(kept) > 0 {
		return invalidField("config", "changing %s of a channel sends its stored secrets somewhere else: enter %s again (or ask root)", what, strings.Join(kept, ", "))
	}
	return nil
}

// apiChannelDelete is DELETE /api/channel/:id.
func (h *Handler) apiChannelDelete(c echo.Context) error {
	id, err := apiPathID(c)
	if err != nil {
		return err
	}
	n, err := h.q.ChannelDelete(c.Request().Context(), id)
	if err != nil {
		return err
	}
	if n == 0 {
		return echo.NewHTTPError(http.StatusNotFound, "channel not found")
	}
	h.apiReload(c, state.KindChannels, id)
	return apiOK(c, nil)
}

// apiProbeReply is One API's reply to a channel test: time is in seconds,
// at the top level rather than in data. Model is the model that was tried.
type apiProbeReply struct {
	Success bool    `json:"success"`
	Message string  `json:"message"`
	Time    float64 `json:"time"`
	Model   string  `json:"model"`
}

// apiChannelProbe is GET /api/channel/test/:id?model=: one tiny real chat
// request through the channel. The result (response time, or 0 on failure,
// as One API records it) and the test time are stored on the channel. A
// failed test answers 502 (504 on a timeout) with the upstream's message,
// never the key. An answer slower than ChannelDisableThreshold is a 504 too,
// and disables the channel when AutomaticDisableChannelEnabled.
func (h *Handler) apiChannelProbe(c echo.Context) error {
	id, err := apiPathID(c)
	if err != nil {
		return err
	}
	res, err := h.probeChannel(c, id, c.QueryParam("model"))
	if err != nil {
		return err
	}
	reply := apiProbeReply{Success: res.Err == nil, Time: float64(res.Elapsed.Milliseconds()) / 1000, Model: res.Model}
	if res.Err == nil && res.TooSlow != "" {
		// Too slow for the operator's threshold: a gateway timeout by
		// policy, though the answer came (its time is in the reply).
		reply.Success, reply.Message = false, res.slowMessage()
		return c.JSON(http.StatusGatewayTimeout, reply)
	}
	if res.Err == nil {
		return c.JSON(http.StatusOK, reply)
	}
	reply.Message = res.Err.Error()
	code := http.StatusBadGateway
	var ue *adaptor.UpstreamError
	if errors.As(res.Err, &ue) && ue.Status == http.StatusGatewayTimeout {
		code = http.StatusGatewayTimeout
	}
	return c.JSON(code, reply)
}

// probeResult is one channel test: the model tried, how long it took, and
// the upstream's failure (nil when the channel answered). TooSlow is set when
// the answer came after ChannelDisableThreshold, and Disabled when that
// disabled the channel.
type probeResult struct {
	Model    string
	Elapsed  time.Duration
	Err      error
	TooSlow  string
	Disabled bool
}

// slowMessage tells the person testing why an answer counts as a failure.
func (r probeResult) slowMessage() string {
	msg := "answered, but the " + r.TooSlow
	if r.Disabled {
		msg += "; the channel was disabled automatically"
	}
	return msg
}

// probeChannel tests channel id with one tiny real chat request and records
// the result (response time, or 0 on failure, as One API does) and the test
// time on the channel. The returned error is a failure to run the test at
// all (no such channel, database); the upstream's answer is in the result,
// and its message never contains the key. The console's "test" button and
// the JSON API both test through here.
func (h *Handler) probeChannel(c echo.Context, id int64, model string) (probeResult, error) {
	ctx := c.Request().Context()
	if _, err := h.q.ChannelGetByID(ctx, id); err != nil {
		return probeResult{}, err
	}
	ch := h.state.Routes().Channel(id)
	if ch == nil {
		// Created on another node a moment ago, or the state is behind.
		h.apiReload(c, state.KindChannels, id)
		if ch = h.state.Routes().Channel(id); ch == nil {
			return probeResult{}, errors.New("channel is in the database but not in the routing state: is its key encrypted with another ENCRYPTION_KEY?")
		}
	}
	model = relay.ProbeModel(ch, model)
	elapsed, perr := relay.Probe(ctx, h.upstream, ch, model)
	// 0 means "failed" (One API's convention), so a pass faster than a
	// millisecond (a local upstream) is recorded as 1.
	ms := int32(min(max(elapsed.Milliseconds(), 1), math.MaxInt32))
	if perr != nil {
		ms = 0
	}
	// The test result is not routing state, so no reload follows; and it is
	// recorded even if the client has gone away.
	if err := h.q.ChannelSetTestResult(context.WithoutCancel(ctx), queries.ChannelSetTestResultParams{ID: id, ResponseTimeMs: ms}); err != nil {
		return probeResult{}, err
	}
	if perr != nil {
		h.log.Info("channel test failed", "id", c.Response().Header().Get(echo.HeaderXRequestID), "channel", id, "model", model, "err", perr.Error())
		return probeResult{Model: model, Elapsed: elapsed, Err: perr}, nil
	}
	res := probeResult{Model: model, Elapsed: elapsed}
	opts := h.state.Options()
	if res.TooSlow = opts.ProbeTooSlow(elapsed); res.TooSlow != "" && ch.Status == state.StatusEnabled && opts.AutoDisableChannel {
		// As the probe job does: the state writes the system log row with
		// the change and applies it here; the trigger tells the other nodes.
		if err := h.state.DisableChannel(context.WithoutCancel(ctx), id, "test too slow: "+res.TooSlow); err != nil {
			return probeResult{}, fmt.Errorf("disable slow channel %d: %w", id, err)
		}
		now := h.state.Routes().Channel(id)
		res.Disabled = now != nil && now.Status == state.StatusAutoDisabled
		h.log.Warn("channel disabled by its test", "id", c.Response().Header().Get(echo.HeaderXRequestID),
			"channel", id, "reason", res.TooSlow)
	}
	return res, nil
}
