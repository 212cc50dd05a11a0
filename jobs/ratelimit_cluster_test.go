package jobs_test

import (
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"oneapi/queries/dbtest"
)

// TestClusterRateLimitHoldsAcrossNodes: two nodes on one database burst one
// key with an RPM limit; no more than the limit is admitted (the README's
// bound: zero slack), and every answer of the key carries the headers. A
// limit change made through one node's API holds on the other within 100 ms.
func TestClusterRateLimitHoldsAcrossNodes(t *testing.T) {
	dsn := dbtest.DSN(t)
	u := newUpstream(t, 0)
	f := seed(t, dsn, u, 1)
	a := startNode(t, dsn, "a", nodeOpts{noRiver: true})
	b := startNode(t, dsn, "b", nodeOpts{noRiver: true})
	key, id := f.keys[0], f.tokenIDs[0]
	const limit = 40
	a.api(t, http.MethodPut, "/api/token/", map[string]any{"id": id, "rpm_limit": limit}, nil)
	var tok struct {
		RPMLimit int64 `json:"rpm_limit"`
	}
	a.api(t, http.MethodGet, "/api/token/"+strconv.FormatInt(id, 10), nil, &tok)
	if tok.RPMLimit != limit {
		t.Fatalf("rpm_limit read back %d", tok.RPMLimit)
	}
	waitUntil(t, "both nodes know the limit", func() bool {
		ta, _ := a.st.TokenByID(t.Context(), id)
		tb, _ := b.st.TokenByID(t.Context(), id)
		return ta != nil && tb != nil && ta.Limits.RPM == limit && tb.Limits.RPM == limit
	})

	var ok, refused atomic.Int64
	var wg sync.WaitGroup
	for _, n := range []*node{a, b} {
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 15; i++ {
					switch n.chat(t, key) {
					case 200:
						ok.Add(1)
					case 429:
						refused.Add(1)
					default:
						t.Error("unexpected status")
					}
				}
			}()
		}
	}
	wg.Wait()
	if ok.Load() > limit || ok.Load() < limit/2 || ok.Load()+refused.Load() != 240 {
		t.Fatalf("admitted %d, refused %d of 240 with an RPM limit of %d on two nodes", ok.Load(), refused.Load(), limit)
	}
	t.Logf("admitted %d of 240 (limit %d)", ok.Load(), limit)

	// Raised through node a, the limit admits on node b within 100 ms.
	a.api(t, http.MethodPut, "/api/token/", map[string]any{"id": id, "rpm_limit": 1000}, nil)
	changed := time.Now()
	for b.chat(t, key) != 200 {
		if time.Since(changed) > 100*time.Millisecond {
			t.Fatalf("node b still refuses %s after the limit was raised", time.Since(changed))
		}
	}
	// Lowered again, node b refuses within 100 ms: what was admitted counts.
	a.api(t, http.MethodPut, "/api/token/", map[string]any{"id": id, "rpm_limit": 5}, nil)
	changed = time.Now()
	for b.chat(t, key) != 429 {
		if time.Since(changed) > 100*time.Millisecond {
			t.Fatalf("node b still admits %s after the limit was lowered", time.Since(changed))
		}
	}
}
