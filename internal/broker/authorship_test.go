package broker_test

// Who wrote it: the merged file's requester is checked again against the PR
// author, by numeric id, and emergencies cannot chain. README: "Who can do
// what: the trust model".

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/elevate-gitops/elevate/internal/broker/brokertest"
	"github.com/elevate-gitops/elevate/internal/prcomment"
	vt "github.com/elevate-gitops/elevate/internal/validate/validatetest"
)

// elevateApp is the bot of elevate's own GitHub App, which writes the
// Action's merge comment.
var elevateApp = brokertest.AppBot

// mergeBy merges PR number by author, adding path with content, approved
// by hubot when approved.
func mergeBy(t *testing.T, h *brokertest.Harness, number int, author *github.User, path, content string, at time.Time, approved bool) {
	t.Helper()
	sha := h.Repo.Commit(at, fmt.Sprintf("Merge pull request #%d", number), map[string]string{path: content})
	h.MergePR(number, path, content, sha, at, approved)
	pr := h.GitHub.Fake.Pull(number)
	pr.User = author
	h.GitHub.Fake.AddPull(pr, h.GitHub.Fake.PullFiles(number))
}

// An admin's bypass merge of an owner-approved PR whose file names someone
// else issues nothing: not to the author, whom the file does not name.
func TestMergedFileNamingSomeoneElseIssuesNothing(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	content := strings.Replace(vt.Request, "requester: Codertocat", "requester: hubot", 1)
	mergeBy(t, h, 6, vt.Author, "requests/prod/2026-11/other.yaml", content, h.Clock().Add(-time.Minute), true)
	h.Sync()
	wantRefusal(t, h.Credentials(h.Codertocat(), map[string]string{"request": "other"}), 403, "no_active_grant", "requester is hubot but the PR's author is Codertocat")
}

// A requester renamed after the merge keeps the grant only through the
// merge record elevate's App sealed with the state key; a record anyone
// else wrote, or one sealed under another key, counts for nothing.
func TestRenamedRequesterNeedsElevatesMergeRecord(t *testing.T) {
	t.Parallel()
	const id, path = "prod/2026-11/renamed", "requests/prod/2026-11/renamed.yaml"
	renamed := &github.User{ID: vt.Author.ID, Login: github.String("codertocat-new"), Type: github.String("User")}
	record := prcomment.MergeRecord{Request: id, Requester: "Codertocat", AuthorID: vt.Author.GetID()}
	tests := []struct {
		name    string
		by      *github.User
		key     string
		grants  bool
		mention string
	}{
		{"no record", nil, "", false, "no merge record of elevate's names Codertocat"},
		{"elevate's record", elevateApp, brokertest.StateKey, true, ""},
		{"a record under another key", elevateApp, "another-state-key-0123456789abcdef-0000", false, "no merge record"},
		{"elevate's record posted by a person who holds the key", &github.User{ID: github.Int64(66), Login: github.String("mallory"), Type: github.String("User")}, brokertest.StateKey, false, "no merge record"},
		{"elevate's record posted by the workflows' shared bot", &github.User{ID: github.Int64(41898282), Login: github.String(prcomment.SharedBot), Type: github.String("Bot")}, brokertest.StateKey, false, "no merge record"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := brokertest.New(t)
			mergeBy(t, h, 6, renamed, path, vt.Request, h.Clock().Add(-time.Minute), true)
			if tt.by != nil {
				h.GitHub.Fake.AddComment(6, tt.by, "merged\n"+prcomment.NewKey([]byte(tt.key)).MergeRecordLine(record)+"\n")
			}
			h.Sync()
			a := h.Credentials(h.Codertocat(), map[string]string{"request": "renamed"})
			if tt.grants {
				if a.Status != 200 {
					t.Fatalf("with elevate's record: %d %s", a.Status, a.Raw)
				}
				return
			}
			wantRefusal(t, a, 403, "no_active_grant", tt.mention)
		})
	}
}

// Even elevate's own sealed record cannot make a file name someone else: a
// requester login another account holds now (hubot, a reviewer here) was
// never the author's.
func TestMergeRecordForALoginSomeoneElseHolds(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	const id, path = "prod/2026-11/other", "requests/prod/2026-11/other.yaml"
	content := strings.Replace(vt.Request, "requester: Codertocat", "requester: hubot", 1)
	mergeBy(t, h, 6, vt.Author, path, content, h.Clock().Add(-time.Minute), true)
	record := prcomment.MergeRecord{Request: id, Requester: "hubot", AuthorID: vt.Author.GetID()}
	h.GitHub.Fake.AddComment(6, elevateApp, prcomment.NewKey([]byte(brokertest.StateKey)).MergeRecordLine(record))
	h.Sync()
	wantRefusal(t, h.Credentials(h.Codertocat(), map[string]string{"request": "other"}), 403, "no_active_grant", "requester is hubot but the PR's author is Codertocat")
}

// An emergency cannot carry not_before: the broker refuses it as invalid,
// whoever merged it.
func TestEmergencyWithNotBeforeIssuesNothing(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	content := strings.Replace(vt.Request, "2h", "1h", 1) + "not_before: " + h.Clock().Add(time.Hour).Format(time.RFC3339) + "\nemergency: true\n"
	mergeBy(t, h, 6, vt.Author, "requests/prod/2026-11/later-emergency.yaml", content, h.Clock().Add(-time.Minute), false)
	h.Sync()
	a := h.Credentials(h.Codertocat(), map[string]string{"request": "later-emergency"})
	if a.Status == 200 || !strings.Contains(a.Raw, "cannot carry not_before") {
		t.Fatalf("an emergency with not_before: %d %s", a.Status, a.Raw)
	}
}

