package outbound

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"oneapi/relay/adaptor"
)

func TestClientInContext(t *testing.T) {
	t.Parallel()
	if _, err := Client(context.Background()); !errors.Is(err, ErrNoClient) {
		t.Errorf("no client: %v", err)
	}
	c := &http.Client{}
	if got, err := Client(WithClient(context.Background(), c)); err != nil || got != c {
		t.Errorf("Client = %v, %v", got, err)
	}
}

func TestTokensOneFetchForManyCallers(t *testing.T) {
	t.Parallel()
	var tk Tokens
	var fetches atomic.Int32
	release := make(chan struct{})
	ch := &adaptor.Channel{ID: 1, Key: "k"}
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := tk.Get(context.Background(), ch, time.Minute, func(context.Context) (Credential, error) {
				fetches.Add(1)
				<-release
				return Credential{Value: "tok", Expires: time.Now().Add(time.Hour)}, nil
			})
			if err != nil || v != "tok" {
				t.Errorf("Get = %q, %v", v, err)
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	close(release)
	wg.Wait()
	if n := fetches.Load(); n != 1 {
		t.Errorf("%d fetches, want 1", n)
	}
}

func TestTokensRenewal(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	tk := Tokens{Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }}
	set := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	ch := &adaptor.Channel{ID: 1, Key: "k"}
	n := 0
	fail := false
	fetch := func(context.Context) (Credential, error) {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			return Credential{}, errors.New("token endpoint down")
		}
		n++
		return Credential{Value: string(rune('a' + n - 1)), Expires: now.Add(time.Hour)}, nil
	}
	get := func() (string, error) { return tk.Get(context.Background(), ch, 10*time.Minute, fetch) }
	waitFor := func(want string) {
		t.Helper()
		for range 200 {
			if v, _ := get(); v == want {
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
		v, err := get()
		t.Fatalf("Get = %q, %v; want %q", v, err, want)
	}
	waitFor("a")
	set(49 * time.Minute)
	if v, _ := get(); v != "a" {
		t.Fatalf("fresh token replaced: %q", v)
	}
	set(2 * time.Minute) // 9 minutes left: renewed, the old one serves meanwhile
	waitFor("b")

	// A renewal that fails keeps the valid token in use; once it has
	// expired, the error comes back.
	mu.Lock()
	fail = true
	mu.Unlock()
	set(55 * time.Minute)
	if v, err := get(); v != "b" || err != nil {
		t.Fatalf("during a failing renewal: %q, %v", v, err)
	}
	set(10 * time.Minute)
	var err error
	for range 200 {
		if _, err = get(); err != nil {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	if err == nil || err.Error() != "token endpoint down" {
		t.Fatalf("expired and no renewal: %v", err)
	}
	mu.Lock()
	fail = false
	mu.Unlock()
	waitFor("c")

	// Forget: upstream revoked it.
	tk.Forget(ch, "c")
	waitFor("d")
	// A changed key is a new credential.
	ch2 := &adaptor.Channel{ID: 1, Key: "other"}
	if v, _ := tk.Get(context.Background(), ch2, time.Minute, fetch); v != "e" {
		t.Fatalf("changed key: %q", v)
	}
}

func TestTokensShortLifetimeNotRenewedEachCall(t *testing.T) {
	t.Parallel()
	var tk Tokens
	var fetches atomic.Int32
	ch := &adaptor.Channel{ID: 1, Key: "k"}
	for range 50 {
		_, err := tk.Get(context.Background(), ch, time.Hour, func(context.Context) (Credential, error) {
			fetches.Add(1)
			return Credential{Value: "t", Expires: time.Now().Add(10 * time.Minute)}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := fetches.Load(); n != 1 {
		t.Errorf("%d fetches for a 10-minute token asked to renew an hour early", n)
	}
}

func TestTokensWaiterLeaves(t *testing.T) {
	t.Parallel()
	var tk Tokens
	ch := &adaptor.Channel{ID: 1, Key: "k"}
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	go func() {
		<-started
		cancel()
	}()
	_, err := tk.Get(ctx, ch, time.Minute, func(fctx context.Context) (Credential, error) {
		close(started)
		<-fctx.Done() // the fetch does not see the caller's cancel; it times out
		return Credential{}, fctx.Err()
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Get = %v, want the caller's cancel", err)
	}
}
