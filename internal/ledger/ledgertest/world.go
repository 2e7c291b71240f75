package ledgertest

import (
	"bufio"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/elevate-gitops/elevate/internal/githubapi"
	"github.com/elevate-gitops/elevate/internal/githubapi/githubfake"
)

// Shape is the shape of a large ledger for benchmarks: merges one Every
// apart up to End, request files spread over Accounts in month folders,
// with Policies of the merges changing eligibility.yaml instead.
type Shape struct {
	Merges      int
	Policies    int
	Every       time.Duration // default a minute
	Accounts    int           // default 1
	End         time.Time     // the last merge
	MaxDuration string        // the rule's max_duration; default "4h"
	NoGitHub    bool          // git only: no PRs, reviews or activity in a fake
}

// The people of a World: alice requests, hubot owns the requests and
// octosec the policy.
var (
	Alice   = &github.User{Login: github.String("alice"), ID: github.Int64(1), Type: github.String("User")}
	Hubot   = &github.User{Login: github.String("hubot"), ID: github.Int64(100), Type: github.String("User")}
	Octosec = &github.User{Login: github.String("octosec"), ID: github.Int64(103), Type: github.String("User")}
)

// WorldOwners is a World's CODEOWNERS.
const WorldOwners = "* @hubot\n/eligibility.yaml @octosec\n/.github/ @octosec\n"

// World is a large access repository, and GitHub's record of it in a fake:
// every merge a merged PR approved by its owner, and a pr_merge move in the
// repository's activity.
type World struct {
	Dir    string   // the repository (not bare), branch main
	SHAs   []string // its first-parent commits, oldest first: SHAs[0] is the anchor
	At     []time.Time
	Paths  []string // the file each merge added (SHAs[i+1] added Paths[i])
	Policy string   // eligibility.yaml at the anchor
	Fake   *githubfake.Fake
	GitHub *githubapi.Repo // the fake as acme/access
}

// Anchor is the first commit.
func (w *World) Anchor() string { return w.SHAs[0] }

// Head is the last commit.
func (w *World) Head() string { return w.SHAs[len(w.SHAs)-1] }

// WorldAccount is the name of account i.
func WorldAccount(i int) string { return fmt.Sprintf("acct-%02d", i) }

// WorldRequest is the request file of merge i.
func WorldRequest(i int, account string) string {
	return fmt.Sprintf("requester: alice\naccount: %s\nrole: Admin\nduration: 2h\nreason: Investigate the payments outage\nticket: INC-%d\n", account, i)
}

