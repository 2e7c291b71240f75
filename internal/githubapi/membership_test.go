package githubapi

import (
	"context"
	"errors"
	"testing"
	"time"
)

type countingMembership struct {
	calls int
	err   error
}

func (c *countingMembership) ActiveTeamMember(context.Context, string, string, string) (bool, error) {
	c.calls++
	return true, c.err
}

func TestMembershipCache(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	inner := &countingMembership{}
	c := &MembershipCache{Inner: inner, TTL: 5 * time.Minute, Now: func() time.Time { return now }}
	for range 3 {
		if ok, err := c.ActiveTeamMember(context.Background(), "acme", "sre", "Alice"); !ok || err != nil {
			t.Fatal(ok, err)
		}
	}
	if inner.calls != 1 {
		t.Fatalf("calls = %d, want 1 within the TTL", inner.calls)
	}
	now = now.Add(6 * time.Minute)
	c.ActiveTeamMember(context.Background(), "acme", "sre", "alice")
	if inner.calls != 2 {
		t.Fatalf("calls = %d, want a fresh look-up after the TTL", inner.calls)
	}
	inner.err = errors.New("boom")
	now = now.Add(6 * time.Minute)
	if _, err := c.ActiveTeamMember(context.Background(), "acme", "sre", "alice"); err == nil {
		t.Fatal("errors must pass through")
	}
	if _, err := c.ActiveTeamMember(context.Background(), "acme", "sre", "alice"); err == nil || inner.calls != 4 {
		t.Fatalf("errors must not be cached (calls %d)", inner.calls)
	}
}
