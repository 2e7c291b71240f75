package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/google/go-github/v60/github"

	"github.com/elevate-gitops/elevate/internal/awscreds"
	"github.com/elevate-gitops/elevate/internal/custody"
	"github.com/elevate-gitops/elevate/internal/eligibility"
	"github.com/elevate-gitops/elevate/internal/endsession"
	"github.com/elevate-gitops/elevate/internal/githubapi"
	"github.com/elevate-gitops/elevate/internal/ledger"
	"github.com/elevate-gitops/elevate/internal/notify"
	"github.com/elevate-gitops/elevate/internal/prcomment"
	"github.com/elevate-gitops/elevate/internal/request"
)

// endQueue bounds the batches of ended grants waiting for IAM.
const endQueue = 256

// sessionEnder notices grants that end early and has their sessions ended,
// off the path of every request: a worker retries each batch until IAM
// accepts.
type sessionEnder struct {
	ender   *endsession.Ender
	members eligibility.Membership
	logger  *slog.Logger
	// lag is added to each cut-off: a replica may still issue for a grant
	// until it syncs (endLag).
	lag time.Duration
	// A Deny that could not be written is raised at once: counted in
	// metrics, announced through notifier (with prLink), logged by the
	// ender.
	metrics  *Metrics
	notifier noticeSender
	prLink   func(pr int) string

	// logins finds the login a person holds now, by numeric id (nil
	// without --repo): the policy names logins, and one renamed since
	// the grant was verified is still the same person.
	logins loginLookup

	// ctx is the broker's: the worker lives as long as it.
	ctx context.Context

	mu    sync.Mutex
	live  map[string]ledger.LiveGrant // after the last check
	seen  bool                        // a check ran: live is what it saw
	queue chan []endsession.Ended
	once  sync.Once
	// pending are the ends whose Deny is not written yet (IAM refused
	// every retry, or the queue was full): queued again at every check
	// until IAM takes them or no session they name can be alive.
	pending []endsession.Ended
}

// endLag is how long after a grant ended a replica may still issue for
// it: one whose fetches fail serves its last good index for up to
// --max-staleness, one that syncs learns of the end within a head check;
// 5 s more for the clocks of GitHub and AWS.
func endLag(cfg Config) time.Duration {
	return cfg.MaxStaleness + cfg.HeadCheck + 5*time.Second
}

// loginLookup finds the login of a GitHub account by id (githubapi.Repo).
type loginLookup interface {
	LoginOf(ctx context.Context, id int64) (string, error)
}

// eligible reports whether g's person may still hold it under the policy
// at the head (stillEligible).
func (e *sessionEnder) eligible(ctx context.Context, x *ledger.Index, g ledger.LiveGrant) (bool, error) {
	return stillEligible(ctx, x.Policy, e.members, e.logins, g.Login, g.UserID, g.Target())
}

// stillEligible reports whether the person of a verified grant (login at
// verification, numeric id userID) may still hold target under p: by that
// login, else by the login their account holds now (a rename, with the
// policy naming the new one). A look-up that fails answers with the
// verified login: ending is the safe side. logins may be nil.
func stillEligible(ctx context.Context, p *eligibility.Policy, members eligibility.Membership, logins loginLookup, login string, userID int64, target request.Target) (bool, error) {
	ok, err := p.Eligible(ctx, login, target, members)
	if err != nil || ok || logins == nil || userID <= 0 {
		return ok, err
	}
	now, lerr := logins.LoginOf(ctx, userID)
	if lerr != nil || now == "" || strings.EqualFold(now, login) {
		return false, nil
	}
	return p.Eligible(ctx, now, target, members)
}

// noticeSender is what the ender needs of the notifier.
type noticeSender interface{ Send(notify.Event) }

func (e *sessionEnder) start() {
	ctx := e.ctx
	e.once.Do(func() {
		if e.ender.Refused == nil {
			e.ender.Refused = e.refused
		}
		failed := e.ender.Failed
		e.ender.Failed = func(batch []endsession.Ended, err error) {
			e.keep(batch)
			if failed != nil {
				failed(batch, err)
			}
		}
		e.queue = make(chan []endsession.Ended, endQueue)
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case batch := <-e.queue:
					_ = e.ender.End(ctx, batch)
				}
			}
		}()
	})
}

