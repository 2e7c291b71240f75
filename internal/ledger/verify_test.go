package ledger

import (
	"context"
	"crypto/sha256"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/elevate-gitops/elevate/internal/githubapi"
	vt "github.com/elevate-gitops/elevate/internal/validate/validatetest"
)

func githubVerifier(t *testing.T, url string) *GitHubVerifier {
	t.Helper()
	gh, err := githubapi.NewClient(url, vt.Token, nil)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := githubapi.NewRepo(gh, vt.Owner+"/"+vt.Name)
	if err != nil {
		t.Fatal(err)
	}
	return &GitHubVerifier{GitHub: repo, Members: repo, Branch: "main"}
}

func TestGitHubVerifier(t *testing.T) {
	t.Parallel()
	merged := t0.Add(-time.Hour)
	grant := func(commit, content string) *Grant {
		return &Grant{ID: vt.RequestID, Path: vt.RequestPath, Commit: commit, Digest: sha256.Sum256([]byte(content))}
	}
	tests := []struct {
		name    string
		approve bool
		grant   *Grant
		ok      bool
		reason  string
	}{
		{"merged with an owner's approval", true, grant(vt.MergeSHA, vt.Request), true, ""},
		{"merged without a valid approval", false, grant(vt.MergeSHA, vt.Request), false, "merged without a passing verdict"},
		{"commit pushed without a PR", true, grant("d00000000000000000000000000000000000000d", vt.Request), false, "direct push grants nothing"},
		{"file on the branch differs from the PR", true, grant(vt.MergeSHA, vt.Request+"# edited\n"), false, "differs from what PR #2 had approved"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := vt.New(t, 0)
			s.OpenPR(t, map[string][]byte{vt.RequestPath: []byte(vt.Request)}, nil)
			if tt.approve {
				s.Review(vt.Hubot, "APPROVED", vt.HeadSHA, merged.Add(-time.Minute))
			}
			s.Merge(t, merged)
			v, err := githubVerifier(t, s.Fake.URL).Verify(context.Background(), tt.grant)
			if err != nil {
				t.Fatal(err)
			}
			if v.OK != tt.ok || !strings.Contains(v.Reason, tt.reason) {
				t.Fatalf("verification = %+v, want ok=%v reason %q", v, tt.ok, tt.reason)
			}
			if tt.ok && (v.AuthorID != vt.Author.GetID() || !v.MergedAt.Equal(merged) || v.PR != vt.Number) {
				t.Errorf("verification = %+v", v)
			}
		})
	}
}

func TestGitHubVerifierDownIsAnError(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(nil)
	srv.Close()
	if _, err := githubVerifier(t, srv.URL).Verify(context.Background(), &Grant{Commit: vt.MergeSHA, Path: vt.RequestPath}); err == nil {
		t.Fatal("an unreachable GitHub must be an error (not yet verified), never a verdict")
	}
}

// Just after a merge GitHub may not link the commit to its PR yet: that is
// "ask again", not a cached refusal.
func TestGitHubVerifierNoPRYetIsRetryable(t *testing.T) {
	t.Parallel()
	s := vt.New(t, 0)
	gv := githubVerifier(t, s.Fake.URL)
	gv.Now = func() time.Time { return t0 }
	g := &Grant{ID: vt.RequestID, Path: vt.RequestPath, Commit: "d00000000000000000000000000000000000000d", CommittedAt: t0.Add(-time.Minute)}
	if v, err := gv.Verify(context.Background(), g); err == nil {
		t.Fatalf("verdict %+v, want a retryable error", v)
	}
	g.CommittedAt = t0.Add(-time.Hour)
	if v, err := gv.Verify(context.Background(), g); err != nil || v.OK {
		t.Fatalf("an hour later: %+v %v, want a refusal", v, err)
	}
}
