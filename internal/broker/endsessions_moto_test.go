package broker_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/google/go-github/v60/github"

	"github.com/elevate-gitops/elevate/internal/awscreds"
	"github.com/elevate-gitops/elevate/internal/broker"
	"github.com/elevate-gitops/elevate/internal/broker/brokertest"
	"github.com/elevate-gitops/elevate/internal/endsession"
	vt "github.com/elevate-gitops/elevate/internal/validate/validatetest"
)

// rolePolicy reads the target role's elevate-ended-sessions policy through
// the AWS CLI, as an auditor would.
func rolePolicy(t *testing.T, target brokertest.AWS) *endsession.Document {
	t.Helper()
	out := brokertest.AWSCLI(t, target.Endpoint, []string{"AWS_ACCESS_KEY_ID=" + target.AuditorKey, "AWS_SECRET_ACCESS_KEY=" + target.AuditorSecret},
		"iam", "get-role-policy", "--role-name", "Admin", "--policy-name", endsession.PolicyName)
	var got struct{ PolicyDocument json.RawMessage }
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var doc endsession.Document
	if err := json.Unmarshal(got.PolicyDocument, &doc); err != nil {
		var text string
		if json.Unmarshal(got.PolicyDocument, &text) != nil {
			t.Fatalf("policy document %s: %v", got.PolicyDocument, err)
		}
		d, err := endsession.ParseDocument(text)
		if err != nil {
			t.Fatal(err)
		}
		doc = *d
	}
	return &doc
}

func statementFor(doc *endsession.Document, identity string) *endsession.Statement {
	for i, s := range doc.Statement {
		if s.Condition["StringEquals"]["aws:SourceIdentity"] == identity {
			return &doc.Statement[i]
		}
	}
	return nil
}

// waitFor polls until cond holds or 15 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// Against moto's IAM, through the SDK: a merged revocation and a removal
// from the policy each write a Deny for the person's SourceIdentity, dated
// at the end, on the target role; the PR is told; the metric counts it.
func TestEndSessionsAgainstMoto(t *testing.T) {
	t.Parallel()
	target := brokertest.StartMotoEndSessions(t)
	h := brokertest.NewOn(t, target)
	cfg := h.Config()
	cfg.EndSessions, cfg.IAMEndpoint, cfg.STSEndpoint, cfg.HeadCheck = true, target.Endpoint, target.Endpoint, time.Second
	b, err := broker.Build(context.Background(), cfg, h.Deps())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Syncer.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The grant is live once verified; the check remembers it.
	waitFor(t, "the grant to be live", func() bool { return len(b.Ledger.Live(h.Clock())) == 1 })
	if err := b.Syncer.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)

	revokedAt := h.Clock().Truncate(time.Second)
	revocation := h.Repo.Commit(revokedAt, "Merge pull request #40", map[string]string{vt.RequestPath: ""})
	h.GitHub.Fake.AddPull(&github.PullRequest{Number: github.Int(40), State: github.String("open"), User: vt.Author,
		Head: &github.PullRequestBranch{SHA: github.String("4000000000000000000000000000000000000040"), Ref: github.String("revoke")},
		Base: &github.PullRequestBranch{SHA: github.String(vt.BaseSHA), Ref: github.String("main")},
	}, []*github.CommitFile{{Filename: github.String(vt.RequestPath), Status: github.String("removed")}})
	h.GitHub.MergeAs(t, 40, revokedAt, revocation)
	if err := b.Syncer.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	var st *endsession.Statement
	defer func() {
		if t.Failed() {
			t.Log(h.Logs.String())
		}
	}()
	waitFor(t, "the Deny for gh-Codertocat on role Admin", func() bool {
		out := brokertest.AWSCLIMayFail(target.Endpoint, []string{"AWS_ACCESS_KEY_ID=" + target.AuditorKey, "AWS_SECRET_ACCESS_KEY=" + target.AuditorSecret},
			"iam", "get-role-policy", "--role-name", "Admin", "--policy-name", endsession.PolicyName)
		if out == nil {
			return false
		}
		st = statementFor(rolePolicy(t, target), "gh-Codertocat")
		return st != nil
	})
	wantCut := revokedAt.Add(cfg.HeadCheck + 5*time.Second).UTC().Format(time.RFC3339)
	if got := st.Condition["DateLessThan"]["aws:TokenIssueTime"]; got != wantCut || st.Effect != "Deny" || st.Action != "*" || st.Resource != "*" {
		t.Errorf("statement %+v: want Deny * on * for sessions issued before %s (the revocation, plus one head check)", st, wantCut)
	}
	waitFor(t, "the comment on the PR", func() bool {
		for _, c := range h.GitHub.Fake.Comments(40) {
			if strings.Contains(c.GetBody(), "sessions ended") && strings.Contains(c.GetBody(), "@Codertocat") {
				return true
			}
		}
		return false
	})
	if got := metric(t, b, "elevate_sessions_ended_total"); got != "1" {
		t.Errorf("elevate_sessions_ended_total = %s, want 1", got)
	}
}

