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
	// Traffic follows the weights as set: 1 and 3 split it 1:3.
	if ratio := float64(counts[2]) / float64(counts[1]); ratio < 2.5 || ratio > 3.6 {
		t.Errorf("weighting off: %v (ratio %.2f, want 3)", counts, ratio)
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

func TestZeroWeights(t *testing.T) {
	def := []string{"default"}
	// All zero: equal shares.
	r := buildRoutes([]*Channel{ch(1, 0, 0, StatusEnabled, def, "m"), ch(2, 0, 0, StatusEnabled, def, "m")})
	counts := map[int64]int{}
	for i := 0; i < 4000; i++ {
		counts[r.Pick("default", "m", nil).ID]++
	}
	if counts[1] < 1600 || counts[2] < 1600 {
		t.Errorf("all-zero tier not shared equally: %v", counts)
	}
	// A zero beside a weighted channel gets nothing, unless the other failed.
	r = buildRoutes([]*Channel{ch(1, 0, 0, StatusEnabled, def, "m"), ch(2, 0, 5, StatusEnabled, def, "m")})
	for i := 0; i < 1000; i++ {
		if got := r.Pick("default", "m", nil); got.ID != 2 {
			t.Fatalf("weight 0 beside weight 5 was picked")
		}
	}
	if got := r.Pick("default", "m", map[int64]bool{2: true}); got == nil || got.ID != 1 {
		t.Errorf("after the weighted channel failed got %v, want channel 1", got)
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
	p, priced := o.Price("gpt-4o", "vip", 1)
	if !priced || p.Model != 1.25 || p.Completion != 4 || p.Group != 0.5 || p.CacheRead != 0.5 {
		t.Errorf("price = %+v %v", p, priced)
	}
	if p, priced := o.Price("unknown-model", "default", 1); priced || p.Model != 30 || p.CacheRead != 1 || p.Completion != 1 {
		t.Errorf("unpriced = %+v %v", p, priced)
	}
	// One API's per-channel-type price, "model(type)", wins on that type only.
	o, _ = ParseOptions(map[string]string{"ModelRatio": `{"m":1,"m(33)":2}`, "CompletionRatio": `{"m(33)":3}`})
	if p, _ := o.Price("m", "default", 33); p.Model != 2 || p.Completion != 3 {
		t.Errorf("typed price = %+v", p)
	}
	if p, _ := o.Price("m", "default", 1); p.Model != 1 || p.Completion != 1 {
		t.Errorf("untyped price = %+v", p)
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

func TestPriceDoesNotAllocate(t *testing.T) {
	o, _ := ParseOptions(map[string]string{"ModelRatio": `{"m":1,"m(33)":2}`})
	if n := testing.AllocsPerRun(100, func() { o.Price("m", "default", 33) }); n != 0 {
		t.Errorf("Price allocates %v times per call", n)
	}
}