// check compares the grants live now with those live at the last check and
// queues the ones that ended before their window did.
func (e *sessionEnder) check(ctx context.Context, led *ledger.Ledger, now time.Time) {
	x := led.Index()
	if x == nil {
		return
	}
	e.start()
	trustErr := led.Trust()
	var untrusted *custody.UntrustedError
	var rewritten *custody.RewrittenError
	broken := errors.As(trustErr, &untrusted) || errors.As(trustErr, &rewritten)
	cur := map[string]ledger.LiveGrant{}
	notEligible := map[string]bool{}
	var ineligible []ledger.LiveGrant
	if !broken {
		for _, g := range led.Live(now) {
			if g.PermissionSet != "" {
				continue // Identity Center ends these: its own Deny and assignment
			}
			if x.Policy != nil {
				ok, err := e.eligible(ctx, x, g)
				if err == nil && !ok {
					notEligible[g.Key()] = true
					ineligible = append(ineligible, g)
					continue
				}
			}
			cur[g.Key()] = g
		}
	}
	e.mu.Lock()
	prev, first := e.live, !e.seen
	e.live, e.seen = cur, true
	e.mu.Unlock()
	var ended []endsession.Ended
	if first {
		// A process that starts after a grant ended never saw it live:
		// what could still have live sessions is ended again (the same
		// statement, so rewriting one is harmless).
		ended = append(ended, e.atStart(x, broken, ineligible, now)...)
	}
	if first && !broken {
		// The revocations recent enough for a session issued before them
		// to be alive.
		x.Revocations(func(r *ledger.Removal) {
			if r.Request == nil || now.Sub(r.At) > maxSessionAge+e.lag {
				return
			}
			for _, t := range r.Request.AllTargets() {
				if t.IsPermissionSet() {
					continue
				}
				ended = append(ended, endsession.Ended{AccountID: accountOf(x, t.Account), Role: t.Role, Scope: endsession.ScopeGrant,
					Grant: r.ID, Login: r.Request.Requester, Commit: r.Commit, Reason: "revoked", Before: r.At.Add(e.lag).Truncate(time.Second)})
			}
		})
	}
	seenRole := map[string]bool{}
	for key, g := range prev {
		if c, still := cur[key]; (still && c.Commit == g.Commit) || !now.Before(g.End) {
			continue
		}
		id := g.ID
		// A Deny names the grant by its request id, or the person by
		// numeric id: a login can change between issuance and now. An end
		// seen now cuts now: a replica may have issued until now, and
		// until its cached team memberships expire.
		end := endsession.Ended{AccountID: accountOf(x, g.Account), Role: g.Role, Scope: endsession.ScopeGrant, Grant: id, UserID: g.UserID,
			Login: g.Login, PR: g.PR, Before: now.Add(membershipTTL)}
		switch {
		case broken:
			// The policy or the branch is not trusted: every elevate
			// session of the role ends, once per role.
			if seenRole[end.AccountID+"/"+end.Role] {
				continue
			}
			seenRole[end.AccountID+"/"+end.Role] = true
			end.Scope, end.Login, end.Reason = endsession.ScopeRole, "", "untrusted"
		case notEligible[key]:
			end = notEligibleEnd(x, g, end.Before)
		default:
			if r, ok := x.Removed(id); ok {
				// The revocation's own time, the same on every replica, so
				// they all write one statement.
				end.Reason, end.Before, end.Commit, end.PR = "revoked", r.At, r.Commit, 0
				break
			}
			// Deleted and added again between two looks: the version
			// that was live is revoked as of the step that brought the
			// new one, whether or not that one verifies.
			readded, ok := x.Grant(id)
			if !ok || readded.Step.After == g.Commit {
				continue // dropped from the index without a revocation
			}
			end.Reason, end.Before, end.Commit, end.PR = "revoked", readded.Step.At, readded.Step.After, 0
		}
		end.Before = end.Before.Add(e.lag).Truncate(time.Second)
		ended = append(ended, end)
	}
	e.mu.Lock()
	ended = append(ended, e.retryable(now)...)
	e.mu.Unlock()
	if len(ended) == 0 {
		return
	}
	select {
	case e.queue <- ended:
	default:
		e.logger.Error("the queue of sessions to end is full; they are queued again at the next check", "grants", len(ended))
		e.keep(ended)
	}
}

// keep holds ends whose Deny is not written yet for the next check.
func (e *sessionEnder) keep(batch []endsession.Ended) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.pending = append(e.pending, batch...)
}

// retryable takes the pending ends that can still matter at now: a session
// issued before the cut-off lives at most maxSessionAge. Called with mu.
func (e *sessionEnder) retryable(now time.Time) []endsession.Ended {
	var out []endsession.Ended
	for _, x := range e.pending {
		if now.Sub(x.Before) <= maxSessionAge {
			out = append(out, x)
		}
	}
	e.pending = nil
	return out
}

