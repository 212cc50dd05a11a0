package handlers

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"oneapi/queries"
	"oneapi/relay/adaptor"
	"oneapi/state"
	"oneapi/views"
)

// The admin's channel pages. Validation and the writes are the JSON API's
// (channelInput.validate, createChannels, updateChannel, probeChannel), so a
// channel saved here is exactly one the API would have saved. Keys go in and
// never come out: pages show only the key hint.

const channelsPageSize = 20

func channelTypeViews() []views.ChannelTypeView {
	ts := adaptor.Types()
	out := make([]views.ChannelTypeView, 0, len(ts))
	for _, t := range ts {
		out = append(out, views.ChannelTypeView{ID: t.ID, Name: t.Name, BaseURL: t.BaseURL, Supported: adaptor.For(t.ID) != nil})
	}
	return out
}

func channelTypeName(id int32) string {
	if t, ok := adaptor.TypeByID(int(id)); ok {
		return t.Name
	}
	return "type " + strconv.Itoa(int(id))
}

func channelView(r queries.Channel) views.ChannelView {
	return views.ChannelView{
		ID: r.ID, Name: r.Name, TypeName: channelTypeName(r.Type), KeyHint: r.KeyHint, Status: r.Status,
		Groups: r.Groups, Models: r.Models, Priority: r.Priority, Weight: r.Weight, ResponseMs: r.ResponseTimeMs,
		UsedQuota: r.UsedQuota, Balance: r.Balance, BalanceAt: r.BalanceUpdatedAt, TestTime: r.TestTime,
	}
}

// channelList is the channel table: ?q= searches, ?status= and ?type=
// filter, ?p= pages (from 1). htmx requests aimed at #channel-table get only
// the table.
func (h *Handler) channelList(c echo.Context) error {
	ctx := c.Request().Context()
	v := views.ChannelsView{
		Layout: h.layout(c, "Channels"), Types: channelTypeViews(), Query: strings.TrimSpace(c.QueryParam("q")),
		Page: pageParam(c), PageSize: channelsPageSize, CanProbeAll: h.jobs != nil, Money: h.money(),
	}
	v.Status, _ = strconv.Atoi(c.QueryParam("status"))
	v.Type, _ = strconv.Atoi(c.QueryParam("type"))
	if v.Status < 0 || v.Status > int(state.StatusAutoDisabled) {
		v.Status = 0
	}
	if _, ok := adaptor.TypeByID(v.Type); !ok {
		v.Type = 0
	}
	var err error
	v.Total, err = h.q.ChannelCountFiltered(ctx, queries.ChannelCountFilteredParams{Keyword: v.Query, Status: int16(v.Status), Type: int32(v.Type)})
	if err != nil {
		return err
	}
	rows, err := h.q.ChannelListFiltered(ctx, queries.ChannelListFilteredParams{
		Keyword: v.Query, Status: int16(v.Status), Type: int32(v.Type),
		Lim: channelsPageSize, Off: int32((v.Page - 1) * channelsPageSize),
	})
	if err != nil {
		return err
	}
	for _, r := range rows {
		v.Channels = append(v.Channels, h.channelRowView(channelView(r), r.Type))
	}
	if wantsPartial(c, "channel-table") {
		return render(c, h.channelPollStatus(c), views.ChannelTable(v))
	}
	return render(c, http.StatusOK, views.ChannelsPage(v))
}

func (h *Handler) channelNew(c echo.Context) error {
	in := views.ChannelInputView{Type: adaptor.TypeOpenAI, Groups: "default", Priority: "0", Weight: "0"}
	return h.renderChannelForm(c, nil, in, false, nil)
}

// channelFormInput reads the create/edit form into the API's input; errs
// holds the numbers that are not numbers.
func channelFormInput(c echo.Context) (channelInput, views.ChannelInputView, map[string]string) {
	form := views.ChannelInputView{
		Name: c.FormValue("name"), BaseURL: c.FormValue("base_url"), Models: c.FormValue("models"),
		ModelMapping: c.FormValue("model_mapping"), Groups: c.FormValue("group"), Priority: c.FormValue("priority"),
		Weight: c.FormValue("weight"), Config: c.FormValue("config"), SystemPrompt: c.FormValue("system_prompt"),
		TestModel: c.FormValue("test_model"),
	}
	errs := map[string]string{}
	form.Type, _ = strconv.Atoi(c.FormValue("type"))
	in := channelInput{
		Type: form.Type, Key: c.FormValue("key"), Name: form.Name, BaseURL: form.BaseURL, Models: form.Models,
		Group: form.Groups, ModelMapping: flexString(form.ModelMapping), Config: flexString(form.Config),
		SystemPrompt: form.SystemPrompt, TestModel: form.TestModel,
	}
	var ok bool
	if in.Priority, ok = formInt(c, "priority"); !ok {
		errs["priority"] = "Enter a whole number."
	}
	if in.Weight, ok = formInt(c, "weight"); !ok {
		errs["weight"] = "Enter a whole number."
	}
	return in, form, errs
}

