package broker

import (
	"testing"
	"time"
)

// TestActivityReadsAreDue: a grant's trail is read 15 minutes, an hour and
// six hours after it ended (its window's end, or its revocation), then a
// day after its window's end; the latest read due is the one made, and
// none past the last one's hour.
func TestActivityReadsAreDue(t *testing.T) {
	end := time.Date(2026, 11, 21, 1, 0, 0, 0, time.UTC)
	revoked := end.Add(-90 * time.Minute)
	for _, tc := range []struct {
		name       string
		ended, now time.Time
		n          int
		ok         bool
	}{
		{"at the window end", end, end, 0, false},
		{"15 minutes after", end, end.Add(15 * time.Minute), 0, true},
		{"an hour after", end, end.Add(time.Hour), 1, true},
		{"a broker back after five hours reads once", end, end.Add(5 * time.Hour), 1, true},
		{"six hours after", end, end.Add(6 * time.Hour), 2, true},
		{"a day after the window", end, end.Add(24 * time.Hour), 3, true},
		{"past the last read's hour", end, end.Add(25*time.Hour + time.Second), 0, false},
		{"revoked: 15 minutes after the revocation", revoked, revoked.Add(15 * time.Minute), 0, true},
		{"revoked: the last read is a day after the window's end", revoked, end.Add(24 * time.Hour), 3, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, ok := due(tc.ended, end, tc.now)
			if n != tc.n || ok != tc.ok {
				t.Errorf("due = %d %v, want %d %v", n, ok, tc.n, tc.ok)
			}
		})
	}
}