// atStart is what a process that never saw the grants live must end at its
// first check: with the history broken, every elevate session of each role
// with a grant whose sessions may still live; the live grants whose person
// is no longer eligible, by person.
func (e *sessionEnder) atStart(x *ledger.Index, broken bool, ineligible []ledger.LiveGrant, now time.Time) []endsession.Ended {
	var out []endsession.Ended
	cut := now.Add(membershipTTL + e.lag).Truncate(time.Second)
	if broken {
		seenRole := map[string]bool{}
		x.Grants(func(g *ledger.Grant) {
			if g.Request == nil {
				return
			}
			if _, end := g.Request.Window(g.Step.At); !now.Before(end.Add(maxSessionAge)) {
				return
			}
			for _, t := range g.Request.AllTargets() {
				account := accountOf(x, t.Account)
				if k := account + "/" + t.Role; !t.IsPermissionSet() && !seenRole[k] {
					seenRole[k] = true
					out = append(out, endsession.Ended{AccountID: account, Role: t.Role, Scope: endsession.ScopeRole, Grant: g.ID, Reason: "untrusted", Before: cut})
				}
			}
		})
		return out
	}
	for _, g := range ineligible {
		out = append(out, notEligibleEnd(x, g, cut))
	}
	return out
}

// notEligibleEnd ends the sessions of g's person, who is no longer
// eligible: all their sessions of the role, whichever grant issued them
// (a verdict without the author's id ends the grant's).
func notEligibleEnd(x *ledger.Index, g ledger.LiveGrant, before time.Time) endsession.Ended {
	end := endsession.Ended{AccountID: accountOf(x, g.Account), Role: g.Role, Scope: endsession.ScopeGrant, Grant: g.ID, UserID: g.UserID,
		Login: g.Login, PR: g.PR, Reason: "not_eligible", Before: before}
	if g.UserID > 0 {
		end.Scope = endsession.ScopePerson
	}
	return end
}

// refused raises, at once, a batch whose Deny could not be written: the
// metric and the notice (the ender logs it and keeps retrying).
func (e *sessionEnder) refused(ended []endsession.Ended, err error) {
	if e.metrics != nil {
		e.metrics.endRefused.WithLabelValues(endsession.Cause(err)).Inc()
	}
	if e.notifier != nil {
		// Each replica that fails alerts at each check: once an hour is
		// enough to be heard.
		hour := time.Now().UTC().Format("2006-01-02T15")
		for _, x := range ended {
			one := []endsession.Ended{x}
			e.notifier.Send(notify.Event{Kind: notify.DenyNotWritten, ID: endedID(x) + "/" + hour, Text: notWrittenText(one, err, e.prLink)})
		}
	}
}

// endedID names an end the same way on every replica. A revocation is its
// grant and commit. A loss of eligibility or of trust has no commit of its
// own and a cut-off each replica counts from when it saw it: the hour of
// the cut-off tells one incident from the next (two replicas on either
// side of an hour's turn each send theirs). A role's end for untrusted
// history names no grant: which one a replica picks is chance.
func endedID(x endsession.Ended) string {
	hour := x.Before.UTC().Format("2006-01-02T15")
	switch {
	case x.Reason == "revoked":
		return fmt.Sprintf("revoked/%s/%s/%s/%s", x.Grant, x.AccountID, x.Role, x.Commit)
	case x.Scope == endsession.ScopeRole:
		return fmt.Sprintf("%s/%s/%s/%s", x.Reason, x.AccountID, x.Role, hour)
	}
	return fmt.Sprintf("%s/%s/%d/%s/%s/%s", x.Reason, x.Grant, x.UserID, x.AccountID, x.Role, hour)
}

// notWrittenText is the notice of a Deny that could not be written: whose
// sessions keep working, why, and what to do.
func notWrittenText(ended []endsession.Ended, err error, prLink func(int) string) string {
	var parts []string
	for _, x := range ended {
		var whose string
		switch x.Scope {
		case endsession.ScopePerson:
			whose = fmt.Sprintf("every session of %s (GitHub id %d)", esc(x.Login), x.UserID)
		case endsession.ScopeRole:
			whose = "every elevate session"
		default:
			whose = "its sessions"
		}
		where := "its PR is not known"
		switch {
		case x.PR != 0 && prLink != nil:
			where = prLink(x.PR)
		case x.Commit != "":
			where = fmt.Sprintf("revoked at commit %.12s", x.Commit)
		}
		parts = append(parts, fmt.Sprintf("`%s` (%s; %s, role %s in %s, issued before %s)", esc(x.Grant), where, whose, esc(x.Role), x.AccountID, x.Before.UTC().Format(time.RFC3339)))
	}
	next := ""
	switch endsession.Cause(err) {
	case "too_large":
		next = fmt.Sprintf(" The role's inline policies are full (IAM allows %d characters for all of them together): make room in its other inline policies.", endsession.MaxPolicySize)
	case "refused":
		next = " Check that the end-sessions role may call iam:GetRole, iam:ListRolePolicies, iam:GetRolePolicy and iam:PutRolePolicy on this role."
	}
	reason := err.Error()
	if r := []rune(reason); len(r) > 300 {
		reason = string(r[:300]) + "…"
	}
	return "⚠️ *elevate could not end live AWS sessions:* no Deny could be written for " + strings.Join(parts, "; ") +
		". They keep working until it is; the broker keeps trying." + next + " (" + esc(reason) + ")"
}

