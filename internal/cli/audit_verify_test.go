package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/elevate-gitops/elevate/internal/broker/brokertest"
	vt "github.com/elevate-gitops/elevate/internal/validate/validatetest"
)

// `elevate audit --verify` runs the broker's chain of custody over a history
// holding each kind of unverified change, names every one in every format,
// and exits 1.
func TestAuditVerifyNamesEveryUnverifiedChange(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	h := w.h
	now := h.Clock()
	req := func(n string) string { return strings.Replace(vt.Request, "INC-1", "INC-"+n, 1) }
	pushedReq := h.Push(now.Add(-29*time.Minute), "direct push", map[string]string{"requests/prod/2026-11/pushed.yaml": req("20")})
	bypassReq := h.Repo.Commit(now.Add(-28*time.Minute), "Merge pull request #20", map[string]string{"requests/prod/2026-11/bypass.yaml": req("21")})
	h.MergePR(20, "requests/prod/2026-11/bypass.yaml", req("21"), bypassReq, now.Add(-28*time.Minute), false)
	swapPath := filepath.Join(h.Repo.Dir, "requests/prod/2026-11/pushed.yaml")
	if err := os.Remove(swapPath); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../../eligibility.yaml", swapPath); err != nil {
		t.Fatal(err)
	}
	h.Repo.Git(now.Add(-27*time.Minute), "add", "-A")
	h.Repo.Git(now.Add(-27*time.Minute), "commit", "-q", "-m", "symlink swap")
	h.GitHub.Fake.Move("push", "main", h.Repo.Git(time.Time{}, "rev-parse", "HEAD"), now.Add(-27*time.Minute), brokertest.Admin)
	looser := strings.Replace(brokertest.Policy, "max_duration: 4h", "max_duration: 12h", 1)
	bypassPolicy := h.MergeChange(21, map[string]string{"eligibility.yaml": looser}, now.Add(-26*time.Minute), nil)
	pushedOwners := h.Push(now.Add(-25*time.Minute), "admin push", map[string]string{".github/CODEOWNERS": vt.CodeOwners + "/eligibility.yaml @hubot\n"})
	tainted := h.Repo.Commit(now.Add(-20*time.Minute), "Merge pull request #22", map[string]string{"requests/prod/2026-11/tainted.yaml": req("22")})
	h.MergePR(22, "requests/prod/2026-11/tainted.yaml", req("22"), tainted, now.Add(-20*time.Minute), true)

	if code := w.run("audit", "--verify", "--dir", h.Repo.Dir, "--format", "json"); code != ExitError || !strings.Contains(w.err.String(), "does not verify") {
		t.Fatalf("exit %d, stderr %q: want 1 and a line saying the chain does not verify", code, w.err)
	}
	var rep struct {
		Failures int `json:"failures"`
		Entries  []struct {
			ID           string `json:"id"`
			Verification string `json:"verification"`
			VerifyReason string `json:"verify_reason"`
			VerifyCommit string `json:"verify_commit"`
			Invalid      string `json:"invalid"`
		} `json:"entries"`
		Policy []struct {
			Commit   string
			Verified bool
			Reason   string
		} `json:"policy_changes"`
	}
	if err := json.Unmarshal(w.out.Bytes(), &rep); err != nil {
		t.Fatalf("%v\n%s", err, w.out)
	}
	entries := map[string]struct{ v, reason, commit, invalid string }{}
	for _, e := range rep.Entries {
		entries[e.ID[strings.LastIndex(e.ID, "/")+1:]+"@"+e.Verification] = struct{ v, reason, commit, invalid string }{e.Verification, e.VerifyReason, e.VerifyCommit, e.Invalid}
	}
	for _, want := range []struct{ key, mention, commit string }{
		{"codertocat-admin-inc1@verified", "", ""},
		{"pushed@unverified", "direct push", pushedReq},
		{"bypass@unverified", "without a passing verdict", bypassReq},
		{"tainted@unverified", "not trusted", bypassPolicy},
	} {
		got, ok := entries[want.key]
		if !ok || !strings.Contains(got.reason, want.mention) || got.commit != want.commit {
			t.Errorf("entry %s = %+v, want a reason with %q naming %.12s\nall: %+v", want.key, got, want.mention, want.commit, entries)
		}
	}
	swapped := false
	for _, e := range rep.Entries {
		if strings.HasSuffix(e.ID, "/pushed") && strings.Contains(e.Invalid, "not a regular file") {
			swapped = true
		}
	}
	if !swapped {
		t.Errorf("the symlink swap is not named as an invalid entry: %+v", rep.Entries)
	}
	policy := map[string]string{}
	for _, p := range rep.Policy {
		if !p.Verified {
			policy[p.Commit] = p.Reason
		}
	}
	if !strings.Contains(policy[bypassPolicy], "without a passing verdict") || !strings.Contains(policy[pushedOwners], "direct push") {
		t.Errorf("policy changes = %+v, want the bypass merge %.12s and the pushed CODEOWNERS %.12s named", policy, bypassPolicy, pushedOwners)
	}
	if rep.Failures != 5 {
		t.Errorf("failures = %d, want 5 (three grants, two policy changes)", rep.Failures)
	}
	for _, format := range []string{"table", "csv", "html"} {
		if code := w.run("audit", "--verify", "--dir", h.Repo.Dir, "--format", format); code != ExitError {
			t.Errorf("%s: exit %d, want 1", format, code)
		}
		for _, sha := range []string{pushedReq, bypassReq, bypassPolicy, pushedOwners} {
			if !strings.Contains(w.out.String(), sha[:12]) {
				t.Errorf("%s output does not name %.12s", format, sha)
			}
		}
	}
}
