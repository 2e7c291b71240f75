package custody_test

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/elevate-gitops/elevate/internal/custody"
	"github.com/elevate-gitops/elevate/internal/githubapi"
	"github.com/elevate-gitops/elevate/internal/githubapi/githubfake"
	"github.com/elevate-gitops/elevate/internal/gitlog"
	"github.com/elevate-gitops/elevate/internal/ledger"
)

var (
	benchNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	hubot    = &github.User{Login: github.String("hubot"), ID: github.Int64(100), Type: github.String("User")}
	octosec  = &github.User{Login: github.String("octosec"), ID: github.Int64(103), Type: github.String("User")}
	alice    = &github.User{Login: github.String("alice"), ID: github.Int64(1), Type: github.String("User")}
)

const (
	benchOwners = "* @hubot\n/eligibility.yaml @octosec\n/.github/ @octosec\n"
	benchPolicy = "version: 1\naccounts:\n  prod: \"111111111111\"\nrules:\n  - name: sre\n    who: [alice]\n    accounts: [prod]\n    roles: [Admin]\n    max_duration: 4h\n    approvals: 1\n"
)

func benchRequest(i int) string {
	return fmt.Sprintf("requester: alice\naccount: prod\nrole: Admin\nduration: 2h\nreason: Investigate the payments outage\nticket: INC-%d\n", i)
}

func blobSHA(data string) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(data))
	h.Write([]byte(data))
	return hex.EncodeToString(h.Sum(nil))
}

// chainWorld is a ledger of grants with policy commits between them, and
// the GitHub fake holding a merged, approved PR for every commit.
type chainWorld struct {
	dir, anchor string
	fake        *githubfake.Fake
	repo        *githubapi.Repo
}

// newChainWorld writes grants request merges and policies policy-change
// merges, one a minute up to benchNow, through git fast-import, and mirrors
// every merge as a PR in the fake.
func newChainWorld(b *testing.B, grants, policies int) *chainWorld {
	b.Helper()
	w := &chainWorld{dir: b.TempDir(), fake: githubfake.New(b)}
	w.fake.Repo("acme", "access")
	if out, err := exec.Command("git", "init", "-q", "-b", "main", w.dir).CombinedOutput(); err != nil {
		b.Fatalf("git init: %v %s", err, out)
	}
	cmd := exec.Command("git", "-C", w.dir, "fast-import", "--quiet")
	stdin, _ := cmd.StdinPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	bw := bufio.NewWriterSize(stdin, 1<<20)
	total := grants + policies
	start := benchNow.Add(-time.Duration(total+1) * time.Minute)
	data := func(s string) { fmt.Fprintf(bw, "data %d\n%s\n", len(s), s) }
	fmt.Fprintf(bw, "commit refs/heads/main\nmark :1\ncommitter GitHub <noreply@github.com> %d +0000\n", start.Unix())
	data("anchor")
	fmt.Fprintf(bw, "M 100644 inline eligibility.yaml\n")
	data(benchPolicy)
	fmt.Fprintf(bw, "M 100644 inline .github/CODEOWNERS\n")
	data(benchOwners)
	every := max(1, total/max(1, policies))
	type merge struct {
		number       int
		at           time.Time
		path, body   string
		policyChange bool
	}
	merges := make([]merge, 0, total)
	g, p := 0, 0
	for i := 1; i <= total; i++ {
		at := start.Add(time.Duration(i) * time.Minute)
		m := merge{number: i, at: at}
		if p < policies && (i%every == 0 || g == grants) {
			p++
			m.path, m.body, m.policyChange = "eligibility.yaml", benchPolicy+fmt.Sprintf("# revision %d\n", p), true
		} else {
			g++
			m.path, m.body = fmt.Sprintf("requests/prod/%s/r%d.yaml", at.Format("2006-01"), i), benchRequest(i)
		}
		merges = append(merges, m)
		fmt.Fprintf(bw, "commit refs/heads/main\nmark :%d\ncommitter GitHub <noreply@github.com> %d +0000\n", i+1, at.Unix())
		data(fmt.Sprintf("Merge pull request #%d", i))
		fmt.Fprintf(bw, "from :%d\nM 100644 inline %s\n", i, m.path)
		data(m.body)
	}
	if err := bw.Flush(); err != nil {
		b.Fatal(err)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		b.Fatal(err)
	}
	out, err := exec.Command("git", "-C", w.dir, "rev-list", "--first-parent", "--reverse", "main").Output()
	if err != nil {
		b.Fatal(err)
	}
	shas := strings.Fields(string(out))
	w.anchor = shas[0]
	w.fake.Move("branch_creation", "main", w.anchor, start, alice)
	for i, m := range merges {
		head := fmt.Sprintf("%040x", 1<<32+m.number)
		w.fake.Commit(head, map[string][]byte{m.path: []byte(m.body)})
		status := "added"
		approver := hubot
		if m.policyChange {
			status, approver = "modified", octosec
		}
		w.fake.AddPull(&github.PullRequest{
			Number: github.Int(m.number), State: github.String("closed"), User: alice,
			Merged: github.Bool(true), MergedAt: &github.Timestamp{Time: m.at}, MergeCommitSHA: github.String(shas[i+1]),
			Head: &github.PullRequestBranch{SHA: github.String(head), Ref: github.String(fmt.Sprintf("r%d", m.number))},
			Base: &github.PullRequestBranch{SHA: github.String(w.anchor), Ref: github.String("main")},
		}, []*github.CommitFile{{Filename: github.String(m.path), Status: github.String(status), SHA: github.String(blobSHA(m.body))}})
		w.fake.AddReview(m.number, &github.PullRequestReview{User: approver, State: github.String("APPROVED"), CommitID: github.String(head), SubmittedAt: &github.Timestamp{Time: m.at.Add(-time.Minute)}})
		w.fake.Move("pr_merge", "main", shas[i+1], m.at, alice)
	}
	gh, err := githubapi.NewClient(w.fake.URL, "", nil)
	if err != nil {
		b.Fatal(err)
	}
	if w.repo, err = githubapi.NewRepo(gh, "acme/access"); err != nil {
		b.Fatal(err)
	}
	return w
}

