package broker_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"slices"
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

// auditor is the AWS CLI environment of the test's own reads and writes.
func auditor(target brokertest.AWS) []string {
	return []string{"AWS_ACCESS_KEY_ID=" + target.AuditorKey, "AWS_SECRET_ACCESS_KEY=" + target.AuditorSecret}
}

// getPolicy reads the inline policy name of role Admin through the AWS
// CLI, as an auditor would; nil when there is none.
func getPolicy(t *testing.T, target brokertest.AWS, name string) *endsession.Document {
	t.Helper()
	out := brokertest.AWSCLIMayFail(target.Endpoint, auditor(target), "iam", "get-role-policy", "--role-name", "Admin", "--policy-name", name)
	if out == nil {
		return nil
	}
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

// rolePolicy is the role's elevate-ended-sessions policy (nil: none).
func rolePolicy(t *testing.T, target brokertest.AWS) *endsession.Document {
	t.Helper()
	return getPolicy(t, target, endsession.PolicyName)
}

// rolePolicies reads every inline policy of role Admin.
func rolePolicies(t *testing.T, target brokertest.AWS) map[string]*endsession.Document {
	t.Helper()
	var list struct{ PolicyNames []string }
	if err := json.Unmarshal(brokertest.AWSCLI(t, target.Endpoint, auditor(target), "iam", "list-role-policies", "--role-name", "Admin"), &list); err != nil {
		t.Fatal(err)
	}
	out := map[string]*endsession.Document{}
	for _, name := range list.PolicyNames {
		if doc := getPolicy(t, target, name); doc != nil {
			out[name] = doc
		}
	}
	return out
}

// putPolicy writes an inline policy of role Admin as someone else would.
func putPolicy(t *testing.T, target brokertest.AWS, name, doc string) {
	t.Helper()
	brokertest.AWSCLI(t, target.Endpoint, auditor(target), "iam", "put-role-policy", "--role-name", "Admin", "--policy-name", name, "--policy-document", doc)
}

// grantDeny is the statement of doc that ends grant's sessions.
func grantDeny(doc *endsession.Document, grant string) *endsession.Statement {
	if doc == nil {
		return nil
	}
	for i, s := range doc.Statement {
		if s.Condition["StringEquals"]["aws:PrincipalTag/"+awscreds.TagRequest] == grant {
			return &doc.Statement[i]
		}
	}
	return nil
}

// ended reports whether doc holds a statement.
func ended(doc *endsession.Document) bool { return doc != nil && len(doc.Statement) > 0 }

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

// endSessionsOn configures the harness's broker to end sessions in target.
func endSessionsOn(target brokertest.AWS) brokertest.Option {
	return func(c *broker.Config) {
		c.EndSessions, c.IAMEndpoint, c.STSEndpoint, c.HeadCheck = true, target.Endpoint, target.Endpoint, time.Second
	}
}

// ending is a harness whose broker ends sessions in target; its log is
// printed when the test fails.
func ending(t *testing.T, target brokertest.AWS, opts ...brokertest.Option) *brokertest.Harness {
	t.Helper()
	h := brokertest.NewOn(t, target, append([]brokertest.Option{endSessionsOn(target)}, opts...)...)
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(h.Logs.String())
		}
	})
	return h
}

// syncAndWait syncs b and waits for what the sync started: the grants
// verified, then the ended-sessions check.
func syncAndWait(t *testing.T, b *broker.Broker) {
	t.Helper()
	if err := b.Syncer.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	b.Syncer.Wait()
}

// cutoffAfter is the end time of the Deny for a grant that ended at at:
// the longest a replica could still issue for it (--max-staleness, a head
// check, 5 s of slack).
func cutoffAfter(cfg broker.Config, at time.Time) string {
	return at.Add(cfg.MaxStaleness + cfg.HeadCheck + 5*time.Second).UTC().Format(time.RFC3339)
}