// channelCreate makes one channel per key line, all or none.
func (h *Handler) channelCreate(c echo.Context) error {
	in, form, errs := channelFormInput(c)
	keyEntered := strings.TrimSpace(in.Key) != ""
	if len(errs) > 0 {
		return h.renderChannelForm(c, nil, form, keyEntered, errs)
	}
	chKeys, err := in.validate(true)
	if err != nil {
		if errs, ok := fieldErrorsOf(err); ok {
			return h.renderChannelForm(c, nil, form, keyEntered, errs)
		}
		return err
	}
	rows, err := h.createChannels(c.Request().Context(), in, chKeys)
	if err != nil {
		return err
	}
	h.apiReload(c, state.KindChannels, 0)
	if len(rows) == 1 {
		h.setFlash(c, fmt.Sprintf("Channel %s created.", rows[0].Name))
	} else {
		h.setFlash(c, fmt.Sprintf("%d channels created, one per key.", len(rows)))
	}
	return redirect(c, "/channels")
}

// targetChannel loads the channel named by :id.
func (h *Handler) targetChannel(c echo.Context) (queries.Channel, error) {
	id, err := pathIDParam(c)
	if err != nil {
		return queries.Channel{}, err
	}
	return h.q.ChannelGetByID(c.Request().Context(), id)
}

func (h *Handler) channelEdit(c echo.Context) error {
	ch, err := h.targetChannel(c)
	if err != nil {
		return err
	}
	in := views.ChannelInputView{
		Type: int(ch.Type), Name: ch.Name, BaseURL: ch.BaseURL, Models: ch.Models, ModelMapping: ch.ModelMapping,
		Groups: ch.Groups, Priority: strconv.FormatInt(ch.Priority, 10), Weight: strconv.Itoa(int(ch.Weight)),
		Config: state.RedactConfig(ch.Config), SystemPrompt: ch.SystemPrompt, TestModel: ch.TestModel,
	}
	return h.renderChannelForm(c, &ch, in, false, nil)
}

// channelUpdate saves the edit form. The status is not on the form (the
// table's enable/disable change it) and an empty key keeps the stored one.
func (h *Handler) channelUpdate(c echo.Context) error {
	ch, err := h.targetChannel(c)
	if err != nil {
		return err
	}
	in, form, errs := channelFormInput(c)
	keyEntered := strings.TrimSpace(in.Key) != ""
	if len(errs) > 0 {
		return h.renderChannelForm(c, &ch, form, keyEntered, errs)
	}
	updated, err := h.updateChannel(c.Request().Context(), ch.ID, h.currentUser(c).Role >= roleRoot, func(cur *channelInput) error {
		status := cur.Status
		*cur = in
		cur.Status = status
		return nil
	})
	if err != nil {
		if errs, ok := fieldErrorsOf(err); ok {
			return h.renderChannelForm(c, &ch, form, keyEntered, errs)
		}
		return err
	}
	h.apiReload(c, state.KindChannels, updated.ID)
	h.setFlash(c, fmt.Sprintf("Channel %s saved.", updated.Name))
	return redirect(c, "/channels")
}

func (h *Handler) renderChannelForm(c echo.Context, ch *queries.Channel, in views.ChannelInputView, keyEntered bool, errs map[string]string) error {
	v := views.ChannelFormView{Layout: h.layout(c, "New channel"), IsNew: ch == nil, Input: in, Types: channelTypeViews(),
		KeyEntered: keyEntered, Errors: errs}
	if ch != nil {
		v.ID, v.KeyHint, v.Layout.Title = ch.ID, ch.KeyHint, "Edit channel "+ch.Name
	}
	status := http.StatusOK
	if len(errs) > 0 {
		status = http.StatusUnprocessableEntity
	}
	return render(c, status, views.ChannelFormPage(v))
}