// Two brokers ending two grants on the same role at once lose neither
// statement; a statement older than the role's maximum session is dropped;
// a role whose policy would pass IAM's limit is reported, nothing dropped.
func TestEndSessionsConcurrentPruneAndLimit(t *testing.T) {
	t.Parallel()
	target := brokertest.StartMotoEndSessions(t)
	auditor := []string{"AWS_ACCESS_KEY_ID=" + target.AuditorKey, "AWS_SECRET_ACCESS_KEY=" + target.AuditorSecret}
	now := time.Now().UTC().Truncate(time.Second)
	old := endsession.StatementFor(endsession.Ended{Login: "mallory", Before: now.Add(-2 * time.Hour)}) // Admin's MaxSessionDuration is 1h
	seed := endsession.JSON(&endsession.Document{Version: "2012-10-17", Statement: []endsession.Statement{old}})
	brokertest.AWSCLI(t, target.Endpoint, auditor, "iam", "put-role-policy", "--role-name", "Admin", "--policy-name", endsession.PolicyName, "--policy-document", seed)

	newEnder := func(failed *int) *endsession.Ender {
		sts, err := awscreds.NewSTSClient(context.Background(), "us-east-1", target.Endpoint, nil,
			config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(target.Key, target.Secret, "")))
		if err != nil {
			t.Fatal(err)
		}
		return &endsession.Ender{IAMFor: broker.IAMFor(sts, "us-east-1", target.Endpoint, "elevate-end-sessions", time.Now), Backoff: 10 * time.Millisecond, Attempts: 8, Settle: 300 * time.Millisecond,
			Failed: func([]endsession.Ended, error) { *failed++ }}
	}
	var failed1, failed2 int
	one, two := newEnder(&failed1), newEnder(&failed2)
	var wg sync.WaitGroup
	for i, e := range []*endsession.Ender{one, two} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			login := []string{"alice", "bob"}[i]
			if err := e.End(context.Background(), []endsession.Ended{{AccountID: target.AccountID, Role: "Admin", Login: login, Before: now, Grant: "prod/2026-11/" + login}}); err != nil {
				t.Errorf("%s: %v", login, err)
			}
		}()
	}
	wg.Wait()
	doc := rolePolicy(t, target)
	if statementFor(doc, "gh-alice") == nil || statementFor(doc, "gh-bob") == nil {
		t.Errorf("two brokers at once lost a statement: %+v", doc.Statement)
	}
	if statementFor(doc, "gh-mallory") != nil {
		t.Error("the statement older than the role's maximum session was kept")
	}

	// Fill the policy with live statements up to IAM's limit.
	var live []endsession.Statement
	for i := 0; ; i++ {
		s := endsession.StatementFor(endsession.Ended{Login: fmt.Sprintf("person-%03d", i), Before: now})
		if endsession.Size(&endsession.Document{Version: "2012-10-17", Statement: append(live, s)}) > endsession.MaxPolicySize {
			break
		}
		live = append(live, s)
	}
	full := endsession.JSON(&endsession.Document{Version: "2012-10-17", Statement: live})
	brokertest.AWSCLI(t, target.Endpoint, auditor, "iam", "put-role-policy", "--role-name", "Admin", "--policy-name", endsession.PolicyName, "--policy-document", full)
	err := one.End(context.Background(), []endsession.Ended{{AccountID: target.AccountID, Role: "Admin", Login: "carol", Before: now, Grant: "prod/2026-11/carol"}})
	var tooLarge *endsession.TooLargeError
	if !errors.As(err, &tooLarge) || failed1 != 1 {
		t.Errorf("over the limit: %v (failures %d), want *TooLargeError reported once", err, failed1)
	}
	if after := rolePolicy(t, target); len(after.Statement) != len(live) {
		t.Errorf("the policy holds %d statements after the refusal, want the %d live ones untouched", len(after.Statement), len(live))
	}
}

