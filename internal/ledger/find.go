package ledger

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Ask is what a caller wants credentials for: a request id, or an account and role.
type Ask struct {
	UserID    int64
	Login     string
	RequestID string // or Account and Role
	Account   string
	Role      string
}

// Found is a usable grant: verified, the caller's, and in its window.
type Found struct {
	Grant        *Grant
	Verification *Verification
	Start, End   time.Time
}

// Refusals a caller can act on.
type (
	NotSyncedError     struct{}
	NoActiveGrantError struct {
		Ask Ask
		Why string
	}
	ExpiredError struct {
		ID  string
		End time.Time
	}
	NotYetError struct {
		ID    string
		Start time.Time
	}
	RevokedError struct {
		ID     string
		At     time.Time
		Commit string
	}
	AmbiguousError struct{ IDs []string }
)

func (NotSyncedError) Error() string { return "the ledger has not been read yet" }
func (e *NoActiveGrantError) Error() string {
	what := e.Ask.RequestID
	if what == "" {
		what = e.Ask.Account + "/" + e.Ask.Role
	}
	if e.Why != "" {
		return fmt.Sprintf("no active grant for %s: %s", what, e.Why)
	}
	return "no active grant for " + what
}
func (e *ExpiredError) Error() string {
	return fmt.Sprintf("grant %s expired at %s", e.ID, e.End.UTC().Format(time.RFC3339))
}
func (e *NotYetError) Error() string {
	return fmt.Sprintf("grant %s opens at %s", e.ID, e.Start.UTC().Format(time.RFC3339))
}
func (e *RevokedError) Error() string {
	return fmt.Sprintf("grant %s was revoked at %s (commit %.12s)", e.ID, e.At.UTC().Format(time.RFC3339), e.Commit)
}
func (e *AmbiguousError) Error() string {
	return "the request id is ambiguous: it could be " + strings.Join(e.IDs, ", ")
}

// Find returns the caller's usable grant for ask. Errors are the refusals
// above, or a verification error (GitHub unreachable): fail closed.
func (l *Ledger) Find(ctx context.Context, ask Ask) (*Found, error) {
	x := l.Index()
	if x == nil {
		return nil, NotSyncedError{}
	}
	now := l.cfg.Now()
	if ask.RequestID != "" {
		return l.findByID(ctx, x, ask, now)
	}
	var refusal error
	seen := map[string]bool{}
	try := func(g *Grant) (*Found, error) {
		// A user's id index may name a path since re-used for another role.
		if seen[g.ID] || g.Request == nil || g.Request.Account != ask.Account || g.Request.Role != ask.Role {
			return nil, nil
		}
		seen[g.ID] = true
		f, err := l.usable(ctx, g, ask, now)
		var upstream *VerifyError
		if errors.As(err, &upstream) {
			return nil, err
		}
		if err != nil {
			refusal = preferRefusal(refusal, err)
			return nil, nil
		}
		return f, nil
	}
	var best *Found
	consider := func(g *Grant) error {
		f, err := try(g)
		if err != nil {
			return err
		}
		if f != nil && (best == nil || f.End.After(best.End)) {
			best = f
		}
		return nil
	}
	for _, id := range l.grantsOf(ask.UserID, ask.Account, ask.Role) {
		if g, ok := x.grants[id]; ok {
			if err := consider(g); err != nil {
				return nil, err
			}
		}
	}
	for _, g := range x.ByAsk(ask.Login, ask.Account, ask.Role) {
		if err := consider(g); err != nil {
			return nil, err
		}
	}
	if best != nil {
		return best, nil
	}
	if refusal != nil {
		return nil, refusal
	}
	if r, ok := x.RemovedByAsk(ask.Login, ask.Account, ask.Role); ok {
		return nil, &RevokedError{ID: r.ID, At: r.At, Commit: r.Commit}
	}
	return nil, &NoActiveGrantError{Ask: ask}
}

func (l *Ledger) findByID(ctx context.Context, x *Index, ask Ask, now time.Time) (*Found, error) {
	if ids := x.Ambiguous(ask.RequestID); ids != nil {
		return nil, &AmbiguousError{IDs: ids}
	}
	g, ok := x.Grant(ask.RequestID)
	if !ok {
		if r, ok := x.Removed(ask.RequestID); ok {
			return nil, &RevokedError{ID: r.ID, At: r.At, Commit: r.Commit}
		}
		return nil, &NoActiveGrantError{Ask: ask, Why: "no such request on the branch (not merged yet, or older than any open window)"}
	}
	if g.Request == nil {
		return nil, &NoActiveGrantError{Ask: ask, Why: "the request file is invalid: " + g.Invalid}
	}
	return l.usable(ctx, g, ask, now)
}