// issue has the harness's broker issue a session and returns it as STS
// received it.
func issue(t *testing.T, h *brokertest.Harness, sessions *brokertest.Sessions, token, request string) brokertest.Session {
	t.Helper()
	a := h.Credentials(token, map[string]string{"request": request})
	if a.Status != 200 {
		t.Fatalf("issue %s: %d %s", request, a.Status, a.Raw)
	}
	return sessions.Issued(t, a.Body["AccessKeyId"].(string))
}

// Against moto's IAM, through the SDK: a merged revocation writes a Deny
// for the grant's sessions (its elevate-request tag), dated at the
// revocation plus the longest a replica may still issue for it, on the
// target role; the PR is told; the metric counts it.
func TestEndSessionsAgainstMoto(t *testing.T) {
	t.Parallel()
	target := brokertest.StartMotoEndSessions(t)
	h := ending(t, target)
	b := h.Broker
	syncAndWait(t, b) // the check remembers the live grant
	if live := b.Ledger.Live(h.Clock()); len(live) != 1 {
		t.Fatalf("live grants %+v, want the harness's one", live)
	}
	revokedAt := h.Clock().Truncate(time.Second)
	h.Revoke(40, revokedAt)
	syncAndWait(t, b)
	var st *endsession.Statement
	waitFor(t, "the Deny for the grant on role Admin", func() bool {
		st = grantDeny(rolePolicy(t, target), vt.RequestID)
		return st != nil
	})
	wantCut := cutoffAfter(h.Config(), revokedAt)
	if got := st.Condition["DateLessThan"]["aws:TokenIssueTime"]; got != wantCut || st.Effect != "Deny" || st.Action != "*" || st.Resource != "*" || len(st.Condition) != 2 {
		t.Errorf("statement %+v: want Deny * on * for the grant's sessions issued before %s (the revocation, plus --max-staleness and a head check)", st, wantCut)
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

// A person renamed between issuance and revocation: the Deny names the
// grant, so every session it issued ends, under the old login and the new.
// (Naming a SourceIdentity, the broker ended the sessions of the login it
// had verified, and the one issued after the rename kept working.)
func TestEndSessionsSurviveARename(t *testing.T) {
	t.Parallel()
	target, sessions := brokertest.StartMotoSessions(t)
	h := ending(t, target)
	b := h.Broker
	syncAndWait(t, b)
	before := issue(t, h, sessions, h.Codertocat(), vt.RequestID)

	// GitHub now reports the same user id under a new login, still
	// eligible (through @acme/sre).
	const renamed = "Octocoder"
	pr := h.GitHub.Fake.Pull(vt.Number)
	pr.User = &github.User{Login: github.String(renamed), ID: vt.Author.ID, Type: github.String("User")}
	h.GitHub.Fake.AddPull(pr, h.GitHub.Fake.PullFiles(vt.Number))
	h.GitHub.Fake.TeamMember("acme", "sre", renamed, "active")
	after := issue(t, h, sessions, h.Token(renamed, vt.Author.GetID()), vt.RequestID)
	if before.SourceIdentity != "gh-Codertocat" || after.SourceIdentity != "gh-"+renamed || after.Tags[awscreds.TagGitHubID] != before.Tags[awscreds.TagGitHubID] {
		t.Fatalf("sessions %+v and %+v: want one before and one after the rename, of the same GitHub id", before, after)
	}

	h.Revoke(40, h.Clock().Truncate(time.Second))
	syncAndWait(t, b)
	waitFor(t, "a Deny on the role", func() bool { return ended(rolePolicy(t, target)) })
	policies := rolePolicies(t, target)
	for _, s := range []brokertest.Session{before, after} {
		if denied := s.DeniedBy(t, policies); len(denied) == 0 {
			t.Errorf("the session of %s (tags %v) still works after the revocation: %s", s.SourceIdentity, s.Tags, endsession.JSON(policies[endsession.PolicyName]))
		}
	}
}

// A revocation ends the revoked grant's sessions only: the same person's
// other grant on the same role keeps working.
func TestEndSessionsOfOneGrantLeaveTheOthers(t *testing.T) {
	t.Parallel()
	target, sessions := brokertest.StartMotoSessions(t)
	h := ending(t, target)
	const otherPath, otherID = "requests/prod/2026-11/codertocat-admin-inc2.yaml", "prod/2026-11/codertocat-admin-inc2"
	other := strings.Replace(vt.Request, "ticket: INC-1", "ticket: INC-2", 1)
	at := h.Clock().Add(-10 * time.Minute)
	h.MergePR(3, otherPath, other, h.Repo.Commit(at, "Merge pull request #3", map[string]string{otherPath: other}), at, true)
	b := h.Broker
	syncAndWait(t, b)
	if live := b.Ledger.Live(h.Clock()); len(live) != 2 {
		t.Fatalf("live grants %+v, want two of Codertocat on prod Admin", live)
	}
	revoked := issue(t, h, sessions, h.Codertocat(), vt.RequestID)
	kept := issue(t, h, sessions, h.Codertocat(), otherID)

	h.Revoke(40, h.Clock().Truncate(time.Second))
	syncAndWait(t, b)
	waitFor(t, "a Deny on the role", func() bool { return ended(rolePolicy(t, target)) })
	policies := rolePolicies(t, target)
	if denied := revoked.DeniedBy(t, policies); len(denied) == 0 {
		t.Errorf("the revoked grant's session still works: %s", endsession.JSON(policies[endsession.PolicyName]))
	}
	if denied := kept.DeniedBy(t, policies); len(denied) != 0 {
		t.Errorf("the other grant's session is denied by %v: %s", denied, endsession.JSON(policies[endsession.PolicyName]))
	}
}

// filler is a policy of someone else's that takes about size characters
// of the role's budget (never more).
func filler(size int) string {
	var resources []string
	doc := func() string {
		b, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{"Effect": "Allow", "Action": "s3:GetObject", "Resource": resources}}})
		return string(b)
	}
	for i := 0; ; i++ {
		resources = append(resources, fmt.Sprintf("arn:aws:s3:::app-data-%05d/*", i))
		if endsession.TextSize(doc()) > size {
			resources = resources[:len(resources)-1]
			return doc()
		}
	}
}