// metric reads one series of b's /metrics.
func metric(t *testing.T, b *broker.Broker, name string) string {
	t.Helper()
	rec := httptest.NewRecorder()
	b.Server.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return ""
}

// A requester removed from eligibility.yaml at the head (through an approved
// change PR) has the sessions of their live grant ended.
func TestEndSessionsWhenNoLongerEligible(t *testing.T) {
	t.Parallel()
	target := brokertest.StartMotoEndSessions(t)
	h := brokertest.NewOn(t, target)
	cfg := h.Config()
	cfg.EndSessions, cfg.IAMEndpoint, cfg.STSEndpoint = true, target.Endpoint, target.Endpoint
	b, err := broker.Build(context.Background(), cfg, h.Deps())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Syncer.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the grant to be live", func() bool { return len(b.Ledger.Live(h.Clock())) == 1 })
	if err := b.Syncer.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	policy := strings.Replace(brokertest.Policy, `"Codertocat", `, "", 1)
	policy = strings.Replace(policy, "111111111111", target.AccountID, 1)
	h.MergeChange(50, map[string]string{"eligibility.yaml": policy}, h.Clock().Add(-time.Minute), brokertest.SecurityLead)
	if err := b.Syncer.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the Deny for gh-Codertocat", func() bool {
		if brokertest.AWSCLIMayFail(target.Endpoint, []string{"AWS_ACCESS_KEY_ID=" + target.AuditorKey, "AWS_SECRET_ACCESS_KEY=" + target.AuditorSecret},
			"iam", "get-role-policy", "--role-name", "Admin", "--policy-name", endsession.PolicyName) == nil {
			return false
		}
		return statementFor(rolePolicy(t, target), "gh-Codertocat") != nil
	})
	waitFor(t, "the comment on the grant's PR", func() bool {
		for _, c := range h.GitHub.Fake.Comments(vt.Number) {
			if strings.Contains(c.GetBody(), "no longer eligible") {
				return true
			}
		}
		return false
	})
}

// A broker that starts after a revocation merged never saw the grant live;
// it still ends the sessions issued before the revocation.
func TestEndSessionsAfterARestartPastTheRevocation(t *testing.T) {
	t.Parallel()
	target := brokertest.StartMotoEndSessions(t)
	h := brokertest.NewOn(t, target)
	revokedAt := h.Clock().Truncate(time.Second)
	revocation := h.Repo.Commit(revokedAt, "Merge pull request #41", map[string]string{vt.RequestPath: ""})
	h.GitHub.Fake.AddPull(&github.PullRequest{Number: github.Int(41), State: github.String("open"), User: vt.Author,
		Head: &github.PullRequestBranch{SHA: github.String("4100000000000000000000000000000000000041"), Ref: github.String("revoke")},
		Base: &github.PullRequestBranch{SHA: github.String(vt.BaseSHA), Ref: github.String("main")},
	}, []*github.CommitFile{{Filename: github.String(vt.RequestPath), Status: github.String("removed")}})
	h.GitHub.MergeAs(t, 41, revokedAt, revocation)
	cfg := h.Config()
	cfg.EndSessions, cfg.IAMEndpoint, cfg.STSEndpoint, cfg.HeadCheck = true, target.Endpoint, target.Endpoint, time.Second
	cfg.StateDir = t.TempDir() // a fresh process
	b, err := broker.Build(context.Background(), cfg, h.Deps())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Syncer.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	var st *endsession.Statement
	waitFor(t, "the Deny for gh-Codertocat after the restart", func() bool {
		out := brokertest.AWSCLIMayFail(target.Endpoint, []string{"AWS_ACCESS_KEY_ID=" + target.AuditorKey, "AWS_SECRET_ACCESS_KEY=" + target.AuditorSecret},
			"iam", "get-role-policy", "--role-name", "Admin", "--policy-name", endsession.PolicyName)
		if out == nil {
			return false
		}
		st = statementFor(rolePolicy(t, target), "gh-Codertocat")
		return st != nil
	})
	if got, want := st.Condition["DateLessThan"]["aws:TokenIssueTime"], revokedAt.Add(cfg.HeadCheck+5*time.Second).UTC().Format(time.RFC3339); got != want {
		t.Errorf("sessions ended before %s, want %s", got, want)
	}
}