// VerifyError wraps a failure to verify a grant with GitHub.
type VerifyError struct{ Err error }

func (e *VerifyError) Error() string {
	return "could not verify the grant with GitHub: " + e.Err.Error()
}
func (e *VerifyError) Unwrap() error { return e.Err }

// usable checks that g is verified, belongs to the caller, and is in its window.
func (l *Ledger) usable(ctx context.Context, g *Grant, ask Ask, now time.Time) (*Found, error) {
	v, err := l.verify(ctx, g)
	if err != nil {
		return nil, &VerifyError{Err: err}
	}
	if !v.OK {
		return nil, &NoActiveGrantError{Ask: ask, Why: v.Reason}
	}
	if v.AuthorID != ask.UserID {
		return nil, &NoActiveGrantError{Ask: ask, Why: fmt.Sprintf("%s belongs to another GitHub user", g.ID)}
	}
	start, end := g.Request.Window(v.MergedAt)
	switch {
	case now.Before(start):
		return nil, &NotYetError{ID: g.ID, Start: start}
	case !now.Before(end):
		return nil, &ExpiredError{ID: g.ID, End: end}
	}
	return &Found{Grant: g, Verification: v, Start: start, End: end}, nil
}

// preferRefusal keeps the most telling refusal: a grant that opens later, then
// the latest expiry, over "not yours" or "not approved".
func preferRefusal(have, next error) error {
	rank := func(err error) int {
		var notYet *NotYetError
		var expired *ExpiredError
		switch {
		case errors.As(err, &notYet):
			return 3
		case errors.As(err, &expired):
			return 2
		case err != nil:
			return 1
		}
		return 0
	}
	if rank(next) > rank(have) {
		return next
	}
	var a, b *ExpiredError
	if errors.As(have, &a) && errors.As(next, &b) && b.End.After(a.End) {
		return next
	}
	return have
}

func (l *Ledger) grantsOf(userID int64, account, role string) []string {
	l.stateMu.Lock()
	defer l.stateMu.Unlock()
	return append([]string(nil), l.byUser[userKey{userID, account, role}]...)
}

// Grants lists the caller's grants of the current index with their windows,
// for GET /v1/grants. Unverified grants are verified here.
func (l *Ledger) GrantsOf(ctx context.Context, userID int64, login string) ([]Status, error) {
	x := l.Index()
	if x == nil {
		return nil, NotSyncedError{}
	}
	now := l.cfg.Now()
	var out []Status
	for _, g := range x.grants {
		if g.Request == nil {
			continue
		}
		l.stateMu.Lock()
		v, verified := l.verified[g.Commit+":"+g.Path]
		l.stateMu.Unlock()
		if !verified {
			if !strings.EqualFold(g.Request.Requester, login) {
				continue
			}
			var err error
			if v, err = l.verify(ctx, g); err != nil {
				return nil, &VerifyError{Err: err}
			}
		}
		if !v.OK || v.AuthorID != userID {
			continue
		}
		start, end := g.Request.Window(v.MergedAt)
		state := "active"
		switch {
		case now.Before(start):
			state = "scheduled"
		case !now.Before(end):
			state = "expired"
		}
		out = append(out, Status{ID: g.ID, Account: g.Request.Account, Role: g.Request.Role, State: state, Start: start, End: end, PR: v.PR, Emergency: g.Request.Emergency})
	}
	for _, r := range x.removed {
		if r.Request != nil && strings.EqualFold(r.Request.Requester, login) {
			out = append(out, Status{ID: r.ID, Account: r.Request.Account, Role: r.Request.Role, State: "revoked", End: r.At})
		}
	}
	return out, nil
}

// Status is one of a caller's grants and its state.
type Status struct {
	ID        string    `json:"request"`
	Account   string    `json:"account"`
	Role      string    `json:"role"`
	State     string    `json:"state"`
	Start     time.Time `json:"start,omitzero"`
	End       time.Time `json:"end"`
	PR        int       `json:"pr,omitempty"`
	Emergency bool      `json:"emergency,omitempty"`
}
