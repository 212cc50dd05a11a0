package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"oneapi/queries"
	"oneapi/relay/adaptor"
	"oneapi/state"
)

// ChannelBalanceArgs asks for one channel's balance at its provider.
type ChannelBalanceArgs struct {
	ChannelID int64 `json:"channel_id"`
}

// Kind is the job kind stored in river_job.
func (ChannelBalanceArgs) Kind() string { return "channel_balance" }

// InsertOpts: a failed balance query is not retried; the next
// CHANNEL_UPDATE_FREQUENCY run asks again, and the error stays on the job row.
func (ChannelBalanceArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueChannels, MaxAttempts: 1, UniqueOpts: oneAtATime}
}

// ChannelBalanceAllArgs is the periodic CHANNEL_UPDATE_FREQUENCY job: one
// ChannelBalanceArgs per enabled channel whose provider has a balance API.
type ChannelBalanceAllArgs struct{}

// Kind is the job kind stored in river_job.
func (ChannelBalanceAllArgs) Kind() string { return "channel_balance_all" }

// balanceFetcher reads a provider's balance for a key. root is the channel's
// base URL (or its type's default) without a trailing /v1.
type balanceFetcher func(ctx context.Context, c *http.Client, root, key string) (float64, error)

// balanceFetchers are the providers with a balance endpoint, after One API's
// controller/channel-billing.go. One API calls the vendors' fixed hosts; we
// call the channel's base URL (the default is that same host), so a channel
// behind a relay of the same vendor works too.
var balanceFetchers = map[int]balanceFetcher{
	adaptor.TypeOpenAI:      openAISubscriptionBalance,
	adaptor.TypeCustom:      openAISubscriptionBalance,
	adaptor.TypeCloseAI:     creditGrantsBalance("total_available"),
	adaptor.TypeAIGC2D:      creditGrantsBalance("total_available"),
	adaptor.TypeAPI2GPT:     creditGrantsBalance("total_remaining"),
	adaptor.TypeOpenRouter:  openRouterBalance,
	adaptor.TypeDeepSeek:    deepSeekBalance,
	adaptor.TypeSiliconFlow: siliconFlowBalance,
}

// HasBalanceAPI reports whether channels of type t can have their balance updated.
func HasBalanceAPI(t int) bool { return balanceFetchers[t] != nil }

type balanceOutput struct {
	ChannelID int64   `json:"channel_id"`
	Balance   float64 `json:"balance"`
	Disabled  bool    `json:"disabled,omitempty"`
}

type balanceWorker struct {
	river.WorkerDefaults[ChannelBalanceArgs]
	r *River
}

func (w *balanceWorker) Timeout(*river.Job[ChannelBalanceArgs]) time.Duration {
	return w.r.timeout(balanceJobTimeout)
}

// Work asks the provider for the balance and records it (UpdateChannelBalance).
func (w *balanceWorker) Work(ctx context.Context, job *river.Job[ChannelBalanceArgs]) error {
	out, err := w.r.updateBalance(ctx, job.Args.ChannelID)
	if errors.Is(err, errNoBalanceAPI) {
		return river.JobCancel(err)
	}
	if err != nil {
		return err
	}
	recordOutput(ctx, out)
	return nil
}

// errNoBalanceAPI: the channel's type has no balance endpoint (HasBalanceAPI).
var errNoBalanceAPI = errors.New("its type has no balance API")

// HasBalanceAPI is the package's HasBalanceAPI, for callers that hold a River.
func (r *River) HasBalanceAPI(channelType int) bool { return HasBalanceAPI(channelType) }

// UpdateChannelBalance asks channel id's provider for its balance now,
// records it with the time and returns it: the balance job, run on the
// caller's goroutine (the console's button, GET
// /api/channel/update_balance/:id). A provider's failure comes back as an
// *adaptor.UpstreamError whose message never contains the key; other errors
// are ours (no such channel, no balance API for its type, the database).
func (r *River) UpdateChannelBalance(ctx context.Context, id int64) (float64, error) {
	out, err := r.updateBalance(ctx, id)
	return out.Balance, err
}

