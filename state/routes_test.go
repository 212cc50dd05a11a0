package state

import (
	"testing"

	"oneapi/relay/adaptor"
)

func ch(id int64, prio int64, weight int, status int16, groups []string, models ...string) *Channel {
	return &Channel{Channel: adaptor.Channel{ID: id}, Priority: prio, Weight: weight, Status: status, Groups: groups, Models: models}
}

func TestPickPriorityThenWeight(t *testing.T) {
	def := []string{"default"}
	r := buildRoutes([]*Channel{
		ch(1, 10, 1, StatusEnabled, def, "m"),
		ch(2, 10, 3, StatusEnabled, def, "m"),
		ch(3, 0, 100, StatusEnabled, def, "m"),
		ch(4, 20, 100, StatusDisabled, def, "m"),            // disabled: never
		ch(5, 30, 100, StatusEnabled, []string{"vip"}, "m"), // other group
	})
	counts := map[int64]int{}
	for i := 0; i < 6000; i++ {
		counts[r.Pick("default", "m", nil).ID]++
	}
	if counts[3] != 0 || counts[4] != 0 || counts[5] != 0 {
		t.Fatalf("picked outside the top tier: %v", counts)
	}
	// Weights 1 and 3 count as 2 and 4: channel 2 should get about twice channel 1's traffic.
	if ratio := float64(counts[2]) / float64(counts[1]); ratio < 1.6 || ratio > 2.5 {
		t.Errorf("weighting off: %v (ratio %.2f)", counts, ratio)
	}
	// Retry: the top tier exhausted, fall to the next priority.
	if got := r.Pick("default", "m", map[int64]bool{1: true, 2: true}); got == nil || got.ID != 3 {
		t.Errorf("after trying the top tier got %v, want channel 3", got)
	}
	if got := r.Pick("default", "m", map[int64]bool{1: true, 2: true, 3: true}); got != nil {
		t.Errorf("all tried, still picked %d", got.ID)
	}
	if r.Serves("default", "other") || !r.Serves("vip", "m") {
		t.Error("Serves is wrong")
	}
	if ms := r.Models("default"); len(ms) != 1 || ms[0] != "m" {
		t.Errorf("models = %v", ms)
	}
}

func TestUpstreamModel(t *testing.T) {
	c := &Channel{ModelMapping: map[string]string{"gpt-4": "gpt-4-0613", "blank": ""}}
	for in, want := range map[string]string{"gpt-4": "gpt-4-0613", "gpt-3.5": "gpt-3.5", "blank": "blank"} {
		if got := c.UpstreamModel(in); got != want {
			t.Errorf("UpstreamModel(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseOptions(t *testing.T) {
	o, err := ParseOptions(map[string]string{"RetryTimes": "5", "GroupRatio": `{"default":1,"vip":0.5}`, "SomeoneElses": "x"})
	if err != nil {
		t.Fatal(err)
	}
	if o.RetryTimes != 5 || o.GroupRatio["vip"] != 0.5 || o.Raw()["SomeoneElses"] != "x" {
		t.Errorf("options = %+v", o)
	}
	mr, cr, gr, priced := o.Price("gpt-4o", "vip")
	if !priced || mr != 1.25 || cr != 4 || gr != 0.5 {
		t.Errorf("price = %v %v %v %v", mr, cr, gr, priced)
	}
	if mr, _, _, priced := o.Price("unknown-model", "default"); priced || mr != 30 {
		t.Errorf("unpriced = %v %v", mr, priced)
	}
	// A bad stored value is reported and that key keeps its default.
	o, err = ParseOptions(map[string]string{"RetryTimes": "many", "ModelRatio": `{"x":-1}`})
	if err == nil || o.RetryTimes != 2 || o.ModelRatio["gpt-4o"] != 1.25 {
		t.Errorf("bad values: err %v, retry %d", err, o.RetryTimes)
	}
	for _, bad := range []struct{ k, v string }{{"RetryTimes", "-1"}, {"QuotaPerUnit", "0"}, {"AutomaticDisableChannelEnabled", "yes"}, {"Nope", "1"}} {
		if ValidateOption(bad.k, bad.v) == nil {
			t.Errorf("ValidateOption(%s, %s) accepted", bad.k, bad.v)
		}
	}
	if !IsSecretOption("GitHubClientSecret") || !IsSecretOption("SMTPToken") || !IsSecretOption("TurnstileSecretKey") || IsSecretOption("ModelRatio") {
		t.Error("IsSecretOption")
	}
}
