package approval

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var now = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

const policy = `version: 1
accounts:
  prod: "111111111111"
  staging: "222222222222"
session_duration: 1h
rules:
  - name: sre-prod
    who: ["alice", "@acme/sre"]
    accounts: [prod]
    roles: [Admin, ReadOnly]
    max_duration: 4h
    approvals: 1
    ticket: '^INC-[0-9]+$'
    emergency:
      max_duration: 1h
  - name: staging-pair
    who: [alice, bob]
    accounts: [staging]
    roles: [Admin]
    max_duration: 2h
    approvals: 2
`

const owners = `# who reviews what
*                    @acme/platform
/requests/prod/      @bob @carol @alice @acme/sre-leads @deploy-bot
/requests/staging/   @bob @carol @dave
/requests/orphan/
/eligibility.yaml    @acme/security
`

const path = "requests/prod/2026-11/alice-admin-inc4821.yaml"

const requestYAML = `requester: alice
account: prod
role: Admin
duration: 2h
reason: Rotate the TLS certificate on the payments load balancer
ticket: INC-4821
`

var (
	alice = User{ID: 1, Login: "alice"}
	bob   = User{ID: 2, Login: "bob"}
	carol = User{ID: 3, Login: "carol"}
	dave  = User{ID: 4, Login: "dave"}
	erin  = User{ID: 5, Login: "erin"}
	bot   = User{ID: 6, Login: "deploy-bot", Bot: true}
	bot2  = User{ID: 7, Login: "other-bot", Bot: true}
)

// teams maps "org/team" to its members and their membership state.
type teams map[string]map[string]string

func (m teams) ActiveTeamMember(_ context.Context, org, slug, login string) (bool, error) {
	return m[org+"/"+slug][login] == "active", nil
}

var members = teams{
	"acme/sre":       {"dave": "active", "frank": "pending"},
	"acme/sre-leads": {"erin": "active", "frank": "pending", "other-bot": "active"},
	"acme/security":  {"erin": "active"},
	"acme/platform":  {"carol": "active"},
}

func approve(u User, sha string, minute int) Review {
	return Review{Reviewer: u, State: StateApproved, CommitID: sha, SubmittedAt: now.Add(time.Duration(minute) * time.Minute)}
}

func review(u User, state string, minute int) Review {
	return Review{Reviewer: u, State: state, CommitID: "head1", SubmittedAt: now.Add(time.Duration(minute) * time.Minute)}
}

// requestPR is a well-formed request PR by alice that still needs one approval.
func requestPR() *Facts {
	return &Facts{
		Number: 7, Author: alice, HeadSHA: "head1", BaseSHA: "base1",
		Files: []FileChange{{Path: path, Status: "added"}},
		Added: []byte(requestYAML),
		Base:  testBase,
	}
}

// emergencyPR is an emergency request by alice that its rule lets merge
// without approval.
func emergencyPR() *Facts {
	f := requestPR()
	f.Added = []byte(strings.Replace(requestYAML, "2h", "1h", 1) + "emergency: true\n")
	return f
}

func approveAt(u User, sha string, at time.Time) Review {
	return Review{Reviewer: u, State: StateApproved, CommitID: sha, SubmittedAt: at}
}

var testBase = Base{Policy: []byte(policy), CodeOwnersPath: ".github/CODEOWNERS", CodeOwners: []byte(owners)}

func decide(t *testing.T, f *Facts) *Verdict {
	t.Helper()
	v, err := Decide(context.Background(), f, members, now)
	if err != nil {
		t.Fatalf("Decide: %v", err)
	}
	return v
}

func TestDecideRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(f *Facts)
		want State
		// reason is a substring of the first rejection reason; approvers the counted approvals.
		reason    string
		approvers []string
	}{
		{"no review yet is pending", func(f *Facts) {}, Pending, "", nil},
		{"owner approval of head approves", func(f *Facts) { f.Reviews = []Review{approve(bob, "head1", 1)} }, Approved, "", []string{"bob"}},
		{"requester is not the PR author", func(f *Facts) { f.Author = bob }, Rejected, "requester is alice but the PR was opened by bob", nil},
		{"requester login differs only in case", func(f *Facts) {
			f.Author = User{ID: 1, Login: "Alice"}
			f.Reviews = []Review{approve(bob, "head1", 1)}
		}, Approved, "", []string{"bob"}},
		{"account directory mismatch", func(f *Facts) {
			f.Files[0].Path = "requests/staging/2026-11/alice-admin-inc4821.yaml"
		}, Rejected, "under requests/staging/ but asks for account prod", nil},
		{"request directly under the account folder", func(f *Facts) { f.Files[0].Path = "requests/prod/alice.yaml" }, Rejected, "requests/prod/<yyyy-mm>/alice.yaml", nil},
		{"malformed month folder", func(f *Facts) { f.Files[0].Path = "requests/prod/2026-13/alice.yaml" }, Rejected, "requests/<account>/<yyyy-mm>/<name>.yaml", nil},
		{"month folder in the future", func(f *Facts) { f.Files[0].Path = "requests/prod/2027-01/alice.yaml" }, Rejected, "in the future", nil},
		{"edit of an existing request file", func(f *Facts) { f.Files[0].Status = "modified" }, Rejected, "never edited", nil},
		{"rename of a request file", func(f *Facts) {
			f.Files[0] = FileChange{Path: path, PreviousPath: "requests/prod/2026-11/old.yaml", Status: "renamed"}
		}, Rejected, "never renamed", nil},
		{"mixed add and delete", func(f *Facts) {
			f.Files = append(f.Files, FileChange{Path: "requests/prod/2026-10/old.yaml", Status: "removed"})
		}, Rejected, "cannot also delete request files", nil},
		{"two requests in one PR", func(f *Facts) {
			f.Files = append(f.Files, FileChange{Path: "requests/prod/2026-11/second.yaml", Status: "added"})
		}, Rejected, "adds exactly one request file; this PR adds 2", nil},
		{"request PR also touches eligibility.yaml", func(f *Facts) {
			f.Files = append(f.Files, FileChange{Path: "eligibility.yaml", Status: "modified"})
		}, Rejected, "also changes eligibility.yaml", nil},
		{"request PR also touches .github", func(f *Facts) {
			f.Files = append(f.Files, FileChange{Path: ".github/workflows/elevate.yml", Status: "modified"})
		}, Rejected, "also changes .github/workflows/elevate.yml", nil},
		{"request PR also touches code", func(f *Facts) {
			f.Files = append(f.Files, FileChange{Path: "internal/approval/decide.go", Status: "modified"})
		}, Rejected, "also changes internal/approval/decide.go", nil},
		{"role not eligible", func(f *Facts) { f.Added = []byte(strings.Replace(requestYAML, "role: Admin", "role: Billing", 1)) }, Rejected, "may request Admin, ReadOnly in prod, not Billing", nil},
		{"account not eligible", func(f *Facts) {
			f.Files[0].Path = "requests/staging/2026-11/x.yaml"
			f.Author = carol
			f.Added = []byte(strings.NewReplacer("alice", "carol", "account: prod", "account: staging").Replace(requestYAML))
		}, Rejected, "no rule in eligibility.yaml lets carol request anything in staging", nil},
		{"duration over max_duration", func(f *Facts) { f.Added = []byte(strings.Replace(requestYAML, "2h", "5h", 1)) }, Rejected, "5h is over the max_duration of 4h", nil},
		{"ticket required", func(f *Facts) { f.Added = []byte(strings.Replace(requestYAML, "ticket: INC-4821\n", "", 1)) }, Rejected, "a ticket matching ^INC-[0-9]+$ is required", nil},
		{"ticket pattern mismatch", func(f *Facts) { f.Added = []byte(strings.Replace(requestYAML, "INC-4821", "JIRA-1", 1)) }, Rejected, `"JIRA-1" does not match`, nil},
		{"not_before too far ahead", func(f *Facts) {
			f.Added = []byte(requestYAML + "not_before: 2027-01-10T00:00:00Z\n")
		}, Rejected, "more than 30 days ahead", nil},
		{"self-approval by a requester who is a code owner", func(f *Facts) { f.Reviews = []Review{approve(alice, "head1", 1)} }, Pending, "", nil},
		{"approval by a non-owner", func(f *Facts) { f.Reviews = []Review{approve(User{ID: 99, Login: "mallory"}, "head1", 1)} }, Pending, "", nil},
		{"stale approval of an older commit", func(f *Facts) { f.Reviews = []Review{approve(bob, "head0", 1)} }, Pending, "", nil},
		{"approval then changes requested", func(f *Facts) {
			f.Reviews = []Review{approve(bob, "head1", 1), review(bob, StateChangesRequested, 2)}
		}, Pending, "", nil},
		{"approval then dismissed", func(f *Facts) {
			f.Reviews = []Review{approve(bob, "head1", 1), review(bob, StateDismissed, 2)}
		}, Pending, "", nil},
		{"later comment keeps the approval", func(f *Facts) {
			f.Reviews = []Review{approve(bob, "head1", 1), review(bob, StateCommented, 2)}
		}, Approved, "", []string{"bob"}},
		{"reviews are ordered by time, not by list position", func(f *Facts) {
			f.Reviews = []Review{review(bob, StateChangesRequested, 5), approve(bob, "head1", 1)}
		}, Pending, "", nil},
		{"re-approval after changes requested", func(f *Facts) {
			f.Reviews = []Review{review(bob, StateChangesRequested, 1), approve(bob, "head1", 2)}
		}, Approved, "", []string{"bob"}},
		{"approval given after the merge does not count", func(f *Facts) {
			f.MergedAt = now
			f.Reviews = []Review{approve(bob, "head1", 24*60)}
		}, Pending, "", nil},
		{"request path that is a symlink at the head", func(f *Facts) { f.Added, f.AddedNotRegular = nil, true }, Rejected, "regular file, not a symlink", nil},
		{"approval before the merge counts", func(f *Facts) {
			f.MergedAt = now.Add(time.Hour)
			f.Reviews = []Review{approve(bob, "head1", 1)}
		}, Approved, "", []string{"bob"}},
		{"team-based ownership, active member", func(f *Facts) { f.Reviews = []Review{approve(erin, "head1", 1)} }, Approved, "", []string{"erin"}},
		{"team-based ownership, pending member does not count", func(f *Facts) {
			f.Reviews = []Review{approve(User{ID: 8, Login: "frank"}, "head1", 1)}
		}, Pending, "", nil},
		{"bot listed by login counts", func(f *Facts) { f.Reviews = []Review{approve(bot, "head1", 1)} }, Approved, "", []string{"deploy-bot"}},
		{"bot through a team does not count", func(f *Facts) { f.Reviews = []Review{approve(bot2, "head1", 1)} }, Pending, "", nil},
		{"emergency allowed needs no approval", func(f *Facts) {
			f.Added = []byte(strings.Replace(requestYAML, "2h", "1h", 1) + "emergency: true\n")
		}, Approved, "", nil},
		{"emergency over its cap", func(f *Facts) { f.Added = []byte(requestYAML + "emergency: true\n") }, Rejected, "over the emergency max_duration of 1h", nil},
		{"emergency not allowed", func(f *Facts) {
			f.Files[0].Path = "requests/staging/2026-11/x.yaml"
			f.Added = []byte(strings.Replace(requestYAML, "account: prod", "account: staging", 1) + "emergency: true\n")
		}, Rejected, "no rule allows emergency", nil},
		{"CODEOWNERS unparseable", func(f *Facts) { f.CodeOwners = []byte("/requests/ @bad!owner\n") }, Rejected, "CODEOWNERS cannot be parsed", nil},
		{"no CODEOWNERS at all", func(f *Facts) { f.CodeOwnersPath, f.CodeOwners = "", nil }, Rejected, "no CODEOWNERS", nil},
		{"request file with no owner", func(f *Facts) {
			f.Policy = []byte(strings.Replace(policy, "prod: \"111111111111\"", "prod: \"111111111111\"\n  orphan: \"333333333333\"", 1) +
				"  - name: orphan\n    who: [alice]\n    accounts: [orphan]\n    roles: [Admin]\n    max_duration: 1h\n    approvals: 0\n")
			f.Files[0].Path = "requests/orphan/2026-11/x.yaml"
			f.Added = []byte(strings.NewReplacer("account: prod", "account: orphan", "2h", "1h").Replace(requestYAML))
		}, Rejected, "has no owner in .github/CODEOWNERS", nil},
		{"policy missing at base", func(f *Facts) { f.Policy = nil }, Rejected, "missing at the base commit", nil},
		{"unparseable request", func(f *Facts) { f.Added = []byte("requester: alice\nrequester: bob\n") }, Rejected, "duplicate key", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := requestPR()
			tt.edit(f)
			v := decide(t, f)
			if v.State != tt.want {
				t.Fatalf("state = %s, want %s (reasons %v, waiting %v)", v.State, tt.want, v.Reasons, v.Waiting)
			}
			if tt.reason != "" && !strings.Contains(v.Reasons[0].String(), tt.reason) {
				t.Errorf("first reason %q lacks %q", v.Reasons[0], tt.reason)
			}
			if diff := cmp.Diff(tt.approvers, v.Approvers); diff != "" {
				t.Errorf("approvers (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRejectionNamesFileLineAndField(t *testing.T) {
	t.Parallel()
	f := requestPR()
	f.Added = []byte(strings.Replace(requestYAML, "duration: 2h", "duration: 9h", 1))
	v := decide(t, f)
	want := Reason{File: path, Line: 4, Field: "duration", Message: "9h is over the max_duration of 4h (rule sre-prod)"}
	if diff := cmp.Diff([]Reason{want}, v.Reasons); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestRejectionListsEveryReason(t *testing.T) {
	t.Parallel()
	f := requestPR()
	f.Author = bob
	f.Added = []byte(strings.NewReplacer("2h", "9h", "INC-4821", "nope").Replace(requestYAML))
	v := decide(t, f)
	var fields []string
	for _, r := range v.Reasons {
		fields = append(fields, r.Field)
	}
	// bob is not alice, and bob is not eligible for prod at all.
	if diff := cmp.Diff([]string{"requester", "account"}, fields); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
}

func TestQuorumOfTwo(t *testing.T) {
	t.Parallel()
	staging := func() *Facts {
		f := requestPR()
		f.Files[0].Path = "requests/staging/2026-11/alice-admin.yaml"
		f.Added = []byte(strings.NewReplacer("account: prod", "account: staging", "ticket: INC-4821\n", "").Replace(requestYAML))
		return f
	}
	one := staging()
	one.Reviews = []Review{approve(bob, "head1", 1), approve(bob, "head1", 2)}
	v := decide(t, one)
	if v.State != Pending || v.Required != 2 || v.Waiting[0].Missing != 1 {
		t.Fatalf("one owner twice: %s required %d waiting %+v", v.State, v.Required, v.Waiting)
	}
	if diff := cmp.Diff([]string{"@bob", "@carol", "@dave"}, v.Waiting[0].Owners); diff != "" {
		t.Errorf("owners who could approve (-want +got):\n%s", diff)
	}
	two := staging()
	two.Reviews = []Review{approve(bob, "head1", 1), approve(carol, "head1", 2)}
	if v := decide(t, two); v.State != Approved || len(v.Approvers) != 2 {
		t.Fatalf("two owners: %s %v", v.State, v.Approvers)
	}
}

func TestPendingLeavesTheRequesterOutOfOwners(t *testing.T) {
	t.Parallel()
	v := decide(t, requestPR())
	if diff := cmp.Diff([]string{"@bob", "@carol", "@acme/sre-leads", "@deploy-bot"}, v.Waiting[0].Owners); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got := v.Summary(); got != "awaiting 1 approval(s) on "+path+" from @bob, @carol, @acme/sre-leads, @deploy-bot" {
		t.Errorf("Summary = %q", got)
	}
}

func TestTeamBasedEligibility(t *testing.T) {
	t.Parallel()
	f := requestPR()
	f.Author = dave // in @acme/sre, which the rule names
	f.Files[0].Path = "requests/prod/2026-11/dave.yaml"
	f.Added = []byte(strings.Replace(requestYAML, "requester: alice", "requester: dave", 1))
	f.Reviews = []Review{approve(bob, "head1", 1)}
	if v := decide(t, f); v.State != Approved {
		t.Fatalf("active team member: %s %v", v.State, v.Reasons)
	}
	f.Author = User{ID: 8, Login: "frank"} // pending member of @acme/sre
	f.Added = []byte(strings.Replace(requestYAML, "requester: alice", "requester: frank", 1))
	if v := decide(t, f); v.State != Rejected {
		t.Fatalf("pending team member: %s", v.State)
	}
}

func TestRevocation(t *testing.T) {
	t.Parallel()
	deleted := "requests/prod/2026-11/alice-admin-inc4821.yaml"
	facts := func(author User) *Facts {
		return &Facts{
			Author: author, HeadSHA: "head1",
			Files:   []FileChange{{Path: deleted, Status: "removed"}},
			Deleted: map[string][]byte{deleted: []byte(requestYAML)},
			Base:    testBase,
		}
	}
	tests := []struct {
		name   string
		author User
		want   State
	}{
		{"by the requester", alice, Approved},
		{"by the requester, other case", User{ID: 1, Login: "ALICE"}, Approved},
		{"by a code owner", bob, Approved},
		{"by an owning team's member", erin, Approved},
		{"by a stranger", User{ID: 99, Login: "mallory"}, Rejected},
		{"by a pending team member", User{ID: 8, Login: "frank"}, Rejected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := decide(t, facts(tt.author))
			if v.Kind != KindRevocation || v.State != tt.want {
				t.Fatalf("kind %s state %s, want revocation %s (%v)", v.Kind, v.State, tt.want, v.Reasons)
			}
			if tt.want == Approved && v.Revoked[0] != "prod/2026-11/alice-admin-inc4821" {
				t.Errorf("revoked %v", v.Revoked)
			}
		})
	}
}

func TestRepositoryChange(t *testing.T) {
	t.Parallel()
	change := func(files ...FileChange) *Facts {
		return &Facts{Author: alice, HeadSHA: "head1", Files: files, PolicyAtHead: []byte(policy), Base: testBase}
	}
	policyEdit := FileChange{Path: "eligibility.yaml", Status: "modified"}
	code := FileChange{Path: "internal/x.go", Status: "added"}
	tests := []struct {
		name    string
		f       *Facts
		reviews []Review
		want    State
		waiting []string
	}{
		{"each file needs its owners", change(policyEdit, code), nil, Pending, []string{"eligibility.yaml", "internal/x.go"}},
		{"one owner approves one file", change(policyEdit, code), []Review{approve(carol, "head1", 1)}, Pending, []string{"eligibility.yaml"}},
		{"all files approved", change(policyEdit, code), []Review{approve(carol, "head1", 1), approve(erin, "head1", 2)}, Approved, nil},
		{"author's own approval never counts", change(code), []Review{approve(User{ID: 1, Login: "alice"}, "head1", 1)}, Pending, []string{"internal/x.go"}},
		{"stale approval", change(code), []Review{approve(carol, "old", 1)}, Pending, []string{"internal/x.go"}},
		{"deleting the policy", change(FileChange{Path: "eligibility.yaml", Status: "removed"}), []Review{approve(erin, "head1", 1)}, Rejected, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.f.Reviews = tt.reviews
			v := decide(t, tt.f)
			if v.Kind != KindChange || v.State != tt.want {
				t.Fatalf("kind %s state %s, want change %s (%v)", v.Kind, v.State, tt.want, v.Reasons)
			}
			var waiting []string
			for _, w := range v.Waiting {
				waiting = append(waiting, w.Path)
			}
			if diff := cmp.Diff(tt.waiting, waiting); diff != "" {
				t.Errorf("waiting (-want +got):\n%s", diff)
			}
		})
	}
}

func TestInvalidNewPolicyRejected(t *testing.T) {
	t.Parallel()
	f := &Facts{Author: alice, HeadSHA: "head1", Files: []FileChange{{Path: "eligibility.yaml", Status: "modified"}},
		PolicyAtHead: []byte("version: 1\naccounts: {}\nrules: [\n"), Base: testBase}
	v := decide(t, f)
	if v.State != Rejected || !strings.Contains(v.Reasons[0].String(), "the new policy is invalid") {
		t.Fatalf("%s %v", v.State, v.Reasons)
	}
}

type brokenTeams struct{}

func (brokenTeams) ActiveTeamMember(context.Context, string, string, string) (bool, error) {
	return false, errors.New("403 Resource not accessible by integration")
}

func TestMembershipErrorFailsClosed(t *testing.T) {
	t.Parallel()
	f := requestPR()
	f.Reviews = []Review{approve(erin, "head1", 1)}
	if _, err := Decide(context.Background(), f, brokenTeams{}, now); err == nil {
		t.Fatal("a team look-up failure must be an error, never a verdict")
	}
}

// Once merged, a request belongs to its author's numeric id: a rename since
// passes the requester check only through elevate's merge record naming
// that id (eligibility at the branch head is the broker's own check).
func TestMergedRequestAfterRename(t *testing.T) {
	t.Parallel()
	f := requestPR()
	f.MergedAt = now.Add(time.Hour)
	f.Author = User{ID: alice.ID, Login: "alice-renamed"}
	f.Reviews = []Review{approve(bob, "head1", 1)}
	if v := decide(t, f); v.State != Rejected || !strings.Contains(v.Summary(), "no merge record of elevate's names alice") {
		t.Errorf("no merge record: verdict = %s %q, want the requester refused", v.State, v.Summary())
	}
	// With the record, the merge is judged as of its time: the policy then
	// named the login the author had, alice.
	f.RecordedRequester = "alice"
	if v := decide(t, f); v.State != Approved {
		t.Errorf("with elevate's merge record: verdict = %s %q", v.State, v.Summary())
	}
	f.MergedAt = time.Time{}
	if v := decide(t, f); v.State != Rejected || !strings.Contains(v.Summary(), "requester is alice but the PR was opened by alice-renamed") {
		t.Errorf("open PR: verdict = %s %q, want the requester check", v.State, v.Summary())
	}
}

// An admin's bypass merge of a file naming someone else issues nothing: the
// merged file's requester is checked again against the author.
func TestMergedRequestNamingSomeoneElse(t *testing.T) {
	t.Parallel()
	f := requestPR()
	f.MergedAt = now.Add(time.Hour)
	f.Author = User{ID: 666, Login: "mallory"}
	f.Reviews = []Review{approve(bob, "head1", 1)}
	f.RecordedRequester = "mallory" // a record of the author, not of the file's requester
	if v := decide(t, f); v.State != Rejected || !strings.Contains(v.Summary(), "requester is alice but the PR's author is mallory") {
		t.Errorf("verdict = %s %q, want the requester refused", v.State, v.Summary())
	}
}

// An emergency while the same person's earlier one waits for its owners'
// review is refused, by the judge and (through the same function) by the
// broker.
func TestSecondEmergencyWhileTheFirstIsUnreviewed(t *testing.T) {
	t.Parallel()
	f := emergencyPR()
	if v := decide(t, f); v.State != Approved {
		t.Fatalf("first emergency: %s %q", v.State, v.Summary())
	}
	f.UnreviewedEmergencies = []string{"prod/2026-11/alice-first"}
	v := decide(t, f)
	if v.State != Rejected || !strings.Contains(v.Summary(), "emergency: alice already has an emergency grant its owners have not reviewed (prod/2026-11/alice-first)") {
		t.Errorf("second emergency: %s %q", v.State, v.Summary())
	}
}

// An emergency is reviewed by the request decision's own rule: an owner's
// approval of its head after the merge, never a non-owner's or the
// requester's.
func TestEmergencyReviewed(t *testing.T) {
	t.Parallel()
	merged := now.Add(time.Hour)
	tests := []struct {
		name    string
		reviews []Review
		want    []string
	}{
		{"nobody", nil, nil},
		{"an owner after the merge", []Review{approveAt(bob, "head1", merged.Add(time.Hour))}, []string{"bob"}},
		{"a non-owner", []Review{approveAt(User{ID: 77, Login: "zed"}, "head1", merged.Add(time.Hour))}, nil},
		{"the requester", []Review{approveAt(alice, "head1", merged.Add(time.Hour))}, nil},
		{"an owner, after until", []Review{approveAt(bob, "head1", merged.Add(48*time.Hour))}, nil},
		{"an owner, on another commit", []Review{approveAt(bob, "other", merged.Add(time.Hour))}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := emergencyPR()
			f.MergedAt = merged
			f.Reviews = tt.reviews
			got, err := EmergencyReviewed(context.Background(), f, members, merged.Add(24*time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("reviewed by %v, want %v", got, tt.want)
			}
		})
	}
}

// An emergency opens at its merge: one carrying not_before is refused.
func TestEmergencyWithNotBefore(t *testing.T) {
	t.Parallel()
	f := emergencyPR()
	f.Added = append(f.Added, "not_before: 2026-11-26T09:00:00Z\n"...)
	if v := decide(t, f); v.State != Rejected || !strings.Contains(v.Summary(), "not_before: an emergency request opens when it is merged") {
		t.Errorf("verdict = %s %q", v.State, v.Summary())
	}
}

// An emergency of several targets counts as reviewed only when every
// target's own approvers approved it: the first target's folder owners
// never stand for a second target's rule approvers.
func TestEmergencyReviewedPerTarget(t *testing.T) {
	t.Parallel()
	merged := now.Add(time.Hour)
	base := testBase
	base.Policy = []byte(strings.Replace(policy, "  - name: staging-pair", `  - name: staging-break-glass
    who: [alice]
    accounts: [staging]
    roles: [Admin]
    approvers: ["@acme/security"]
    max_duration: 2h
    approvals: 1
    emergency:
      max_duration: 1h
  - name: staging-pair`, 1))
	added := "requester: alice\ntargets:\n  - {account: prod, role: Admin}\n  - {account: staging, role: Admin}\n" +
		"duration: 1h\nreason: Payments are down in both accounts\nticket: INC-4821\nemergency: true\n"
	tests := []struct {
		name    string
		reviews []Review
		want    []string
	}{
		{"the first target's folder owner only", []Review{approveAt(bob, "head1", merged.Add(time.Hour))}, nil},
		{"the second target's rule approver only", []Review{approveAt(erin, "head1", merged.Add(time.Hour))}, []string{"erin"}},
		{"each target's own", []Review{approveAt(bob, "head1", merged.Add(time.Hour)), approveAt(erin, "head1", merged.Add(2*time.Hour))}, []string{"bob", "erin"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := requestPR()
			f.Base, f.Added, f.MergedAt, f.Reviews = base, []byte(added), merged, tt.reviews
			if v := decide(t, f); v.State != Approved {
				t.Fatalf("the emergency itself: %s %q", v.State, v.Summary())
			}
			got, err := EmergencyReviewed(context.Background(), f, members, merged.Add(24*time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("reviewed by %v, want %v", got, tt.want)
			}
		})
	}
}
