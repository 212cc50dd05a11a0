package successrate

import (
	"sync"
	"testing"
)

func TestTripsOnceWhenAFullWindowIsUnderTheThreshold(t *testing.T) {
	tr := New(10, 0.8)
	// Failures before the window is full never trip: a new channel is not
	// judged on its first requests.
	for i := 0; i < 9; i++ {
		if _, tripped := tr.Record(1, false); tripped {
			t.Fatalf("tripped after %d outcomes, window is 10", i+1)
		}
	}
	rate, tripped := tr.Record(1, false)
	if !tripped || rate != 0 {
		t.Fatalf("10 failures: rate %v tripped %v", rate, tripped)
	}
	// The window starts over after a trip.
	if _, n := tr.Rate(1); n != 0 {
		t.Errorf("window not reset: %d outcomes held", n)
	}
	if _, tripped := tr.Record(1, false); tripped {
		t.Error("tripped again on the first outcome after a reset")
	}
}

func TestRateOverTheLastWindowOnly(t *testing.T) {
	tr := New(5, 0.6)
	// 5 successes, then failures push them out one by one.
	for i := 0; i < 5; i++ {
		tr.Record(7, true)
	}
	want := []struct {
		rate    float64
		tripped bool
	}{{0.8, false}, {0.6, false}, {0.4, true}}
	for i, w := range want {
		rate, tripped := tr.Record(7, false)
		if rate != w.rate || tripped != w.tripped {
			t.Errorf("failure %d: rate %v tripped %v, want %v %v", i+1, rate, tripped, w.rate, w.tripped)
		}
	}
}

func TestSuccessNeverTrips(t *testing.T) {
	tr := New(2, 1)
	tr.Record(3, false)
	if _, tripped := tr.Record(3, true); tripped {
		t.Error("a success tripped the channel")
	}
	// Under the threshold (0.5 < 1) but the latest outcome is a success:
	// One API checks on failures only.
	if rate, n := tr.Rate(3); rate != 0.5 || n != 2 {
		t.Errorf("rate %v over %d", rate, n)
	}
}

func TestChannelsAreSeparate(t *testing.T) {
	tr := New(3, 0.5)
	for i := 0; i < 3; i++ {
		tr.Record(1, true)
	}
	tr.Record(2, false)
	tr.Record(2, false)
	if _, tripped := tr.Record(2, false); !tripped {
		t.Error("channel 2 did not trip")
	}
	if rate, n := tr.Rate(1); rate != 1 || n != 3 {
		t.Errorf("channel 1: %v over %d", rate, n)
	}
}

func TestConcurrentRecords(t *testing.T) {
	tr := New(100, 0.5)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				tr.Record(int64(i%4), true)
			}
		}()
	}
	wg.Wait()
	for id := int64(0); id < 4; id++ {
		if rate, n := tr.Rate(id); rate != 1 || n != 100 {
			t.Errorf("channel %d: %v over %d", id, rate, n)
		}
	}
}