// IAM's size limit covers all of a role's inline policies: when the others
// leave no room for the Deny, it is not written, and that is raised at
// once (the metric, an error log line, a notice), not after the retries.
// When someone else's expired statements of the ended-sessions shape take
// the room, they are dropped, the role's other policies untouched.
func TestEndSessionsBudget(t *testing.T) {
	t.Parallel()
	t.Run("full", func(t *testing.T) {
		t.Parallel()
		rx := &slack{}
		hook := httptest.NewServer(rx)
		defer hook.Close()
		target := brokertest.StartMotoEndSessions(t)
		h := ending(t, target, func(c *broker.Config) { c.NotifyURL = hook.URL + "/services/T0/B0/secret" })
		revokedAt := h.Clock().Truncate(time.Second)
		ours, err := endsession.StatementFor(endsession.Ended{Scope: endsession.ScopeGrant, Grant: vt.RequestID, Before: revokedAt})
		if err != nil {
			t.Fatal(err)
		}
		app := filler(endsession.MaxPolicySize - 150)
		if endsession.TextSize(app)+endsession.Size(&endsession.Document{Version: "2012-10-17", Statement: []endsession.Statement{ours}}) <= endsession.MaxPolicySize {
			t.Fatal("the other policy leaves room for the Deny")
		}
		putPolicy(t, target, "app-permissions", app)
		b := h.Broker
		syncAndWait(t, b)
		h.Revoke(40, revokedAt)
		syncAndWait(t, b)

		text := rx.wait(t, "could not end live AWS sessions")
		if !strings.Contains(text, vt.RequestID) || !strings.Contains(text, "make room") || !strings.Contains(text, "role Admin") {
			t.Errorf("notice %q: want the grant, the role and what to do", text)
		}
		if got := metric(t, b, `elevate_end_sessions_refused_total{cause="too_large"}`); got != "1" {
			t.Errorf(`elevate_end_sessions_refused_total{cause="too_large"} = %q, want 1 at the first refusal`, got)
		}
		if logs := h.Logs.String(); !strings.Contains(logs, `"level":"ERROR","msg":"could not write the Deny that ends sessions; retrying"`) || !strings.Contains(logs, "app-permissions") {
			t.Errorf("no error log line naming the policy that fills the role:\n%s", logs)
		}
		if doc := rolePolicy(t, target); doc != nil {
			t.Errorf("the role holds %s: the Deny should not fit", endsession.JSON(doc))
		}
		if got := endsession.JSON(getPolicy(t, target, "app-permissions")); got != endsession.JSON(mustParse(t, app)) {
			t.Error("the other policy was changed")
		}
	})
	t.Run("expired statements make room", func(t *testing.T) {
		t.Parallel()
		target := brokertest.StartMotoEndSessions(t)
		h := ending(t, target)
		// Someone else ended sessions by hand long ago, without elevate's
		// Sid: 3 h ago is older than Admin's maximum session (1 h).
		var theirs []endsession.Statement
		for i := range 15 {
			theirs = append(theirs, endsession.Statement{Sid: fmt.Sprintf("ByHand%d", i), Effect: "Deny", Action: "*", Resource: "*", Condition: map[string]map[string]any{
				"StringEquals": {"aws:SourceIdentity": fmt.Sprintf("gh-someone-%d", i)},
				"DateLessThan": {"aws:TokenIssueTime": h.Clock().Add(-3 * time.Hour).UTC().Format(time.RFC3339)},
			}})
		}
		theirs[0].Sid = ""
		seed := endsession.JSON(&endsession.Document{Version: "2012-10-17", Statement: theirs})
		app := filler(endsession.MaxPolicySize - endsession.TextSize(seed) - 60)
		putPolicy(t, target, endsession.PolicyName, seed)
		putPolicy(t, target, "app-permissions", app)
		b := h.Broker
		syncAndWait(t, b)
		h.Revoke(40, h.Clock().Truncate(time.Second))
		syncAndWait(t, b)
		waitFor(t, "the Deny for the grant", func() bool { return grantDeny(rolePolicy(t, target), vt.RequestID) != nil })
		doc := rolePolicy(t, target)
		if len(doc.Statement) != 1 {
			t.Errorf("elevate's policy holds %s: want the expired statements dropped, whoever wrote them", endsession.JSON(doc))
		}
		if got := endsession.JSON(getPolicy(t, target, "app-permissions")); got != endsession.JSON(mustParse(t, app)) {
			t.Error("the other policy was changed")
		}
		total := 0
		for name, d := range rolePolicies(t, target) {
			if name == endsession.PolicyName {
				total += endsession.Size(d)
			} else {
				total += endsession.TextSize(endsession.JSON(d))
			}
		}
		if total > endsession.MaxPolicySize {
			t.Errorf("the role's inline policies hold %d characters, over IAM's %d", total, endsession.MaxPolicySize)
		}
		if got := metric(t, b, `elevate_end_sessions_refused_total{cause="too_large"}`); got != "" {
			t.Errorf("refusals counted: %s", got)
		}
	})
}