// updateBalance asks the provider for the balance and records it with the
// time. A balance at or below zero disables the channel as One API does
// (when AutomaticDisableChannelEnabled is on): every request to it would fail.
func (r *River) updateBalance(ctx context.Context, id int64) (balanceOutput, error) {
	ch, err := r.channel(ctx, id)
	if err != nil {
		return balanceOutput{}, err
	}
	fetch := balanceFetchers[ch.Type]
	if fetch == nil {
		return balanceOutput{}, fmt.Errorf("channel %d: %w", id, errNoBalanceAPI)
	}
	balance, err := fetch(ctx, r.d.HTTPClient, balanceRoot(&ch.Channel), ch.Key)
	if err != nil {
		return balanceOutput{}, &adaptor.UpstreamError{
			Status: http.StatusBadGateway, Type: "upstream_error", Class: adaptor.ClassRetry,
			Message: fmt.Sprintf("channel %d balance: %s", id, adaptor.Redact(err.Error(), ch.Key)),
		}
	}
	if err := r.q.ChannelSetBalance(ctx, queries.ChannelSetBalanceParams{ID: id, Balance: balance}); err != nil {
		return balanceOutput{}, fmt.Errorf("record balance of channel %d: %w", id, err)
	}
	out := balanceOutput{ChannelID: id, Balance: balance}
	if balance <= 0 && ch.Status == state.StatusEnabled && r.st.Options().AutoDisableChannel {
		if out.Disabled, err = r.disableChannel(ctx, ch, fmt.Sprintf("balance %.2f: used up", balance)); err != nil {
			return balanceOutput{}, err
		}
	}
	return out, nil
}

type balanceAllWorker struct {
	river.WorkerDefaults[ChannelBalanceAllArgs]
	r *River
}

func (w *balanceAllWorker) Timeout(*river.Job[ChannelBalanceAllArgs]) time.Duration {
	return w.r.timeout(fanOutJobTimeout)
}

func (w *balanceAllWorker) Work(ctx context.Context, job *river.Job[ChannelBalanceAllArgs]) error {
	channels, enqueued, err := w.r.EnqueueChannelBalances(ctx)
	if err != nil {
		return err
	}
	recordOutput(ctx, map[string]int{"channels": channels, "enqueued": enqueued})
	return nil
}

// EnqueueChannelBalances enqueues a balance update of every enabled channel
// whose type has a balance API, spaced by POLLING_INTERVAL, and returns how
// many channels qualify and how many jobs were enqueued (a channel whose
// update is already pending is skipped). The periodic
// CHANNEL_UPDATE_FREQUENCY job and GET /api/channel/update_balance call it.
func (r *River) EnqueueChannelBalances(ctx context.Context) (channels, enqueued int, err error) {
	ids, err := r.q.ChannelListIDs(ctx, []int16{state.StatusEnabled})
	if err != nil {
		return 0, 0, err
	}
	routes := r.st.Routes()
	var want []int64
	for _, id := range ids {
		// A channel not in this node's state yet is left to the next run.
		if ch := routes.Channel(id); ch != nil && HasBalanceAPI(ch.Type) {
			want = append(want, id)
		}
	}
	n, err := r.enqueueChannelBalances(ctx, want)
	if err != nil {
		return 0, 0, err
	}
	return len(want), n, nil
}

// balanceRoot is the channel's base URL (or its type's default) without the
// trailing "/" and "/v1" the console accepts.
func balanceRoot(ch *adaptor.Channel) string {
	base := strings.TrimSpace(ch.BaseURL)
	if base == "" {
		t, _ := adaptor.TypeByID(ch.Type)
		base = t.BaseURL
	}
	base = strings.TrimRight(base, "/")
	return strings.TrimSuffix(base, "/v1")
}

// balanceGet GETs url with the key as a bearer token and decodes the JSON
// answer into v. Errors never carry the key (the caller redacts anyway).
func balanceGet(ctx context.Context, c *http.Client, rawURL, key string, v any) error {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("base URL %q is not an http(s) URL", rawURL)
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is in the job's args already; keep the cause
		}
		return fmt.Errorf("GET %s: %w", u.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("GET %s: %w", u.Path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d: %s", u.Path, resp.StatusCode, oneLine(body, 200))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: not the expected JSON: %s", u.Path, oneLine(body, 200))
	}
	return nil
}

