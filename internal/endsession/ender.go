package endsession

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
)

// IAM is the part of IAM the ender calls, in the target account.
type IAM interface {
	GetRole(ctx context.Context, in *iam.GetRoleInput, optFns ...func(*iam.Options)) (*iam.GetRoleOutput, error)
	GetRolePolicy(ctx context.Context, in *iam.GetRolePolicyInput, optFns ...func(*iam.Options)) (*iam.GetRolePolicyOutput, error)
	PutRolePolicy(ctx context.Context, in *iam.PutRolePolicyInput, optFns ...func(*iam.Options)) (*iam.PutRolePolicyOutput, error)
}

// Ender writes the Deny statements. IAM is per account: IAMFor returns a
// client acting as the account's end-sessions role.
type Ender struct {
	IAMFor func(ctx context.Context, accountID string) (IAM, error)
	Now    func() time.Time
	Logger *slog.Logger
	// Done, when set, hears of each batch that took effect, and Failed of
	// each that did not (for metrics and PR comments).
	Done   func(ctx context.Context, ended []Ended)
	Failed func(ended []Ended, err error)
	// Attempts bounds the tries of one batch (default 8), Backoff the first
	// wait between them (default 1 s, doubling, at most a minute).
	Attempts int
	Backoff  time.Duration
	// Settle is how long after a good read-back the policy is read once
	// more (default 2 s): a replica that read before this write and wrote
	// after its read-back would otherwise drop it unseen.
	Settle time.Duration

	mu sync.Mutex // one write per role at a time in this broker
}

// End makes the sessions of ended stop working, role by role, retrying with
// backoff until IAM accepts. A policy that would pass IAM's size limit is
// not retried: it is reported.
func (e *Ender) End(ctx context.Context, ended []Ended) error {
	type key struct{ account, role string }
	groups := map[key][]Ended{}
	for _, x := range ended {
		k := key{x.AccountID, x.Role}
		groups[k] = append(groups[k], x)
	}
	keys := make([]key, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].account+keys[i].role < keys[j].account+keys[j].role })
	var all error
	for _, k := range keys {
		batch := groups[k]
		err := e.retry(ctx, func() error { return e.apply(ctx, k.account, k.role, batch) })
		if err != nil {
			all = errors.Join(all, err)
			e.logger().Error("could not end sessions", "account", k.account, "role", k.role, "grants", grants(batch), "error", err)
			if e.Failed != nil {
				e.Failed(batch, err)
			}
			continue
		}
		e.logger().Info("sessions ended", "account", k.account, "role", k.role, "policy", PolicyName, "grants", grants(batch))
		if e.Done != nil {
			e.Done(ctx, batch)
		}
	}
	return all
}

func (e *Ender) retry(ctx context.Context, f func() error) error {
	attempts, wait := e.Attempts, e.Backoff
	if attempts <= 0 {
		attempts = 8
	}
	if wait <= 0 {
		wait = time.Second
	}
	var err error
	for i := range attempts {
		if err = f(); err == nil {
			return nil
		}
		var tooLarge *TooLargeError
		if errors.As(err, &tooLarge) || i == attempts-1 {
			return err
		}
		e.logger().Warn("IAM did not take the ended sessions yet; retrying", "attempt", i+1, "wait", wait.String(), "error", err)
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Minute)
	}
	return err
}

// conflictRetries bounds how often a write that another writer overwrote
// is merged again.
const conflictRetries = 5

// apply merges batch into the role's policy: read, merge, write, and read
// back; a statement another broker's write lost is merged again. IAM has no
// conditional write, so the read-back is what keeps replicas from losing
// each other's statements.
func (e *Ender) apply(ctx context.Context, account, role string, batch []Ended) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	client, err := e.IAMFor(ctx, account)
	if err != nil {
		return fmt.Errorf("act in account %s: %w", account, err)
	}
	r, err := client.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(role)})
	if err != nil {
		return fmt.Errorf("get role %s: %w", role, err)
	}
	maxSession := time.Hour
	if s := aws.ToInt32(r.Role.MaxSessionDuration); s > 0 {
		maxSession = time.Duration(s) * time.Second
	}
	want := make([]Statement, len(batch))
	for i, x := range batch {
		want[i] = StatementFor(x)
	}
	for range conflictRetries {
		doc, err := e.read(ctx, client, role)
		if err != nil {
			return err
		}
		merged, dropped, err := Merge(doc, want, e.now(), maxSession)
		if err != nil {
			return err
		}
		if dropped > 0 {
			e.logger().Info("dropped ended-session statements older than the role's maximum session", "role", role, "dropped", dropped, "max_session", maxSession.String())
		}
		if _, err := client.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(role), PolicyName: aws.String(PolicyName), PolicyDocument: aws.String(JSON(merged))}); err != nil {
			var limit *types.LimitExceededException
			if errors.As(err, &limit) {
				return &TooLargeError{Size: Size(merged), Limit: MaxPolicySize, Live: len(merged.Statement)}
			}
			return fmt.Errorf("put %s on %s: %w", PolicyName, role, err)
		}
		after, err := e.read(ctx, client, role)
		if err != nil {
			return err
		}
		if !Holds(after, want) {
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(cmp.Or(e.Settle, 2*time.Second)):
		}
		if after, err = e.read(ctx, client, role); err != nil {
			return err
		}
		if Holds(after, want) {
			return nil
		}
		e.logger().Warn("another writer dropped ended-session statements after they were written; merging again", "role", role)
	}
	return fmt.Errorf("put %s on %s: other writers kept overwriting it", PolicyName, role)
}

func (e *Ender) read(ctx context.Context, client IAM, role string) (*Document, error) {
	out, err := client.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(role), PolicyName: aws.String(PolicyName)})
	var missing *types.NoSuchEntityException
	if errors.As(err, &missing) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get %s of %s: %w", PolicyName, role, err)
	}
	return ParseDocument(aws.ToString(out.PolicyDocument))
}

func (e *Ender) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

func (e *Ender) logger() *slog.Logger {
	if e.Logger != nil {
		return e.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func grants(batch []Ended) []string {
	out := make([]string, len(batch))
	for i, x := range batch {
		out[i] = x.Grant
	}
	return out
}