func (w *chainWorld) ledger(b *testing.B) (*ledger.Ledger, *custody.Checker) {
	b.Helper()
	now := func() time.Time { return benchNow }
	git, err := gitlog.Open(w.dir)
	if err != nil {
		b.Fatal(err)
	}
	checker := &custody.Checker{GitHub: w.repo, Git: git, Members: w.repo, Branch: "main", Anchor: w.anchor, Now: now}
	l, err := ledger.New(ledger.Config{History: git, Branch: "main", Anchor: w.anchor, Verifier: checker, Now: now})
	if err != nil {
		b.Fatal(err)
	}
	return l, checker
}

// BenchmarkColdStartChain verifies, from cold, a ledger of 10,000 grants
// with 200 policy changes between them: reading GitHub's record of the
// branch costs a call per 100 moves, the policy chain GitHub calls in
// proportion to the policy changes, once; then issuing makes none.
func BenchmarkColdStartChain(b *testing.B) {
	w := newChainWorld(b, benchGrants, benchPolicies)
	var chainCalls, grantCalls int
	var chainTime, grantTime time.Duration
	for b.Loop() {
		l, _ := w.ledger(b)
		before := w.fake.TotalCalls()
		t0 := time.Now()
		if err := l.Sync(context.Background()); err != nil {
			b.Fatal(err)
		}
		chainTime, chainCalls = time.Since(t0), w.fake.TotalCalls()-before
		if err := l.Index().Chain.Head().Err(); err != nil || l.Index().Chain.Len() != benchPolicies {
			b.Fatalf("chain of %d commits: %v", l.Index().Chain.Len(), err)
		}
		t1 := time.Now()
		if err := l.VerifyAll(context.Background()); err != nil {
			b.Fatal(err)
		}
		grantTime, grantCalls = time.Since(t1), w.fake.TotalCalls()-before-chainCalls
		issue := w.fake.TotalCalls()
		for range 10 {
			if _, err := l.Find(context.Background(), ledger.Ask{UserID: alice.GetID(), Login: "alice", Account: "prod", Role: "Admin"}); err != nil {
				if _, expired := err.(*ledger.ExpiredError); !expired {
					b.Fatal(err)
				}
			}
		}
		if n := w.fake.TotalCalls() - issue; n != 0 {
			b.Fatalf("issuing after warm-up made %d GitHub calls, want 0", n)
		}
	}
	b.ReportMetric(float64(chainCalls), "chain-calls")
	b.ReportMetric(float64(chainCalls)/float64(benchPolicies), "calls/policy-commit")
	b.ReportMetric(chainTime.Seconds()*1000, "chain-ms")
	b.ReportMetric(float64(grantCalls), "grant-calls")
	b.ReportMetric(grantTime.Seconds()*1000, "grants-ms")
}

// The size of BenchmarkColdStartChain's ledger (the issue's numbers).
var benchGrants, benchPolicies = 10_000, 200
