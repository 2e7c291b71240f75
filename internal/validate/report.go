package validate

import (
	"fmt"
	"strings"
	"time"

	"github.com/elevate-gitops/elevate/internal/approval"
	"github.com/elevate-gitops/elevate/internal/eligibility"
	"github.com/elevate-gitops/elevate/internal/request"
)

var stateHeading = map[approval.State]string{
	approval.Approved: "✅ **elevate: approved**",
	approval.Pending:  "⏳ **elevate: pending**",
	approval.Rejected: "❌ **elevate: rejected**",
}

// verdictComment is the sticky comment: the verdict and the next step.
func verdictComment(v *approval.Verdict, change *eligibility.Change, number int) string {
	var b strings.Builder
	b.WriteString(VerdictMarker + "\n")
	fmt.Fprintf(&b, "%s (%s)\n\n", stateHeading[v.State], v.Kind)
	if v.Request != nil {
		req := v.Request
		if req.Emergency {
			b.WriteString("> [!CAUTION]\n> **EMERGENCY break-glass request.** It needs no approval to merge; its code owners must review it within 24 hours, and `elevate audit` flags it until they do.\n\n")
		}
		fmt.Fprintf(&b, "| request | requester | account | role | duration | ticket |\n|---|---|---|---|---|---|\n| `%s` | @%s | %s | %s | %s | %s |\n\n",
			v.ID, req.Requester, req.Account, req.Role, request.FormatDuration(req.Duration), orDash(req.Ticket))
	}
	switch v.State {
	case approval.Rejected:
		b.WriteString("This PR cannot be merged:\n\n")
		for _, r := range v.Reasons {
			fmt.Fprintf(&b, "- %s\n", r.String())
		}
		b.WriteString("\nFix the PR (a request file is never edited after review: close this PR and open a new one), or ask the owners of `eligibility.yaml` if the policy should change.\n")
	case approval.Pending:
		for _, w := range v.Waiting {
			fmt.Fprintf(&b, "- `%s` needs %d more approval(s) from %s\n", w.Path, w.Missing, strings.Join(w.Owners, ", "))
		}
		if len(v.Approvers) > 0 {
			fmt.Fprintf(&b, "\nCounted so far: %s.\n", strings.Join(v.Approvers, ", "))
		}
		b.WriteString("\nApprovals count only from code owners other than the author, on the latest commit: a push after an approval voids it.\n")
	case approval.Approved:
		fmt.Fprintf(&b, "%s.\n", v.Summary())
		if v.Kind == approval.KindRequest {
			b.WriteString("\nMerging grants the access; the window opens at merge")
			if v.Request != nil && !v.Request.NotBefore.IsZero() {
				fmt.Fprintf(&b, " or at %s, whichever is later", v.Request.NotBefore.UTC().Format(time.RFC3339))
			}
			b.WriteString(".\n")
		}
	}
	if change != nil {
		b.WriteString("\n### Who can now get what\n\n")
		if change.Empty() {
			b.WriteString("Nobody gains or loses access.\n")
		}
		for _, a := range change.Gained {
			fmt.Fprintf(&b, "- ➕ %s gains %s/%s\n", a.Who, a.Account, a.Role)
		}
		for _, a := range change.Lost {
			fmt.Fprintf(&b, "- ➖ %s loses %s/%s\n", a.Who, a.Account, a.Role)
		}
		for _, name := range change.Remapped {
			fmt.Fprintf(&b, "- ⚠️ account %s now points at a different AWS account id\n", name)
		}
	}
	fmt.Fprintf(&b, "\n<sub>elevate re-judges #%d on every push and review.</sub>\n", number)
	return b.String()
}

// mergedComment tells the requester when the grant is usable and how.
func mergedComment(v *approval.Verdict, mergedAt time.Time) string {
	var b strings.Builder
	b.WriteString(MergedMarker + "\n")
	if v.State != approval.Approved {
		fmt.Fprintf(&b, "❌ **elevate: merged without a passing verdict — this grants nothing.**\n\n%s\n\nThe broker re-checks every merged PR and will refuse credentials for it.\n", v.Summary())
		return b.String()
	}
	switch v.Kind {
	case approval.KindRevocation:
		fmt.Fprintf(&b, "🔒 **elevate: revoked** %s. The broker refuses new credentials for it from its next sync.\n", strings.Join(v.Revoked, ", "))
		return b.String()
	case approval.KindChange:
		b.WriteString("✅ **elevate: merged** with its code owners' approval.\n")
		return b.String()
	}
	start, end := v.Request.Window(mergedAt)
	fmt.Fprintf(&b, "🔓 **elevate: granted** `%s`: active from %s until %s.\n\n", v.ID, start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "Fetch credentials:\n\n```sh\nelevate credentials --request %s --format env\n```\n\nor use the profile `credential_process = elevate credentials --account %s --role %s`, or open the console with `elevate console --request %s --open`.\n",
		v.ID, v.Request.Account, v.Request.Role, v.ID)
	if v.Request.Emergency {
		b.WriteString("\n> [!CAUTION]\n> Emergency grant: its code owners must review this PR within 24 hours.\n")
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}
