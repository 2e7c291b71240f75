package claim

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// memoryLimit is the most claims a Memory holds; past it, the claim that
// expires first is dropped.
const memoryLimit = 100_000

// Memory claims in this process only: enough for one replica, and for
// tests. Expired claims are forgotten as later ones are made, and at most
// memoryLimit are held; past that the claim that expires first is dropped
// early, so an id flooded out of it can be claimed again before its ttl.
type Memory struct {
	now   func() time.Time
	limit int

	mu    sync.Mutex
	held  map[string]struct{} // the keys claimed and not expired
	queue expiries            // the same claims, soonest expiry first
}

var _ Claimer = (*Memory)(nil)

// NewMemory returns an empty Memory reading the time from now (time.Now
// when nil).
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{now: now, limit: memoryLimit, held: map[string]struct{}{}}
}

// Claim grants id to its first caller, until ttl after that claim.
func (m *Memory) Claim(ctx context.Context, id string, ttl time.Duration) (bool, error) {
	k, err := key(id, ttl)
	if err != nil {
		return false, err
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	for len(m.queue) > 0 && !now.Before(m.queue[0].expires) {
		delete(m.held, heap.Pop(&m.queue).(claimed).key)
	}
	if _, ok := m.held[k]; ok {
		return false, nil
	}
	for len(m.queue) >= m.limit {
		delete(m.held, heap.Pop(&m.queue).(claimed).key)
	}
	expires := now.Add(ttl)
	m.held[k] = struct{}{}
	heap.Push(&m.queue, claimed{key: k, expires: expires})
	return true, nil
}

// claimed is one claim a Memory holds.
type claimed struct {
	key     string
	expires time.Time
}

// expiries is a min-heap of claims by expiry (container/heap).
type expiries []claimed

func (q expiries) Len() int           { return len(q) }
func (q expiries) Less(i, j int) bool { return q[i].expires.Before(q[j].expires) }
func (q expiries) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *expiries) Push(x any)        { *q = append(*q, x.(claimed)) }
func (q *expiries) Pop() any {
	old := *q
	last := old[len(old)-1]
	*q = old[:len(old)-1]
	return last
}