func mustParse(t *testing.T, text string) *endsession.Document {
	t.Helper()
	d, err := endsession.ParseDocument(text)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// Two brokers ending two grants on the same role at once lose neither
// statement; a statement older than the role's maximum session is dropped;
// a role whose policies would pass IAM's limit is reported, nothing dropped.
func TestEndSessionsConcurrentPruneAndLimit(t *testing.T) {
	t.Parallel()
	target := brokertest.StartMotoEndSessions(t)
	now := time.Now().UTC().Truncate(time.Second)
	grant := func(login string) string { return "prod/2026-11/" + login }
	deny := func(login string, before time.Time) endsession.Statement {
		s, err := endsession.StatementFor(endsession.Ended{Scope: endsession.ScopeGrant, Grant: grant(login), Before: before})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	old := deny("mallory", now.Add(-2*time.Hour)) // Admin's MaxSessionDuration is 1h
	putPolicy(t, target, endsession.PolicyName, endsession.JSON(&endsession.Document{Version: "2012-10-17", Statement: []endsession.Statement{old}}))

	newEnder := func(failed, refused *int) *endsession.Ender {
		sts, err := awscreds.NewSTSClient(context.Background(), "us-east-1", target.Endpoint, nil,
			config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(target.Key, target.Secret, "")))
		if err != nil {
			t.Fatal(err)
		}
		return &endsession.Ender{IAMFor: broker.IAMFor(sts, "us-east-1", target.Endpoint, "elevate-end-sessions", time.Now), Backoff: 10 * time.Millisecond, Attempts: 3, Settle: 300 * time.Millisecond,
			Failed: func([]endsession.Ended, error) { *failed++ }, Refused: func([]endsession.Ended, error) { *refused++ }}
	}
	var failed1, failed2, refused1, refused2 int
	one, two := newEnder(&failed1, &refused1), newEnder(&failed2, &refused2)
	var wg sync.WaitGroup
	for i, e := range []*endsession.Ender{one, two} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			login := []string{"alice", "bob"}[i]
			if err := e.End(context.Background(), []endsession.Ended{{AccountID: target.AccountID, Role: "Admin", Scope: endsession.ScopeGrant, Grant: grant(login), Login: login, Before: now}}); err != nil {
				t.Errorf("%s: %v", login, err)
			}
		}()
	}
	wg.Wait()
	doc := rolePolicy(t, target)
	if grantDeny(doc, grant("alice")) == nil || grantDeny(doc, grant("bob")) == nil {
		t.Errorf("two brokers at once lost a statement: %+v", doc.Statement)
	}
	if grantDeny(doc, grant("mallory")) != nil {
		t.Error("the statement older than the role's maximum session was kept")
	}

	// Fill the policy with live statements up to IAM's limit.
	var live []endsession.Statement
	for i := 0; ; i++ {
		s := deny(fmt.Sprintf("person-%03d", i), now)
		if endsession.Size(&endsession.Document{Version: "2012-10-17", Statement: append(live, s)}) > endsession.MaxPolicySize {
			break
		}
		live = append(live, s)
	}
	putPolicy(t, target, endsession.PolicyName, endsession.JSON(&endsession.Document{Version: "2012-10-17", Statement: live}))
	err := one.End(context.Background(), []endsession.Ended{{AccountID: target.AccountID, Role: "Admin", Scope: endsession.ScopeGrant, Grant: grant("carol"), Before: now}})
	var tooLarge *endsession.TooLargeError
	if !errors.As(err, &tooLarge) || failed1 != 1 || refused1 != 1 {
		t.Errorf("over the limit: %v (refused %d, failed %d), want *TooLargeError raised once at once, reported once at the end", err, refused1, failed1)
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
// change PR) has the sessions of their live grant ended: the Deny names
// them by numeric GitHub id.
func TestEndSessionsWhenNoLongerEligible(t *testing.T) {
	t.Parallel()
	target := brokertest.StartMotoEndSessions(t)
	h := ending(t, target)
	b := h.Broker
	syncAndWait(t, b)
	policy := policyIn(target, `"Codertocat", `, "")
	h.MergeChange(50, map[string]string{"eligibility.yaml": policy}, h.Clock().Add(-time.Minute), brokertest.SecurityLead)
	syncAndWait(t, b)
	id := fmt.Sprint(vt.Author.GetID())
	waitFor(t, "the Deny for GitHub id "+id, func() bool {
		doc := rolePolicy(t, target)
		return doc != nil && slices.ContainsFunc(doc.Statement, func(s endsession.Statement) bool {
			return s.Condition["StringEquals"]["aws:PrincipalTag/"+awscreds.TagGitHubID] == id
		})
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
	h.Revoke(41, revokedAt)
	cfg := h.Config()
	endSessionsOn(target)(&cfg)
	cfg.StateDir = t.TempDir() // a fresh process
	b, err := broker.Build(context.Background(), cfg, h.Deps())
	if err != nil {
		t.Fatal(err)
	}
	syncAndWait(t, b)
	var st *endsession.Statement
	waitFor(t, "the Deny for the grant after the restart", func() bool {
		st = grantDeny(rolePolicy(t, target), vt.RequestID)
		return st != nil
	})
	if got, want := st.Condition["DateLessThan"]["aws:TokenIssueTime"], cutoffAfter(cfg, revokedAt); got != want {
		t.Errorf("sessions ended before %s, want %s", got, want)
	}
}

// policyIn is the harness's eligibility.yaml for target's account, with
// old replaced by new once (a person dropped, or renamed).
func policyIn(target brokertest.AWS, old, new string) string {
	return strings.Replace(strings.Replace(brokertest.Policy, old, new, 1), "111111111111", target.AccountID, 1)
}

// personDeny reports whether doc denies the sessions of GitHub user id.
func personDeny(doc *endsession.Document, id int64) bool {
	return doc != nil && slices.ContainsFunc(doc.Statement, func(s endsession.Statement) bool {
		return s.Condition["StringEquals"]["aws:PrincipalTag/"+awscreds.TagGitHubID] == fmt.Sprint(id)
	})
}

// A person who stops being eligible while no broker runs (a deploy, a
// Lambda cold start) still has their sessions ended: the new process ends
// what the live grants of people no longer eligible could have issued.
func TestEndSessionsWhenEligibilityEndsAcrossARestart(t *testing.T) {
	t.Parallel()
	target := brokertest.StartMotoEndSessions(t)
	h := ending(t, target)
	syncAndWait(t, h.Broker)
	policy := policyIn(target, `"Codertocat", `, "")
	h.MergeChange(50, map[string]string{"eligibility.yaml": policy}, h.Clock().Add(-time.Minute), brokertest.SecurityLead)
	cfg := h.Config()
	endSessionsOn(target)(&cfg)
	cfg.StateDir = t.TempDir() // a fresh process, which never saw the grant live
	b, err := broker.Build(context.Background(), cfg, h.Deps())
	if err != nil {
		t.Fatal(err)
	}
	syncAndWait(t, b)
	waitFor(t, "the Deny for the person no longer eligible", func() bool { return personDeny(rolePolicy(t, target), vt.Author.GetID()) })
}

// A grant deleted and added again at the same path between two looks of
// the broker is revoked all the same: the sessions of the version that was
// live are ended, whether or not the new one verifies.
func TestEndSessionsWhenTheSamePathIsAddedAgain(t *testing.T) {
	t.Parallel()
	target := brokertest.StartMotoEndSessions(t)
	h := ending(t, target)
	b := h.Broker
	syncAndWait(t, b)
	h.Revoke(40, h.Clock().Add(-2*time.Second).Truncate(time.Second))
	// An emergency at the same path, merged before the broker looks again.
	mergeBy(t, h, 41, vt.Author, vt.RequestPath, strings.Replace(vt.Request, "INC-1", "INC-41", 1)+"emergency: true\n", h.Clock().Truncate(time.Second), false)
	syncAndWait(t, b)
	waitFor(t, "the Deny for the version that was live", func() bool { return grantDeny(rolePolicy(t, target), vt.RequestID) != nil })
}

// A Deny IAM keeps refusing is never given up: once every retry of its
// batch failed, the broker asks again at each check, and writes it as soon
// as the role has room.
func TestEndSessionsNeverGiveUp(t *testing.T) {
	t.Parallel()
	target := brokertest.StartMotoEndSessions(t)
	h := brokertest.NewOn(t, target)
	putPolicy(t, target, "app-permissions", filler(endsession.MaxPolicySize-150))
	cfg := h.Config()
	endSessionsOn(target)(&cfg)
	deps := h.Deps()
	deps.EndAttempts, deps.EndBackoff = 2, 10*time.Millisecond
	b, err := broker.Build(context.Background(), cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	syncAndWait(t, b)
	h.Revoke(40, h.Clock().Truncate(time.Second))
	syncAndWait(t, b)
	waitFor(t, "every retry of the batch to fail", func() bool { return metric(t, b, "elevate_end_sessions_errors_total") == "1" })
	putPolicy(t, target, "app-permissions", filler(300))
	syncAndWait(t, b)
	waitFor(t, "the Deny once the role has room", func() bool { return grantDeny(rolePolicy(t, target), vt.RequestID) != nil })
}

// A person who loses eligibility through a team, with no move of the
// branch for a while, has every session ended, those issued since the last
// move too: the Deny cuts at the moment the loss is seen (plus how long a
// replica may still hold the old membership), not at the last sync.
func TestEndSessionsCutWhenTheTeamLossIsSeen(t *testing.T) {
	t.Parallel()
	target := brokertest.StartMotoEndSessions(t)
	h := ending(t, target, func(c *broker.Config) { c.MaxStaleness = 5 * time.Minute })
	b := h.Broker
	policy := policyIn(target, `"Codertocat", `, "")
	h.GitHub.Fake.TeamMember("acme", "sre", vt.Author.GetLogin(), "active")
	h.MergeChange(50, map[string]string{"eligibility.yaml": policy}, h.Clock().Add(-time.Minute), brokertest.SecurityLead)
	syncAndWait(t, b)
	h.SetNow(h.Clock().Add(40 * time.Minute)) // no move of the branch since
	syncAndWait(t, b)
	if a := h.Credentials(h.Codertocat(), byID); a.Status != 200 {
		t.Fatalf("issue through the team: %d %s", a.Status, a.Raw)
	}
	issued := h.Clock()
	h.GitHub.Fake.TeamMember("acme", "sre", vt.Author.GetLogin(), "")
	h.SetNow(h.Clock().Add(2 * time.Minute)) // past the broker's team cache
	syncAndWait(t, b)
	var cut string
	waitFor(t, "the Deny for the person", func() bool {
		doc := rolePolicy(t, target)
		if !personDeny(doc, vt.Author.GetID()) {
			return false
		}
		for _, s := range doc.Statement {
			if s.Condition["StringEquals"]["aws:PrincipalTag/"+awscreds.TagGitHubID] == fmt.Sprint(vt.Author.GetID()) {
				cut = fmt.Sprint(s.Condition["DateLessThan"]["aws:TokenIssueTime"])
			}
		}
		return true
	})
	if cut <= issued.UTC().Format(time.RFC3339) {
		t.Errorf("sessions ended before %s; the one issued at %s escapes", cut, issued.UTC().Format(time.RFC3339))
	}
}

// A person renamed since their grant was verified, whom the policy now names
// by the new login, is still eligible: their sessions are not ended, at a
// check or at a start.
func TestEndSessionsLeaveARenamedPersonAlone(t *testing.T) {
	t.Parallel()
	target := brokertest.StartMotoEndSessions(t)
	h := ending(t, target)
	syncAndWait(t, h.Broker) // the grant verified under the login Codertocat
	h.GitHub.Fake.Rename(vt.Author.GetID(), "Octocoder")
	policy := policyIn(target, `"Codertocat"`, `"Octocoder"`)
	h.MergeChange(50, map[string]string{"eligibility.yaml": policy}, h.Clock().Add(-time.Minute), brokertest.SecurityLead)
	syncAndWait(t, h.Broker)
	cfg := h.Config()
	endSessionsOn(target)(&cfg)
	cfg.StateDir = t.TempDir() // and a process that starts now
	b, err := broker.Build(context.Background(), cfg, h.Deps())
	if err != nil {
		t.Fatal(err)
	}
	syncAndWait(t, b)
	if personDeny(rolePolicy(t, target), vt.Author.GetID()) {
		t.Fatal("the renamed person's sessions were ended though the policy names their new login")
	}
}