// openAISubscriptionBalance is OpenAI's legacy billing API, which many
// OpenAI-compatible resellers still serve: the hard limit minus this month's
// usage (the last 100 days for accounts without a payment method).
func openAISubscriptionBalance(ctx context.Context, c *http.Client, root, key string) (float64, error) {
	var sub struct {
		HasPaymentMethod bool    `json:"has_payment_method"`
		HardLimitUSD     float64 `json:"hard_limit_usd"`
	}
	if err := balanceGet(ctx, c, root+"/v1/dashboard/billing/subscription", key, &sub); err != nil {
		return 0, err
	}
	now := time.Now()
	start := now.Format("2006-01") + "-01"
	if !sub.HasPaymentMethod {
		start = now.AddDate(0, 0, -100).Format("2006-01-02")
	}
	var usage struct {
		TotalUsage float64 `json:"total_usage"` // hundredths of a dollar
	}
	q := url.Values{"start_date": {start}, "end_date": {now.Format("2006-01-02")}}
	if err := balanceGet(ctx, c, root+"/v1/dashboard/billing/usage?"+q.Encode(), key, &usage); err != nil {
		return 0, err
	}
	return sub.HardLimitUSD - usage.TotalUsage/100, nil
}

// creditGrantsBalance reads /dashboard/billing/credit_grants, where resellers
// name the remaining credit field differently.
func creditGrantsBalance(field string) balanceFetcher {
	return func(ctx context.Context, c *http.Client, root, key string) (float64, error) {
		var v map[string]json.RawMessage
		if err := balanceGet(ctx, c, root+"/dashboard/billing/credit_grants", key, &v); err != nil {
			return 0, err
		}
		var f float64
		if err := json.Unmarshal(v[field], &f); err != nil {
			return 0, fmt.Errorf("credit_grants: no number in %q", field)
		}
		return f, nil
	}
}

// openRouterBalance: credits bought minus credits used (US dollars).
func openRouterBalance(ctx context.Context, c *http.Client, root, key string) (float64, error) {
	var v struct {
		Data struct {
			TotalCredits float64 `json:"total_credits"`
			TotalUsage   float64 `json:"total_usage"`
		} `json:"data"`
	}
	if err := balanceGet(ctx, c, root+"/v1/credits", key, &v); err != nil {
		return 0, err
	}
	return v.Data.TotalCredits - v.Data.TotalUsage, nil
}

// deepSeekBalance: the CNY balance, as One API reads it, else the USD one.
func deepSeekBalance(ctx context.Context, c *http.Client, root, key string) (float64, error) {
	var v struct {
		BalanceInfos []struct {
			Currency     string `json:"currency"`
			TotalBalance string `json:"total_balance"`
		} `json:"balance_infos"`
	}
	if err := balanceGet(ctx, c, root+"/user/balance", key, &v); err != nil {
		return 0, err
	}
	for _, cur := range []string{"CNY", "USD"} {
		for _, b := range v.BalanceInfos {
			if b.Currency == cur {
				f, err := strconv.ParseFloat(b.TotalBalance, 64)
				if err != nil {
					return 0, fmt.Errorf("deepseek balance %q: not a number", b.TotalBalance)
				}
				return f, nil
			}
		}
	}
	return 0, errors.New("deepseek: no CNY or USD balance in the answer")
}

// siliconFlowBalance: data.totalBalance of the user info, code 20000 meaning OK.
func siliconFlowBalance(ctx context.Context, c *http.Client, root, key string) (float64, error) {
	var v struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Data    struct {
			TotalBalance string `json:"totalBalance"`
		} `json:"data"`
	}
	if err := balanceGet(ctx, c, root+"/v1/user/info", key, &v); err != nil {
		return 0, err
	}
	if v.Code != 20000 {
		return 0, fmt.Errorf("siliconflow: code %d: %s", v.Code, v.Message)
	}
	f, err := strconv.ParseFloat(v.Data.TotalBalance, 64)
	if err != nil {
		return 0, fmt.Errorf("siliconflow balance %q: not a number", v.Data.TotalBalance)
	}
	return f, nil
}

// oneLine returns b as one line of at most n characters, for error messages.
func oneLine(b []byte, n int) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if r := []rune(s); len(r) > n {
		s = string(r[:n]) + "..."
	}
	if s == "" {
		return "(empty body)"
	}
	return s
}
