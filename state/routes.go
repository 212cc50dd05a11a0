package state

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"

	"oneapi/queries"
	"oneapi/relay/adaptor"
)

// Channel is an upstream channel with its decrypted key, as routing needs it.
type Channel struct {
	adaptor.Channel
	Models       []string
	ModelMapping map[string]string
	Groups       []string
	Priority     int64
	Weight       int
	Status       int16
	SystemPrompt string
	TestModel    string
	// Options are the channel's headers, proxy, timeout and key rotation
	// (channel_options.go); Keys, for a multi-key channel, its keys in
	// rotation (channel_keys.go), else nil and Key is the one key.
	Options ChannelOptions
	Keys    *KeyRing
}

// UpstreamModel applies the channel's model mapping.
func (c *Channel) UpstreamModel(model string) string {
	if m, ok := c.ModelMapping[model]; ok && m != "" {
		return m
	}
	return model
}

// tier is the enabled channels of one priority serving one (group, model).
type tier struct {
	priority int64
	channels []*Channel
	weights  []int // cumulative
}

// Routes is an immutable routing table, rebuilt whenever channels change.
type Routes struct {
	byID  map[int64]*Channel
	tiers map[string]map[string][]tier // group -> model -> tiers, highest priority first
}

// Channel returns a channel by id (any status).
func (r *Routes) Channel(id int64) *Channel { return r.byID[id] }

// Serves reports whether an enabled channel in group serves model.
func (r *Routes) Serves(group, model string) bool { return len(r.tiers[group][model]) > 0 }

// Models lists the models group can use, sorted.
func (r *Routes) Models(group string) []string {
	out := make([]string, 0, len(r.tiers[group]))
	for m := range r.tiers[group] {
		out = append(out, m)
	}
	sort.Strings(out)
	return out
}

// Pick chooses a channel for (group, model) that is not in tried: the highest
// priority with an untried channel, weighted random inside it. nil when none.
func (r *Routes) Pick(group, model string, tried map[int64]bool) *Channel {
	for _, t := range r.tiers[group][model] {
		if len(tried) == 0 {
			return t.pick()
		}
		var left []*Channel
		for _, c := range t.channels {
			if !tried[c.ID] {
				left = append(left, c)
			}
		}
		if len(left) > 0 {
			return newTier(t.priority, left).pick()
		}
	}
	return nil
}

// newTier gives each channel traffic in proportion to its weight: weights
// 1 and 3 split it 1:3, and a channel of weight 0 beside weighted ones gets
// none (it still serves when they have failed). When every weight is 0 the
// channels share equally.
func newTier(priority int64, chans []*Channel) tier {
	t := tier{priority: priority, channels: chans, weights: make([]int, len(chans))}
	total := 0
	for _, c := range chans {
		total += max(c.Weight, 0)
	}
	sum := 0
	for i, c := range chans {
		if total == 0 {
			sum++
		} else {
			sum += max(c.Weight, 0)
		}
		t.weights[i] = sum
	}
	return t
}

func (t tier) pick() *Channel {
	if len(t.channels) == 1 {
		return t.channels[0]
	}
	n := rand.IntN(t.weights[len(t.weights)-1])
	i := sort.SearchInts(t.weights, n+1)
	return t.channels[i]
}

func buildRoutes(chans []*Channel) *Routes {
	r := &Routes{byID: make(map[int64]*Channel, len(chans)), tiers: map[string]map[string][]tier{}}
	// group -> model -> priority -> channels
	acc := map[string]map[string]map[int64][]*Channel{}
	for _, c := range chans {
		r.byID[c.ID] = c
		if c.Status != StatusEnabled {
			continue
		}
		for _, g := range c.Groups {
			if acc[g] == nil {
				acc[g] = map[string]map[int64][]*Channel{}
			}
			for _, m := range c.Models {
				if acc[g][m] == nil {
					acc[g][m] = map[int64][]*Channel{}
				}
				acc[g][m][c.Priority] = append(acc[g][m][c.Priority], c)
			}
		}
	}
	for g, models := range acc {
		r.tiers[g] = make(map[string][]tier, len(models))
		for m, byPrio := range models {
			prios := make([]int64, 0, len(byPrio))
			for p := range byPrio {
				prios = append(prios, p)
			}
			sort.Slice(prios, func(i, j int) bool { return prios[i] > prios[j] })
			tiers := make([]tier, len(prios))
			for i, p := range prios {
				tiers[i] = newTier(p, byPrio[p])
			}
			r.tiers[g][m] = tiers
		}
	}
	return r
}

func (s *State) channelFromRow(r queries.Channel) (*Channel, error) {
	key, err := s.cipher.Open(r.KeyCiphertext)
	if err != nil {
		return nil, err
	}
	c := &Channel{
		Channel: adaptor.Channel{
			ID: r.ID, Type: int(r.Type), Name: r.Name, Key: key, BaseURL: r.BaseURL,
		},
		Models: splitList(r.Models), Groups: splitList(r.Groups),
		Priority: r.Priority, Weight: int(r.Weight), Status: r.Status,
		SystemPrompt: r.SystemPrompt, TestModel: r.TestModel,
	}
	if r.ModelMapping != "" && r.ModelMapping != "{}" {
		if err := json.Unmarshal([]byte(r.ModelMapping), &c.ModelMapping); err != nil {
			return nil, fmt.Errorf("model_mapping: %w", err)
		}
	}
	if r.Config != "" && r.Config != "{}" {
		if err := json.Unmarshal([]byte(r.Config), &c.Config); err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		if err := openConfigMap(s.cipher, c.Config); err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
	}
	if c.Options, err = ParseChannelOptions(c.Config); err != nil {
		return nil, err
	}
	if c.Options.MultiKey {
		c.Keys = newKeyRing(s, c.ID, key)
	}
	return c, nil
}

// DisableChannel marks an enabled channel auto-disabled, writes a system log
// row saying why, and applies the change here at once. A channel an admin
// disabled by hand is left as it is.
func (s *State) DisableChannel(ctx context.Context, id int64, reason string) error {
	err := queries.InTx(ctx, s.pool, func(q *queries.Queries) error {
		n, err := q.ChannelDisableAuto(ctx, id)
		if err != nil || n == 0 {
			return err
		}
		return q.LogInsert(ctx, queries.LogInsertParams{
			Type: logTypeSystem, ChannelID: id,
			Content: fmt.Sprintf("channel %d disabled automatically: %s", id, reason),
		})
	})
	if err != nil {
		return err
	}
	return s.Reload(ctx, KindChannels, id)
}

// logTypeSystem is One API's log type for system events.
const logTypeSystem = 4
