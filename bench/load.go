package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"
)

// target is one of the three paths load is driven through.
type target struct {
	name  string // "a", "b" or "c"
	label string
	url   string // full chat completions URL
	key   string // bearer key
	// limitedKey, on the gateway, has RPM and TPM limits (chat-limited:N).
	limitedKey string
	client     *http.Client
	// body and done, when set, replace the scenario's request body and the
	// end-of-stream marker ("[DONE]"): TGI's native stream ends otherwise.
	body, done []byte
}

func newLoadClient() *http.Client {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        0,
		MaxIdleConnsPerHost: 512,
		IdleConnTimeout:     120 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}
}

// agg aggregates the results of one or more load runs against one target.
type agg struct {
	ok, errs int
	elapsed  time.Duration
	lat      []time.Duration // successful requests only
	errKinds map[string]int
	sorted   bool
}

func (a *agg) add(b *agg) {
	a.ok += b.ok
	a.errs += b.errs
	a.elapsed += b.elapsed
	a.lat = append(a.lat, b.lat...)
	a.sorted = false
	for k, v := range b.errKinds {
		if a.errKinds == nil {
			a.errKinds = map[string]int{}
		}
		addErrKind(a.errKinds, k, v)
	}
}

func addErrKind(m map[string]int, k string, n int) {
	if _, ok := m[k]; !ok && len(m) >= 16 {
		k = "(other errors)"
	}
	m[k] += n
}

func (a *agg) rps() float64 {
	if a.elapsed <= 0 {
		return 0
	}
	return float64(a.ok) / a.elapsed.Seconds()
}

// pct returns the p-th percentile (0 < p ≤ 1, nearest rank) in milliseconds.
func (a *agg) pct(p float64) float64 {
	if len(a.lat) == 0 {
		return 0
	}
	if !a.sorted {
		sort.Slice(a.lat, func(i, j int) bool { return a.lat[i] < a.lat[j] })
		a.sorted = true
	}
	return float64(percentile(a.lat, p)) / float64(time.Millisecond)
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	idx := int(float64(n)*p+0.999999999) - 1
	if idx < 0 {
		idx = 0
	}
	if idx >= n {
		idx = n - 1
	}
	return sorted[idx]
}

// runLoad drives a closed loop of conc workers against t for dur. Every
// worker keeps issuing requests until the deadline; in-flight requests are
// completed (and counted) before it returns.
func runLoad(t *target, body []byte, stream bool, conc int, dur time.Duration) *agg {
	deadline := time.Now().Add(dur)
	results := make([]*agg, conc)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < conc; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := &agg{lat: make([]time.Duration, 0, 256)}
			buf := make([]byte, 32<<10)
			for time.Now().Before(deadline) {
				t0 := time.Now()
				err := doOne(t, body, stream, buf)
				d := time.Since(t0)
				if err != nil {
					r.errs++
					if r.errKinds == nil {
						r.errKinds = map[string]int{}
					}
					addErrKind(r.errKinds, err.Error(), 1)
					if d < 5*time.Millisecond {
						time.Sleep(5*time.Millisecond - d) // don't spin on instant failures
					}
					continue
				}
				r.ok++
				r.lat = append(r.lat, d)
			}
			results[i] = r
		}(i)
	}
	wg.Wait()
	total := &agg{elapsed: time.Since(start)}
	for _, r := range results {
		r.elapsed = 0
		total.add(r)
	}
	return total
}

var doneMarker = []byte("[DONE]")

func doOne(t *target, body []byte, stream bool, buf []byte) error {
	req, err := http.NewRequest(http.MethodPost, t.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+t.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := t.client.Do(req)
	if err != nil {
		return fmt.Errorf("transport: %s", trimErr(err.Error()))
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 160))
		_, _ = io.Copy(io.Discard, resp.Body)
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(snippet))
	}
	if !stream {
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return fmt.Errorf("read body: %s", trimErr(err.Error()))
		}
		return nil
	}
	// Stream: read to EOF, remembering the tail to check for "[DONE]".
	var tail [64]byte
	tl := 0
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			chunk := buf[:n]
			if n >= len(tail) {
				tl = copy(tail[:], chunk[n-len(tail):])
			} else {
				keep := len(tail) - n
				if tl > keep {
					copy(tail[:], tail[tl-keep:tl])
					tl = keep
				}
				tl += copy(tail[tl:], chunk)
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read stream: %s", trimErr(err.Error()))
		}
	}
	marker := doneMarker
	if t.done != nil {
		marker = t.done
	}
	if !bytes.Contains(tail[:tl], marker) {
		return fmt.Errorf("stream ended without %s", marker)
	}
	return nil
}

func trimErr(s string) string {
	if len(s) > 140 {
		return s[:140] + "…"
	}
	return s
}