// membershipTTL is how long a team membership the broker read stays
// cached: a person removed from a team may still be issued to that long.
const membershipTTL = time.Minute

// maxSessionAge is the longest an STS role session lives (12 h).
const maxSessionAge = 12 * time.Hour

func accountOf(x *ledger.Index, name string) string {
	if x.Policy == nil {
		return ""
	}
	id, _ := x.Policy.AccountID(name)
	return id
}

// IAMFor returns clients acting, in each target account, as the role named
// roleName there (the broker assumes it), cached until shortly before its
// credentials expire.
func IAMFor(stsClient *sts.Client, region, endpoint, roleName string, now func() time.Time) func(ctx context.Context, account string) (endsession.IAM, error) {
	type entry struct {
		client  *iam.Client
		expires time.Time
	}
	var mu sync.Mutex
	cache := map[string]entry{}
	return func(ctx context.Context, account string) (endsession.IAM, error) {
		mu.Lock()
		e, ok := cache[account]
		mu.Unlock()
		if ok && now().Before(e.expires.Add(-5*time.Minute)) {
			return e.client, nil
		}
		arn := awscreds.RoleARN(account, roleName)
		out, err := stsClient.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(arn), RoleSessionName: aws.String("elevate-end-sessions"), DurationSeconds: aws.Int32(900)})
		if err != nil {
			return nil, fmt.Errorf("assume %s: %w", arn, err)
		}
		c := out.Credentials
		cfg := aws.Config{Region: region, Credentials: credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))}
		client := iam.NewFromConfig(cfg, func(o *iam.Options) {
			if endpoint != "" {
				o.BaseEndpoint = aws.String(endpoint)
			}
		})
		mu.Lock()
		cache[account] = entry{client, aws.ToTime(c.Expiration)}
		mu.Unlock()
		return client, nil
	}
}

// prCommenter is what comment needs from GitHub.
type prCommenter interface {
	PullsWithCommit(ctx context.Context, sha string) ([]*github.PullRequest, error)
	UpdateCommentWhere(ctx context.Context, number int, mine func(*github.IssueComment) bool, update func(old string) string, create func(context.Context) (bool, error)) (string, error)
}

// repoOf is the access repository's API, nil without --repo.
func repoOf(gh *github.Client, fullName string) *githubapi.Repo {
	if fullName == "" {
		return nil
	}
	repo, err := githubapi.NewRepo(gh, fullName)
	if err != nil {
		return nil
	}
	return repo
}

// comment tells the PR that ended each grant (its revocation's, or its own)
// whose sessions were ended and from when, retrying a few times (GitHub or
// the claims failing, for as long as the claim store does); failing to is
// only logged. It runs behind the ender.
func comment(ctx context.Context, gh prCommenter, once *onceAcross, key *prcomment.Key, ended []endsession.Ended, logger *slog.Logger) {
	for _, e := range ended {
		if err := retryComment(ctx, commentBackoff, commentAttempts, func() error { return commentOne(ctx, gh, once, key, e) }); err != nil {
			logger.Warn("could not tell the PR of ended sessions", "grant", e.Grant, "error", err)
		}
	}
}

// commentAttempts and commentBackoff pace the retries of a PR comment.
const (
	commentAttempts = 6
	commentBackoff  = time.Second
)

// commentOne tells e to its PR.
func commentOne(ctx context.Context, gh prCommenter, once *onceAcross, key *prcomment.Key, e endsession.Ended) error {
	number := e.PR
	if e.Commit != "" {
		prs, err := gh.PullsWithCommit(ctx, e.Commit)
		if err != nil {
			return fmt.Errorf("find the PR of commit %.12s: %w", e.Commit, err)
		}
		for _, pr := range prs {
			if pr.MergedAt != nil && pr.GetMergeCommitSHA() == e.Commit {
				number = pr.GetNumber()
			}
		}
	}
	if number == 0 {
		return nil
	}
	body := key.EndedBody(e.Grant, endedNote(e))
	_, err := gh.UpdateCommentWhere(ctx, number, key.MineEnded(e.Grant), func(string) string { return body }, once.create("ended", e.Grant, number))
	return err
}

// endedNote is what the PR is told of e.
func endedNote(e endsession.Ended) prcomment.Ended {
	return prcomment.Ended{Login: e.Login, AccountID: e.AccountID, Role: e.Role, Before: e.Before, Reason: e.Reason, Policy: endsession.PolicyName}
}

// DefaultEndSessionsRole is the role the broker assumes in each account to
// end sessions (--end-sessions-role).
const DefaultEndSessionsRole = "elevate-end-sessions"