// NewWorld writes the ledger through git fast-import and mirrors it in a
// GitHub fake (unless s.NoGitHub).
func NewWorld(tb testing.TB, s Shape) *World {
	tb.Helper()
	if s.Every == 0 {
		s.Every = time.Minute
	}
	s.Accounts = max(s.Accounts, 1)
	if s.MaxDuration == "" {
		s.MaxDuration = "4h"
	}
	var accounts, names strings.Builder
	for a := range s.Accounts {
		fmt.Fprintf(&accounts, "  %s: \"%012d\"\n", WorldAccount(a), 100000000000+a)
		fmt.Fprintf(&names, "%s, ", WorldAccount(a))
	}
	policy := fmt.Sprintf("version: 1\naccounts:\n%srules:\n  - name: sre\n    who: [alice]\n    accounts: [%s]\n    roles: [Admin]\n    max_duration: %s\n    approvals: 1\n",
		accounts.String(), strings.TrimSuffix(names.String(), ", "), s.MaxDuration)
	w := &World{Dir: tb.TempDir(), Policy: policy}
	if out, err := exec.Command("git", "init", "-q", "-b", "main", w.Dir).CombinedOutput(); err != nil {
		tb.Fatalf("git init: %v %s", err, out)
	}
	cmd := exec.Command("git", "-C", w.Dir, "fast-import", "--quiet")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	bw := bufio.NewWriterSize(stdin, 1<<20)
	start := s.End.Add(-time.Duration(s.Merges) * s.Every)
	data := func(s string) { fmt.Fprintf(bw, "data %d\n%s\n", len(s), s) }
	fmt.Fprintf(bw, "commit refs/heads/main\nmark :1\ncommitter GitHub <noreply@github.com> %d +0000\n", start.Unix())
	data("anchor")
	fmt.Fprintf(bw, "M 100644 inline eligibility.yaml\n")
	data(policy)
	fmt.Fprintf(bw, "M 100644 inline .github/CODEOWNERS\n")
	data(WorldOwners)
	every := max(1, s.Merges/max(1, s.Policies))
	w.At = append(w.At, start)
	bodies := make([]string, 0, s.Merges)
	policies := 0
	for i := 1; i <= s.Merges; i++ {
		at := start.Add(time.Duration(i) * s.Every)
		path, body := "", ""
		if policies < s.Policies && i%every == 0 {
			policies++
			path, body = "eligibility.yaml", policy+fmt.Sprintf("# revision %d\n", policies)
		} else {
			account := WorldAccount(i % s.Accounts)
			path, body = fmt.Sprintf("requests/%s/%s/r%d.yaml", account, at.Format("2006-01"), i), WorldRequest(i, account)
		}
		w.At, w.Paths = append(w.At, at), append(w.Paths, path)
		bodies = append(bodies, body)
		fmt.Fprintf(bw, "commit refs/heads/main\nmark :%d\ncommitter GitHub <noreply@github.com> %d +0000\n", i+1, at.Unix())
		data(fmt.Sprintf("Merge pull request #%d", i))
		fmt.Fprintf(bw, "from :%d\nM 100644 inline %s\n", i, path)
		data(body)
	}
	if err := bw.Flush(); err != nil {
		tb.Fatal(err)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		tb.Fatal(err)
	}
	out, err := exec.Command("git", "-C", w.Dir, "rev-list", "--first-parent", "--reverse", "main").Output()
	if err != nil {
		tb.Fatal(err)
	}
	w.SHAs = strings.Fields(string(out))
	if s.NoGitHub {
		return w
	}
	w.Fake = githubfake.New(tb)
	w.Fake.Repo("acme", "access")
	w.Fake.Move("branch_creation", "main", w.Anchor(), start, Alice)
	for i, path := range w.Paths {
		n := i + 1
		head := fmt.Sprintf("%040x", 1<<32+n)
		w.Fake.Commit(head, map[string][]byte{path: []byte(bodies[i])})
		status, approver := "added", Hubot
		if path == "eligibility.yaml" {
			status, approver = "modified", Octosec
		}
		at := w.At[n]
		w.Fake.AddPull(&github.PullRequest{
			Number: github.Int(n), State: github.String("closed"), User: Alice,
			Merged: github.Bool(true), MergedAt: &github.Timestamp{Time: at}, MergeCommitSHA: github.String(w.SHAs[n]),
			Head: &github.PullRequestBranch{SHA: github.String(head), Ref: github.String(fmt.Sprintf("r%d", n))},
			Base: &github.PullRequestBranch{SHA: github.String(w.Anchor()), Ref: github.String("main")},
		}, []*github.CommitFile{{Filename: github.String(path), Status: github.String(status), SHA: github.String(BlobSHA(bodies[i]))}})
		w.Fake.AddReview(n, &github.PullRequestReview{User: approver, State: github.String("APPROVED"), CommitID: github.String(head), SubmittedAt: &github.Timestamp{Time: at.Add(-s.Every / 2)}})
		w.Fake.Move("pr_merge", "main", w.SHAs[n], at, Alice)
	}
	gh, err := githubapi.NewClient(w.Fake.URL, "", nil)
	if err != nil {
		tb.Fatal(err)
	}
	if w.GitHub, err = githubapi.NewRepo(gh, "acme/access"); err != nil {
		tb.Fatal(err)
	}
	return w
}

// BlobSHA is git's name for a blob holding data.
func BlobSHA(data string) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(data))
	h.Write([]byte(data))
	return hex.EncodeToString(h.Sum(nil))
}
