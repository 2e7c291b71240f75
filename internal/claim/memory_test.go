package claim

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// clock is a settable time for a Memory or a Table.
type clock struct {
	mu sync.Mutex
	at time.Time
}

func newClock() *clock { return &clock{at: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.at
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at = c.at.Add(d)
}

func TestMemoryClaimsOnceUntilTheTTL(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", maxIDBytes+1)
	type step struct {
		advance time.Duration
		id      string
		ttl     time.Duration
		want    bool
	}
	for _, tt := range []struct {
		name  string
		steps []step
	}{
		{"the first claim wins, the second loses", []step{
			{0, "a", time.Hour, true},
			{0, "a", time.Hour, false},
		}},
		{"ids are claimed apart", []step{
			{0, "a", time.Hour, true},
			{0, "b", time.Hour, true},
		}},
		{"held until the ttl, claimable again at it", []step{
			{0, "a", time.Hour, true},
			{time.Hour - time.Nanosecond, "a", time.Hour, false},
			{time.Nanosecond, "a", time.Hour, true},
			{time.Minute, "a", time.Hour, false},
		}},
		{"a later claim's ttl does not extend the first", []step{
			{0, "a", time.Hour, true},
			{time.Minute, "a", 10 * time.Hour, false},
			{59 * time.Minute, "a", time.Hour, true},
		}},
		{"a long id is claimed once", []step{
			{0, long, time.Hour, true},
			{0, long, time.Hour, false},
			{0, long[:maxIDBytes], time.Hour, true},
			{0, long + "y", time.Hour, true},
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newClock()
			m := NewMemory(c.now)
			for i, s := range tt.steps {
				c.advance(s.advance)
				got, err := m.Claim(t.Context(), s.id, s.ttl)
				if err != nil || got != s.want {
					t.Fatalf("step %d: Claim(%.10q) = %v, %v; want %v, nil", i, s.id, got, err, s.want)
				}
			}
		})
	}
}

func TestMemoryRejectsBadInput(t *testing.T) {
	t.Parallel()
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	for _, tt := range []struct {
		name string
		ctx  context.Context
		id   string
		ttl  time.Duration
	}{
		{"empty id", t.Context(), "", time.Hour},
		{"zero ttl", t.Context(), "a", 0},
		{"negative ttl", t.Context(), "a", -time.Second},
		{"cancelled context", cancelled, "a", time.Hour},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := NewMemory(nil)
			if got, err := m.Claim(tt.ctx, tt.id, tt.ttl); got || err == nil {
				t.Fatalf("Claim = %v, %v; want false and an error", got, err)
			}
			// Nothing was claimed: a good claim of the id still wins.
			if got, err := m.Claim(t.Context(), "a", time.Hour); !got || err != nil {
				t.Fatalf("then Claim(a) = %v, %v; want true, nil", got, err)
			}
		})
	}
}

// 50 goroutines claim one id at once: exactly one wins.
func TestMemoryConcurrentClaimsOfOneID(t *testing.T) {
	t.Parallel()
	if n := race(t, 50, NewMemory(nil)); n != 1 {
		t.Fatalf("%d claims won, want exactly 1", n)
	}
}

// race has racers goroutines claim one id at once, in turn through each of
// claimers, and counts the claims won.
func race(t *testing.T, racers int, claimers ...Claimer) int32 {
	t.Helper()
	var won atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range racers {
		wg.Go(func() {
			<-start
			got, err := claimers[i%len(claimers)].Claim(t.Context(), "event-1", time.Hour)
			if err != nil {
				t.Error(err)
			}
			if got {
				won.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	return won.Load()
}

// Expired claims are forgotten, and past the limit the claim that expires
// first is dropped: memory stays bounded.
func TestMemoryStaysBounded(t *testing.T) {
	t.Parallel()
	c := newClock()
	m := NewMemory(c.now)
	m.limit = 3
	for i, id := range []string{"b", "a", "c"} {
		if got, err := m.Claim(t.Context(), id, time.Duration(i+1)*time.Hour); !got || err != nil {
			t.Fatalf("Claim(%s) = %v, %v", id, got, err)
		}
	}
	// b expires first (1h): d takes its place.
	if got, err := m.Claim(t.Context(), "d", 4*time.Hour); !got || err != nil {
		t.Fatalf("Claim(d) = %v, %v", got, err)
	}
	if n := len(m.held); n != 3 {
		t.Fatalf("%d claims held, want the limit 3", n)
	}
	if got, _ := m.Claim(t.Context(), "a", time.Hour); got {
		t.Fatal("a, which expires after b, was dropped")
	}
	if got, _ := m.Claim(t.Context(), "b", time.Hour); !got {
		t.Fatal("b, which expires first, was kept past the limit")
	}
	// b's new claim (1h) dropped a (2h). At 3h b and c (3h) have expired and
	// are forgotten: d and e are left.
	c.advance(3 * time.Hour)
	if got, _ := m.Claim(t.Context(), "e", time.Hour); !got {
		t.Fatal("Claim(e) lost")
	}
	if n, q := len(m.held), len(m.queue); n != 2 || q != 2 {
		t.Fatalf("after b and c expired: %d held, %d queued; want 2 (d, e)", n, q)
	}
	if got, _ := m.Claim(t.Context(), "c", time.Hour); !got {
		t.Fatal("c is claimable again once expired")
	}
}

func TestKey(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", maxIDBytes) // 2 bytes each
	for _, tt := range []struct {
		name, id, want string
	}{
		{"short id as given", "issue-comment/123", "issue-comment/123"},
		{"1024 bytes as given", strings.Repeat("a", maxIDBytes), strings.Repeat("a", maxIDBytes)},
		{"1025 bytes hashed", strings.Repeat("a", maxIDBytes+1), "sha256:4a82297889eb505cf6b5cbdf69977afab4632d6557539782f657bd7dc78091a5"},
		{"not UTF-8 hashed", "a\xffb", "sha256:"},
		{"long UTF-8 hashed", long, "sha256:"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := key(tt.id, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == "sha256:" {
				if !strings.HasPrefix(got, "sha256:") || len(got) != len("sha256:")+64 {
					t.Fatalf("key = %q, want sha256:<64 hex digits>", got)
				}
				return
			}
			if got != tt.want {
				t.Fatalf("key = %q, want %q", got, tt.want)
			}
		})
	}
}