// A second emergency while the first waits for its owners' review issues
// nothing; a non-owner's approval of the first changes nothing, an owner's
// given before the second merged does.
func TestSecondEmergencyWhileTheFirstIsUnreviewed(t *testing.T) {
	t.Parallel()
	emergency := strings.Replace(vt.Request, "2h", "1h", 1) + "emergency: true\n"
	for _, tt := range []struct {
		name     string
		reviewer *github.User
		grants   bool
	}{
		{"unreviewed", nil, false},
		{"approved by a non-owner", vt.Stranger, false},
		{"approved by an owner", vt.Hubot, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := brokertest.New(t)
			first := h.Clock().Add(-20 * time.Minute)
			mergeBy(t, h, 6, vt.Author, "requests/prod/2026-11/first.yaml", strings.Replace(emergency, "INC-1", "INC-6", 1), first, false)
			if tt.reviewer != nil {
				h.GitHub.Fake.AddReview(6, &github.PullRequestReview{User: tt.reviewer, State: github.String("APPROVED"), CommitID: github.String(fmt.Sprintf("%040d", 6)), SubmittedAt: &github.Timestamp{Time: first.Add(5 * time.Minute)}})
			}
			mergeBy(t, h, 7, vt.Author, "requests/prod/2026-11/second.yaml", strings.Replace(emergency, "INC-1", "INC-7", 1), h.Clock().Add(-time.Minute), false)
			h.Sync()
			if a := h.Credentials(h.Codertocat(), map[string]string{"request": "first"}); a.Status != 200 {
				t.Fatalf("the first emergency: %d %s", a.Status, a.Raw)
			}
			a := h.Credentials(h.Codertocat(), map[string]string{"request": "second"})
			if tt.grants {
				if a.Status != 200 {
					t.Fatalf("the second emergency after an owner's review: %d %s", a.Status, a.Raw)
				}
				return
			}
			wantRefusal(t, a, 403, "no_active_grant", "already has an emergency grant its owners have not reviewed (prod/2026-11/first)")
		})
	}
}

// Revoking one's own unreviewed emergency does not open the way to the
// next: the revoked one still waits for its owners' review.
func TestSecondEmergencyAfterRevokingTheFirst(t *testing.T) {
	t.Parallel()
	emergency := strings.Replace(vt.Request, "2h", "1h", 1) + "emergency: true\n"
	h := brokertest.New(t)
	mergeBy(t, h, 6, vt.Author, "requests/prod/2026-11/first.yaml", strings.Replace(emergency, "INC-1", "INC-6", 1), h.Clock().Add(-20*time.Minute), false)
	h.MergeChange(7, map[string]string{"requests/prod/2026-11/first.yaml": ""}, h.Clock().Add(-10*time.Minute), nil)
	mergeBy(t, h, 8, vt.Author, "requests/prod/2026-11/second.yaml", strings.Replace(emergency, "INC-1", "INC-8", 1), h.Clock().Add(-time.Minute), false)
	bothBrokers(t, h, func(t *testing.T, h *brokertest.Harness) {
		wantRefusal(t, h.Credentials(h.Codertocat(), map[string]string{"request": "second"}), 403, "no_active_grant", "already has an emergency grant its owners have not reviewed (prod/2026-11/first)")
	})
}

// Nor does using the revoked emergency's path again: each emergency added
// waits for its review, whatever became of its file, whether the broker
// looked between the steps or not.
func TestSecondEmergencyAtTheRevokedOnesPath(t *testing.T) {
	t.Parallel()
	emergency := strings.Replace(vt.Request, "2h", "1h", 1) + "emergency: true\n"
	const path = "requests/prod/2026-11/again.yaml"
	for _, synced := range []bool{false, true} {
		t.Run(fmt.Sprintf("synced between: %v", synced), func(t *testing.T) {
			t.Parallel()
			h := brokertest.New(t)
			step := func() {
				if synced {
					h.Sync()
				}
			}
			mergeBy(t, h, 6, vt.Author, path, strings.Replace(emergency, "INC-1", "INC-6", 1), h.Clock().Add(-20*time.Minute), false)
			step()
			h.MergeChange(7, map[string]string{path: ""}, h.Clock().Add(-10*time.Minute), nil)
			step()
			mergeBy(t, h, 8, vt.Author, path, strings.Replace(emergency, "INC-1", "INC-8", 1), h.Clock().Add(-time.Minute), false)
			refused := func(t *testing.T, h *brokertest.Harness) {
				wantRefusal(t, h.Credentials(h.Codertocat(), map[string]string{"request": "again"}), 403, "no_active_grant", "already has an emergency grant its owners have not reviewed (prod/2026-11/again)")
			}
			bothBrokers(t, h, refused)
			t.Run("restarted from its saved state", func(t *testing.T) { refused(t, h.RestartSameMachine()) })
		})
	}
}

// Two emergencies merged in the same second: neither came first, so
// neither issues until the other is reviewed.
func TestTwoEmergenciesInTheSameSecond(t *testing.T) {
	t.Parallel()
	emergency := strings.Replace(vt.Request, "2h", "1h", 1) + "emergency: true\n"
	h := brokertest.New(t)
	at := h.Clock().Add(-time.Minute).Truncate(time.Second)
	mergeBy(t, h, 6, vt.Author, "requests/prod/2026-11/one.yaml", strings.Replace(emergency, "INC-1", "INC-6", 1), at, false)
	mergeBy(t, h, 7, vt.Author, "requests/prod/2026-11/two.yaml", strings.Replace(emergency, "INC-1", "INC-7", 1), at, false)
	h.Sync()
	for _, id := range []string{"one", "two"} {
		wantRefusal(t, h.Credentials(h.Codertocat(), map[string]string{"request": id}), 403, "no_active_grant", "already has an emergency grant its owners have not reviewed")
	}
}
