package eligibility

import (
	"context"
	"fmt"
	"strings"
)

// Memo asks each team-membership question at most once: one decision may
// ask about the same team for several rules or owners.
type Memo struct {
	members Membership
	answers map[[3]string]bool
}

// NewMemo wraps members (which may be nil: any team question is then an error).
func NewMemo(members Membership) *Memo {
	return &Memo{members: members, answers: map[[3]string]bool{}}
}

// ActiveTeamMember implements Membership. A failed look-up is an error,
// never a "no": the caller must fail closed.
func (m *Memo) ActiveTeamMember(ctx context.Context, org, team, login string) (bool, error) {
	key := [3]string{strings.ToLower(org), strings.ToLower(team), strings.ToLower(login)}
	if in, ok := m.answers[key]; ok {
		return in, nil
	}
	if m.members == nil {
		return false, fmt.Errorf("team @%s/%s is named but no team membership source is configured", org, team)
	}
	in, err := m.members.ActiveTeamMember(ctx, org, team, login)
	if err != nil {
		return false, fmt.Errorf("check whether %s is in @%s/%s: %w", login, org, team, err)
	}
	m.answers[key] = in
	return in, nil
}
