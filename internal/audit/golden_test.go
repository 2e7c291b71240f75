package audit_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/elevate-gitops/elevate/internal/audit"
	"github.com/elevate-gitops/elevate/internal/custody"
	"github.com/elevate-gitops/elevate/internal/golden"
)

// verifiedReport is the report with pull request data as --verify renders
// it from a trust anchor ten days back: the grants merged at or before it
// are "before-anchor", one later grant was pushed directly and does not
// verify, and GitHub shows a force push. The verdicts are set by hand: this
// pins the rendering, not the chain of custody (internal/custody tests it).
func verifiedReport(t *testing.T) *audit.Report {
	t.Helper()
	h := newHistory(t) // the same commits as gitHubReport's, for their SHAs
	rep := gitHubReport(t)
	anchor := h.sha["bob-ro"]
	rep.Verified, rep.Anchor = true, anchor
	rep.Rewritten = (&custody.RewrittenError{Before: strings.Repeat("e", 40), After: h.sha["active"], At: now.Add(-30 * time.Minute),
		Actor: "mallory", Why: "a force push after the trust anchor"}).Error()
	for i := range rep.Entries {
		e := &rep.Entries[i]
		switch {
		case e.State == audit.StateInvalid: // never judged
		case !e.MergedAt.After(now.Add(-10 * day)):
			e.Verification, e.VerifyReason = audit.BeforeAnchor, "merged at or before the trust anchor "+anchor[:12]
		case e.ID == "staging/2026-11/alice-admin-later":
			e.Verification, e.VerifyCommit = audit.Unverified, e.Commit
			e.VerifyReason = "commit " + e.Commit[:12] + " did not come from a merged pull request into main (a direct push grants nothing)"
		default:
			e.Verification = audit.Verified
		}
	}
	rep.Policy = []audit.PolicyChange{
		{Commit: strings.Repeat("d", 40), At: now.Add(-70 * hour), Paths: []string{".github/CODEOWNERS", "eligibility.yaml"}, PR: 14,
			Reason: "PR #14 was merged without the approval of the code owners of eligibility.yaml at its base"},
		{Commit: strings.Repeat("c", 40), At: now.Add(-8 * day), Paths: []string{"eligibility.yaml"}, PR: 9, Verified: true},
	}
	return rep
}

// TestReportGolden pins every format of the report, for the audit offline,
// with pull request data, with --verify, with the broker's comments (what
// grants' sessions did), and of an empty period.
func TestReportGolden(t *testing.T) {
	t.Parallel()
	_, offline := offlineReport(t)
	reports := []struct {
		name string
		rep  *audit.Report
	}{
		{"offline", offline},
		{"github", gitHubReport(t)},
		{"verified", verifiedReport(t)},
		{"used", usedReport(t)},
		{"empty", &audit.Report{Generated: now, Branch: "main", Head: strings.Repeat("a", 40), Offline: true}},
	}
	formats := []struct {
		name  string
		write func(*audit.Report, *bytes.Buffer) error
	}{
		{"table", func(r *audit.Report, b *bytes.Buffer) error { return r.Table(b) }},
		{"csv", func(r *audit.Report, b *bytes.Buffer) error { return r.CSV(b) }},
		{"json", func(r *audit.Report, b *bytes.Buffer) error { return r.JSON(b) }},
		{"html", func(r *audit.Report, b *bytes.Buffer) error { return r.HTML(b) }},
	}
	for _, r := range reports {
		for _, f := range formats {
			t.Run(r.name+"/"+f.name, func(t *testing.T) {
				t.Parallel()
				var buf bytes.Buffer
				if err := f.write(r.rep, &buf); err != nil {
					t.Fatal(err)
				}
				golden.Assert(t, r.name+"."+f.name, buf.Bytes())
			})
		}
	}
}