// channelAction enables, disables or deletes a channel from the table. htmx
// gets the new row, or nothing for a deleted channel so its row goes away.
func (h *Handler) channelAction(action string) echo.HandlerFunc {
	return func(c echo.Context) error {
		ch, err := h.targetChannel(c)
		if err != nil {
			return err
		}
		ctx := c.Request().Context()
		var n int64
		switch action {
		case "enable":
			n, err = h.q.ChannelSetStatus(ctx, queries.ChannelSetStatusParams{ID: ch.ID, Status: statusEnabled})
		case "disable":
			n, err = h.q.ChannelSetStatus(ctx, queries.ChannelSetStatusParams{ID: ch.ID, Status: statusDisabled})
		case "delete":
			n, err = h.q.ChannelDelete(ctx, ch.ID)
		}
		if err != nil {
			return fmt.Errorf("%s channel %d: %w", action, ch.ID, err)
		}
		if n == 0 {
			return echo.NewHTTPError(http.StatusNotFound, "channel not found")
		}
		h.apiReload(c, state.KindChannels, ch.ID)
		if !isHTMX(c) {
			h.setFlash(c, fmt.Sprintf("Channel %s: %s done.", ch.Name, action))
			return redirect(c, "/channels")
		}
		if action == "delete" {
			return c.HTML(http.StatusOK, "")
		}
		return h.renderChannelRow(c, ch.ID, nil)
	}
}

func (h *Handler) renderChannelRow(c echo.Context, id int64, probe *probeResult) error {
	row, err := h.q.ChannelGetByID(c.Request().Context(), id)
	if err != nil {
		return err
	}
	v := h.channelRowView(channelView(row), row.Type)
	if probe != nil {
		v.ProbeModel = probe.Model
		switch {
		case probe.Err != nil:
			v.ProbeError = probe.Err.Error()
		case probe.TooSlow != "":
			v.ProbeError = probe.slowMessage()
		default:
			v.ProbeOK = true
		}
	}
	return render(c, http.StatusOK, views.ChannelRow(v, h.money(), h.csrfToken(c)))
}

// channelProbe tests a channel now, as GET /api/channel/test/:id does. htmx
// gets the row back with the response time, or the upstream's error in it;
// a plain form post gets the outcome as the flash of the channel page.
func (h *Handler) channelProbe(c echo.Context) error {
	id, err := pathIDParam(c)
	if err != nil {
		return err
	}
	res, err := h.probeChannel(c, id, "")
	if err != nil {
		return err
	}
	if isHTMX(c) {
		return h.renderChannelRow(c, id, &res)
	}
	switch {
	case res.Err != nil:
		h.setFlash(c, fmt.Sprintf("Test of channel %d (%s) failed: %s", id, res.Model, res.Err))
	case res.TooSlow != "":
		h.setFlash(c, fmt.Sprintf("Channel %d (%s) %s.", id, res.Model, res.slowMessage()))
	default:
		h.setFlash(c, fmt.Sprintf("Channel %d (%s) answered in %d ms.", id, res.Model, max(res.Elapsed.Milliseconds(), 1)))
	}
	return redirect(c, "/channels")
}

// channelProbeAll enqueues a test job per channel, as GET /api/channel/test
// does; the results arrive on the channels as the jobs run.
func (h *Handler) channelProbeAll(c echo.Context) error {
	if h.jobs == nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "background jobs are not running on this node")
	}
	ctx := c.Request().Context()
	ids, err := h.q.ChannelListIDs(ctx, nil)
	if err != nil {
		return err
	}
	n, err := h.jobs.EnqueueChannelProbes(ctx, ids)
	if err != nil {
		return err
	}
	if isHTMX(c) {
		// The flash carries a poller that refreshes the table, on the page
		// and filters being viewed, until the tests have run.
		msg := fmt.Sprintf("%d channel tests enqueued (%d channels); the table updates as they finish.", n, len(ids))
		return render(c, http.StatusOK, views.ProbeAllStarted(views.FlashView{Message: msg}, channelPollURL(c)))
	}
	h.setFlash(c, fmt.Sprintf("%d channel tests enqueued (%d channels); reload the page to see the results.", n, len(ids)))
	return redirect(c, "/channels")
}

// channelPollURL is the channel list the browser shows (htmx sends it as
// HX-Current-URL), as a poll; only its query is taken from the header.
func channelPollURL(c echo.Context) string {
	q := url.Values{}
	if u, err := url.Parse(c.Request().Header.Get("HX-Current-URL")); err == nil && u.Path == "/channels" {
		q = u.Query()
	}
	q.Set("poll", "1")
	return "/channels?" + q.Encode()
}

// statusStopPolling tells htmx to stop polling (and still swap the answer).
const statusStopPolling = 286

// channelPollStatus is 200 while channel tests are still to run, then 286.
func (h *Handler) channelPollStatus(c echo.Context) int {
	if c.QueryParam("poll") != "1" || h.jobs == nil {
		return http.StatusOK
	}
	n, err := h.jobs.ChannelProbesPending(c.Request().Context())
	if err != nil || n > 0 {
		return http.StatusOK
	}
	return statusStopPolling
}
