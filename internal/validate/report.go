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
		if len(req.Targets) == 0 {
			t := req.AllTargets()[0]
			kind := "role"
			if t.IsPermissionSet() {
				kind = "permission set"
			}
			fmt.Fprintf(&b, "| request | requester | account | %s | duration | ticket |\n|---|---|---|---|---|---|\n| `%s` | @%s | %s | %s | %s | %s |\n\n",
				kind, v.ID, req.Requester, t.Account, t.Name(), request.FormatDuration(req.Duration), cell(req.Ticket))
		} else {
			fmt.Fprintf(&b, "| request | requester | duration | ticket |\n|---|---|---|---|\n| `%s` | @%s | %s | %s |\n\n",
				v.ID, req.Requester, request.FormatDuration(req.Duration), cell(req.Ticket))
			targetTable(&b, v)
		}
	}
	switch v.State {
	case approval.Rejected:
		b.WriteString("This PR cannot be merged:\n\n")
		for _, r := range v.Reasons {
			fmt.Fprintf(&b, "- %s\n", plain(r.String()))
		}
		b.WriteString("\nFix the PR (a request file is never edited after review: close this PR and open a new one), or ask the owners of `eligibility.yaml` if the policy should change.\n")
	case approval.Pending:
		for _, w := range v.Waiting {
			if w.Target != "" && v.Request != nil && len(v.Request.Targets) > 0 {
				fmt.Fprintf(&b, "- `%s` needs %d more approval(s) from %s\n", w.Target, w.Missing, strings.Join(w.Owners, ", "))
				continue
			}
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
		for _, n := range change.Notes {
			fmt.Fprintf(&b, "- ⚠️ %s\n", n)
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
	targets := v.Request.AllTargets()
	if len(targets) == 1 && !targets[0].IsPermissionSet() {
		fmt.Fprintf(&b, "Fetch credentials:\n\n```sh\nelevate credentials --request %s --format env\n```\n\nor use the profile `credential_process = elevate credentials --account %s --role %s`, or open the console with `elevate console --request %s --open`.\n",
			v.ID, targets[0].Account, targets[0].Role, v.ID)
	} else {
		b.WriteString("Use each target:\n\n")
		for _, t := range targets {
			if t.IsPermissionSet() {
				fmt.Fprintf(&b, "- `%s`: sign in with your AWS SSO profile for permission set %s in %s once its assignment is active (`elevate status` shows it; `elevate configure` writes the profile)\n", t, t.PermissionSet, t.Account)
				continue
			}
			fmt.Fprintf(&b, "- `%s`: `elevate credentials --request %s --account %s --role %s --format env`\n", t, v.ID, t.Account, t.Role)
		}
	}
	if v.Request.Emergency {
		b.WriteString("\n> [!CAUTION]\n> Emergency grant: its code owners must review this PR within 24 hours.\n")
	}
	return b.String()
}

// targetTable lists a request's targets: who approves each, how many
// must, and who has.
func targetTable(b *strings.Builder, v *approval.Verdict) {
	b.WriteString("| target | approved by | needs | approvals |\n|---|---|---|---|\n")
	if len(v.Targets) == 0 {
		for _, t := range v.Request.AllTargets() {
			fmt.Fprintf(b, "| `%s` | – | – | – |\n", t)
		}
		b.WriteString("\n")
		return
	}
	for _, tv := range v.Targets {
		who := "CODEOWNERS of `requests/" + tv.Target.Account + "/`"
		if tv.ByRule {
			who = "rule " + strings.Join(tv.Rules, ", ") + ": " + strings.Join(tv.Owners, ", ")
		}
		fmt.Fprintf(b, "| `%s` | %s | %d | %s |\n", tv.Target, who, tv.Required, orDash(strings.Join(tv.Approvers, ", ")))
	}
	b.WriteString("\n")
}

// cell is a value from the request file in a table cell: a code span, so
// nothing in it is markup (no @ pings anyone), with its pipes escaped
// (GitHub ends a cell at one even inside code), backticks replaced, and
// angle brackets shown as ‹ › so that no text in it reads as one of
// elevate's hidden comment markers.
func cell(s string) string {
	if s == "" {
		return "–"
	}
	return "`" + strings.NewReplacer("`", "'", "|", `\|`, "<", "‹", ">", "›").Replace(s) + "`"
}

// plain makes a line that may quote the request file plain text in
// Markdown: its HTML (an opening comment would hide what follows) and
// mentions are escaped.
func plain(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "@", "&#64;").Replace(s)
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}
