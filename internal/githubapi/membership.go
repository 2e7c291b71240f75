package githubapi

import (
	"context"
	"strings"
	"sync"
	"time"
)

// TeamMembers answers team-membership questions (eligibility.Membership
// has the same shape; this package names no domain type).
type TeamMembers interface {
	ActiveTeamMember(ctx context.Context, org, slug, login string) (bool, error)
}

// MembershipCache remembers answers for a short while so that issuing
// credentials after warm-up makes no GitHub call. Errors are not cached.
type MembershipCache struct {
	Inner TeamMembers
	TTL   time.Duration
	Now   func() time.Time
	Max   int // entries; default 10,000

	mu      sync.Mutex
	entries map[string]membershipEntry
}

type membershipEntry struct {
	member bool
	until  time.Time
}

// ActiveTeamMember answers from the cache, or asks Inner.
func (c *MembershipCache) ActiveTeamMember(ctx context.Context, org, slug, login string) (bool, error) {
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	key := strings.ToLower(org + "/" + slug + "/" + login)
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if ok && now().Before(e.until) {
		return e.member, nil
	}
	member, err := c.Inner.ActiveTeamMember(ctx, org, slug, login)
	if err != nil {
		return false, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[string]membershipEntry{}
	}
	limit := c.Max
	if limit <= 0 {
		limit = 10_000
	}
	if len(c.entries) >= limit {
		for k, old := range c.entries {
			if !now().Before(old.until) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= limit {
			clear(c.entries)
		}
	}
	c.entries[key] = membershipEntry{member: member, until: now().Add(c.TTL)}
	return member, nil
}
