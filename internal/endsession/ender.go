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
	"github.com/aws/smithy-go"
)

// IAM is the part of IAM the ender calls, in the target account.
type IAM interface {
	GetRole(ctx context.Context, in *iam.GetRoleInput, optFns ...func(*iam.Options)) (*iam.GetRoleOutput, error)
	ListRolePolicies(ctx context.Context, in *iam.ListRolePoliciesInput, optFns ...func(*iam.Options)) (*iam.ListRolePoliciesOutput, error)
	GetRolePolicy(ctx context.Context, in *iam.GetRolePolicyInput, optFns ...func(*iam.Options)) (*iam.GetRolePolicyOutput, error)
	PutRolePolicy(ctx context.Context, in *iam.PutRolePolicyInput, optFns ...func(*iam.Options)) (*iam.PutRolePolicyOutput, error)
}

// Ender writes the Deny statements. IAM is per account: IAMFor returns a
// client acting as the account's end-sessions role.
type Ender struct {
	IAMFor func(ctx context.Context, accountID string) (IAM, error)
	Now    func() time.Time
	Logger *slog.Logger
	// Done, when set, hears of each batch that took effect. Refused hears
	// at once, and once, of each batch whose Deny could not be written
	// (over IAM's size limit, refused by IAM, or failed), before the
	// retries; Failed of each batch still not written after every retry.
	Done    func(ctx context.Context, ended []Ended)
	Refused func(ended []Ended, err error)
	Failed  func(ended []Ended, err error)
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
// backoff until IAM accepts. A batch that cannot be written is raised at
// once (an error log line and Refused), then tried again: expired
// statements make room as time passes, and people may make room sooner.
func (e *Ender) End(ctx context.Context, ended []Ended) error {
	type key struct{ account, role string }
	groups := map[key][]Ended{}
	var all error
	for _, x := range ended {
		if _, err := StatementFor(x); err != nil {
			// A bug, not IAM: no retry makes it writable.
			err = fmt.Errorf("end the sessions of %s on %s: %w", x.Grant, x.Role, err)
			all = errors.Join(all, err)
			e.logger().Error("could not end sessions", "account", x.AccountID, "role", x.Role, "grants", []string{x.Grant}, "error", err)
			if e.Failed != nil {
				e.Failed([]Ended{x}, err)
			}
			continue
		}
		k := key{x.AccountID, x.Role}
		groups[k] = append(groups[k], x)
	}
	keys := make([]key, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].account+keys[i].role < keys[j].account+keys[j].role })
	for _, k := range keys {
		batch := groups[k]
		err := e.retry(ctx, batch, func() error { return e.apply(ctx, k.account, k.role, batch) })
		if err != nil {
			all = errors.Join(all, err)
			e.logger().Error("could not end sessions; giving up on this batch", "account", k.account, "role", k.role, "grants", grants(batch), "cause", Cause(err), "error", err)
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

func (e *Ender) retry(ctx context.Context, batch []Ended, f func() error) error {
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
			if i > 0 {
				e.logger().Info("the Deny that ends sessions was written after a refusal", "account", batch[0].AccountID, "role", batch[0].Role, "grants", grants(batch), "attempts", i+1)
			}
			return nil
		}
		if ctx.Err() != nil {
			return errors.Join(err, ctx.Err())
		}
		if i == 0 {
			e.logger().Error("could not write the Deny that ends sessions; retrying", "account", batch[0].AccountID, "role", batch[0].Role, "policy", PolicyName,
				"grants", grants(batch), "cause", Cause(err), "error", err)
			if e.Refused != nil {
				e.Refused(batch, err)
			}
		}
		if i == attempts-1 {
			break
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

// Cause names why a Deny could not be written, for metrics: too_large
// (IAM's size limit for a role's inline policies), refused (IAM or STS
// answered with an error, such as a permission the end-sessions role
// lacks) or failed (anything else: the network, other writers).
func Cause(err error) string {
	var tooLarge *TooLargeError
	var limit *types.LimitExceededException
	var api smithy.APIError
	switch {
	case errors.As(err, &tooLarge), errors.As(err, &limit):
		return "too_large"
	case errors.As(err, &api):
		return "refused"
	}
	return "failed"
}

// conflictRetries bounds how often a write that another writer overwrote
// is merged again.
const conflictRetries = 5

// apply merges batch into the role's policy: read every inline policy of
// the role, merge, write, and read back; a statement another broker's
// write lost is merged again. IAM has no conditional write, so the
// read-back is what keeps replicas from losing each other's statements.
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
	now := e.now()
	var want []Statement
	for _, x := range batch {
		s, err := StatementFor(x)
		if err != nil {
			return err
		}
		// A cut-off older than the role's maximum session ends nothing.
		if !Expired(s, now.Add(-maxSession)) {
			want = append(want, s)
		}
	}
	if len(want) == 0 {
		return nil
	}
	for range conflictRetries {
		in, err := e.read(ctx, client, role)
		if err != nil {
			return err
		}
		if Holds(in.Ours, want) {
			return nil // written already (by another replica, or before)
		}
		merged, dropped, err := Merge(in, want, now, maxSession)
		if err != nil {
			return err
		}
		if dropped > 0 {
			e.logger().Info("dropped expired or duplicate statements of the ended-sessions policy", "role", role, "dropped", dropped, "max_session", maxSession.String())
		}
		if _, err := client.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(role), PolicyName: aws.String(PolicyName), PolicyDocument: aws.String(JSON(merged))}); err != nil {
			return fmt.Errorf("put %s on %s: %w", PolicyName, role, err)
		}
		after, err := e.readOurs(ctx, client, role)
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
		if after, err = e.readOurs(ctx, client, role); err != nil {
			return err
		}
		if Holds(after, want) {
			return nil
		}
		e.logger().Warn("another writer dropped ended-session statements after they were written; merging again", "role", role)
	}
	return fmt.Errorf("put %s on %s: other writers kept overwriting it", PolicyName, role)
}

// read reads every inline policy of role: IAM's size limit covers them all.
func (e *Ender) read(ctx context.Context, client IAM, role string) (Inline, error) {
	in := Inline{Others: map[string]int{}}
	pages := iam.NewListRolePoliciesPaginator(client, &iam.ListRolePoliciesInput{RoleName: aws.String(role)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return Inline{}, fmt.Errorf("list the inline policies of %s: %w", role, err)
		}
		for _, name := range page.PolicyNames {
			if name == PolicyName {
				continue
			}
			out, err := client.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(role), PolicyName: aws.String(name)})
			var missing *types.NoSuchEntityException
			if errors.As(err, &missing) {
				continue // deleted since the listing
			}
			if err != nil {
				return Inline{}, fmt.Errorf("get %s of %s: %w", name, role, err)
			}
			in.Others[name] = TextSize(aws.ToString(out.PolicyDocument))
		}
	}
	ours, err := e.readOurs(ctx, client, role)
	if err != nil {
		return Inline{}, err
	}
	in.Ours = ours
	return in, nil
}

func (e *Ender) readOurs(ctx context.Context, client IAM, role string) (*Document, error) {
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
