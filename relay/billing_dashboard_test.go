package relay

import (
	"encoding/json"
	"net/http"
	"testing"
)

// TestBillingDashboardAndEngines: One API's remaining endpoints. A token's
// balance in OpenAI's old billing shape (its own quota, or its owner's when
// unlimited), under /dashboard and /v1/dashboard; embeddings by the old
// engines path, the model taken from the URL.
func TestBillingDashboardAndEngines(t *testing.T) {
	b := setup(t)
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.5]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":2,"total_tokens":2}}`))
	})
	b.channel(up.URL, channelOpts{models: "text-embedding-3-small"})
	limited := b.token(tokenOpts{quota: 1_000_000})
	get := func(path, key string, v any) int {
		req, _ := http.NewRequest(http.MethodGet, b.srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		_ = json.NewDecoder(res.Body).Decode(v)
		return res.StatusCode
	}
	var sub billingSubscription
	if st := get("/dashboard/billing/subscription", limited, &sub); st != 200 || sub.Object != "billing_subscription" || sub.HardLimitUSD != 2 {
		t.Errorf("subscription = %d %+v", st, sub)
	}
	var all billingSubscription
	if st := get("/v1/dashboard/billing/subscription", b.token(tokenOpts{}), &all); st != 200 || all.HardLimitUSD != 2000 {
		t.Errorf("unlimited token's subscription = %d %+v (want the account's 1e9 quota = 2000 USD)", st, all)
	}

	res := b.post("/v1/engines/text-embedding-3-small/embeddings", limited, `{"input":"hello"}`)
	res.Body.Close()
	if res.StatusCode != 200 || up.lastBody()["model"] != "text-embedding-3-small" {
		t.Fatalf("engines embeddings = %d %v", res.StatusCode, up.lastBody())
	}
	b.settled(1)
	used := b.scalar("SELECT used_quota FROM tokens WHERE NOT unlimited_quota")
	var usage struct {
		Object     string  `json:"object"`
		TotalUsage float64 `json:"total_usage"`
	}
	if st := get("/v1/dashboard/billing/usage", limited, &usage); st != 200 || usage.Object != "list" || usage.TotalUsage != float64(used)/500_000*100 || used == 0 {
		t.Errorf("usage = %d %+v (used quota %d)", st, usage, used)
	}
	var e struct{ Error struct{ Code string } }
	if st := get("/dashboard/billing/usage", "sk-wrong", &e); st != 401 || e.Error.Code != "invalid_api_key" {
		t.Errorf("bad key = %d %+v", st, e)
	}
}
