package githubapi_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-github/v60/github"

	"github.com/elevate-gitops/elevate/internal/githubapi"
	"github.com/elevate-gitops/elevate/internal/githubapi/githubfake"
)

const (
	headSHA = "1111111111111111111111111111111111111111"
	baseSHA = "2222222222222222222222222222222222222222"

	routePull    = "GET /repos/{owner}/{repo}/pulls/{number}"
	routeFiles   = "GET /repos/{owner}/{repo}/pulls/{number}/files"
	routeReviews = "GET /repos/{owner}/{repo}/pulls/{number}/reviews"
	routeContent = "GET /repos/{owner}/{repo}/contents/{path...}"
	routeBlob    = "GET /repos/{owner}/{repo}/git/blobs/{file_sha}"
	routeStatus  = "POST /repos/{owner}/{repo}/statuses/{sha}"
	routeList    = "GET /repos/{owner}/{repo}/issues/{number}/comments"
	routeCreate  = "POST /repos/{owner}/{repo}/issues/{number}/comments"
	routeEdit    = "PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}"
)

// newRepo returns a fake with repository acme/access and pull request #7,
// and a Repo talking to it.
func newRepo(t *testing.T) (*githubfake.Fake, *githubapi.Repo) {
	t.Helper()
	f := githubfake.New(t)
	f.Repo("acme", "access")
	f.AddPull(&github.PullRequest{
		Number: github.Int(7),
		User:   &github.User{Login: github.String("alice"), ID: github.Int64(42)},
		Head:   &github.PullRequestBranch{Ref: github.String("req"), SHA: github.String(headSHA)},
		Base:   &github.PullRequestBranch{Ref: github.String("main"), SHA: github.String(baseSHA)},
	}, nil)
	gh, err := githubapi.NewClient(f.URL, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	return f, mustRepo(t, gh, "acme/access")
}

func TestPullRequest(t *testing.T) {
	t.Parallel()
	f, repo := newRepo(t)
	ctx := context.Background()

	pr, err := repo.PullRequest(ctx, 7)
	if err != nil {
		t.Fatalf("PullRequest(7): %v", err)
	}
	if pr.GetNumber() != 7 || pr.GetHead().GetSHA() != headSHA || pr.GetUser().GetID() != 42 {
		t.Errorf("PullRequest(7) = #%d head %s user %d", pr.GetNumber(), pr.GetHead().GetSHA(), pr.GetUser().GetID())
	}

	_, err = repo.PullRequest(ctx, 8)
	if !errors.Is(err, githubapi.ErrNotFound) {
		t.Errorf("PullRequest(8) error = %v, want ErrNotFound", err)
	}
	var ghErr *github.ErrorResponse
	if !errors.As(err, &ghErr) {
		t.Errorf("PullRequest(8) error %v does not carry *github.ErrorResponse", err)
	}
	if err != nil && !strings.HasPrefix(err.Error(), "get pull request #8: ") {
		t.Errorf("PullRequest(8) error = %q, want context first", err)
	}
	if got := f.Calls(routePull); got != 2 {
		t.Errorf("calls to %s = %d, want 2", routePull, got)
	}
}

// TestListsFollowPages checks files and reviews are read across all pages
// with per_page=100.
func TestListsFollowPages(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		n         int
		wantCalls int
	}{
		{"empty", 0, 1},
		{"one page", 100, 1},
		{"three pages", 250, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, repo := newRepo(t)
			ctx := context.Background()
			var files []*github.CommitFile
			var reviews []*github.PullRequestReview
			for i := range tc.n {
				files = append(files, &github.CommitFile{Filename: github.String(fmt.Sprintf("requests/f%04d.yaml", i)), Status: github.String("added")})
				reviews = append(reviews, &github.PullRequestReview{ID: github.Int64(int64(i + 1)), State: github.String("APPROVED"), CommitID: github.String(headSHA)})
			}
			f.AddPull(f.Pull(7), files)
			f.SetReviews(7, reviews)

			gotFiles, err := repo.PullRequestFiles(ctx, 7)
			if err != nil {
				t.Fatalf("PullRequestFiles: %v", err)
			}
			if len(gotFiles) != tc.n {
				t.Errorf("PullRequestFiles: %d files, want %d", len(gotFiles), tc.n)
			}
			for i, cf := range gotFiles {
				if want := fmt.Sprintf("requests/f%04d.yaml", i); cf.GetFilename() != want {
					t.Fatalf("file %d = %q, want %q (order kept across pages)", i, cf.GetFilename(), want)
				}
			}
			gotReviews, err := repo.Reviews(ctx, 7)
			if err != nil {
				t.Fatalf("Reviews: %v", err)
			}
			if len(gotReviews) != tc.n {
				t.Errorf("Reviews: %d reviews, want %d", len(gotReviews), tc.n)
			}
			for i, r := range gotReviews {
				if r.GetID() != int64(i+1) {
					t.Fatalf("review %d has id %d, want %d", i, r.GetID(), i+1)
				}
			}
			if got := f.Calls(routeFiles); got != tc.wantCalls {
				t.Errorf("calls to %s = %d, want %d", routeFiles, got, tc.wantCalls)
			}
			if got := f.Calls(routeReviews); got != tc.wantCalls {
				t.Errorf("calls to %s = %d, want %d", routeReviews, got, tc.wantCalls)
			}
		})
	}
}

// TestPullRequestFilesCap checks a pull request at GitHub's 3000-file
// listing cap is an error, not a silently truncated list.
func TestPullRequestFilesCap(t *testing.T) {
	t.Parallel()
	f, repo := newRepo(t)
	files := make([]*github.CommitFile, 3001)
	for i := range files {
		files[i] = &github.CommitFile{Filename: github.String(fmt.Sprintf("f%d", i))}
	}
	f.AddPull(f.Pull(7), files)
	if got, err := repo.PullRequestFiles(context.Background(), 7); err == nil {
		t.Fatalf("PullRequestFiles = %d files, want an error", len(got))
	}
	if got := f.Calls(routeFiles); got != 30 {
		t.Errorf("calls to %s = %d, want 30", routeFiles, got)
	}
}

// TestReviewsBounded checks a review listing beyond 50 pages is an error.
func TestReviewsBounded(t *testing.T) {
	t.Parallel()
	f, repo := newRepo(t)
	reviews := make([]*github.PullRequestReview, 50*100+1)
	for i := range reviews {
		reviews[i] = &github.PullRequestReview{State: github.String("COMMENTED")}
	}
	f.SetReviews(7, reviews)
	if got, err := repo.Reviews(context.Background(), 7); err == nil {
		t.Fatalf("Reviews = %d reviews, want an error", len(got))
	}
	if got := f.Calls(routeReviews); got != 50 {
		t.Errorf("calls to %s = %d, want 50", routeReviews, got)
	}
}

func TestListNotFound(t *testing.T) {
	t.Parallel()
	_, repo := newRepo(t)
	ctx := context.Background()
	if _, err := repo.PullRequestFiles(ctx, 99); !errors.Is(err, githubapi.ErrNotFound) {
		t.Errorf("PullRequestFiles(99) error = %v, want ErrNotFound", err)
	}
	if _, err := repo.Reviews(ctx, 99); !errors.Is(err, githubapi.ErrNotFound) {
		t.Errorf("Reviews(99) error = %v, want ErrNotFound", err)
	}
}

func TestFileAt(t *testing.T) {
	t.Parallel()
	small := []byte("* @acme/admins\n")
	big := bytes.Repeat([]byte("0123456789abcdef"), (1<<20)/16+1) // just over 1 MiB
	f, repo := newRepo(t)
	f.Commit(baseSHA, map[string][]byte{
		".github/CODEOWNERS":   small,
		"eligibility.yaml":     big,
		"empty":                {},
		"requests/prod/a.yaml": []byte("a"),
	})
	f.Branch("main", baseSHA)

	cases := []struct {
		name      string
		path, ref string
		max       int64
		want      []byte
		wantErr   string // substring; "" means success
		notFound  bool
		wantBlobs int
	}{
		{name: "small file at sha", path: ".github/CODEOWNERS", ref: baseSHA, max: 1 << 20, want: small},
		{name: "small file at branch", path: ".github/CODEOWNERS", ref: "main", max: 1 << 20, want: small},
		{name: "empty file", path: "empty", ref: baseSHA, max: 1, want: []byte{}},
		{name: "over 1 MiB through the blob API", path: "eligibility.yaml", ref: baseSHA, max: 2 << 20, want: big, wantBlobs: 1},
		{name: "larger than maxBytes", path: "eligibility.yaml", ref: baseSHA, max: 1 << 20, wantErr: "exceeds the size limit"},
		{name: "small larger than maxBytes", path: ".github/CODEOWNERS", ref: baseSHA, max: 4, wantErr: "exceeds the size limit"},
		{name: "missing file", path: "CODEOWNERS", ref: baseSHA, max: 1 << 20, wantErr: "read CODEOWNERS at " + baseSHA, notFound: true},
		{name: "missing ref", path: ".github/CODEOWNERS", ref: headSHA, max: 1 << 20, wantErr: "read .github/CODEOWNERS", notFound: true},
		{name: "directory", path: "requests/prod", ref: baseSHA, max: 1 << 20, wantErr: "a directory (1 entries) is not a regular file"},
		{name: "empty ref", path: ".github/CODEOWNERS", ref: "", max: 1 << 20, wantErr: "empty ref"},
		{name: "zero max", path: ".github/CODEOWNERS", ref: baseSHA, max: 0, wantErr: "maxBytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Not parallel: the blob call count is shared.
			before := f.Calls(routeBlob)
			got, err := repo.FileAt(context.Background(), tc.path, tc.ref, tc.max)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("FileAt(%q, %q): %v", tc.path, tc.ref, err)
				}
				if !bytes.Equal(got, tc.want) {
					t.Errorf("FileAt(%q, %q) = %d bytes, want %d", tc.path, tc.ref, len(got), len(tc.want))
				}
			} else {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("FileAt(%q, %q) error = %v, want it to contain %q", tc.path, tc.ref, err, tc.wantErr)
				}
				if errors.Is(err, githubapi.ErrNotFound) != tc.notFound {
					t.Errorf("errors.Is(%v, ErrNotFound) = %v, want %v", err, !tc.notFound, tc.notFound)
				}
			}
			if got := f.Calls(routeBlob) - before; got != tc.wantBlobs {
				t.Errorf("blob API calls = %d, want %d", got, tc.wantBlobs)
			}
		})
	}
}

func TestActiveTeamMember(t *testing.T) {
	t.Parallel()
	f, repo := newRepo(t)
	f.TeamMember("acme", "admins", "alice", "active")
	f.TeamMember("acme", "admins", "bob", "pending")
	cases := []struct {
		org, slug, login string
		want             bool
		wantErr          bool
	}{
		{"acme", "admins", "alice", true, false},
		{"ACME", "Admins", "Alice", true, false}, // GitHub compares case-insensitively
		{"acme", "admins", "bob", false, false},
		{"acme", "admins", "carol", false, false},
		{"acme", "devs", "alice", false, false},
		{"acme", "", "alice", false, true},
	}
	for _, tc := range cases {
		t.Run(tc.org+"/"+tc.slug+"/"+tc.login, func(t *testing.T) {
			t.Parallel()
			got, err := repo.ActiveTeamMember(context.Background(), tc.org, tc.slug, tc.login)
			if (err != nil) != tc.wantErr {
				t.Fatalf("ActiveTeamMember(%s, %s, %s) error = %v, want error %v", tc.org, tc.slug, tc.login, err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("ActiveTeamMember(%s, %s, %s) = %v, want %v", tc.org, tc.slug, tc.login, got, tc.want)
			}
		})
	}
}

func TestSetStatus(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 200) // 2 bytes a rune
	cases := []struct {
		name                   string
		state, desc, targetURL string
		wantDesc               string
		wantErr                bool
	}{
		{name: "success", state: "success", desc: "approved by bob", targetURL: "https://example.com/run/1", wantDesc: "approved by bob"},
		{name: "pending without url", state: "pending", desc: "awaiting 1 approval", wantDesc: "awaiting 1 approval"},
		{name: "long description cut on a rune", state: "failure", desc: long, wantDesc: strings.Repeat("é", 139) + "…"},
		{name: "exactly 140", state: "error", desc: strings.Repeat("x", 140), wantDesc: strings.Repeat("x", 140)},
		{name: "invalid state", state: "approved", desc: "x", wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, repo := newRepo(t)
			err := repo.SetStatus(context.Background(), headSHA, tc.state, tc.desc, tc.targetURL)
			if tc.wantErr {
				if err == nil {
					t.Fatal("SetStatus succeeded, want an error")
				}
				if got := f.Calls(routeStatus); got != 0 {
					t.Errorf("calls to %s = %d, want 0", routeStatus, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("SetStatus: %v", err)
			}
			sts := f.Statuses(headSHA)
			if len(sts) != 1 {
				t.Fatalf("statuses on head = %d, want 1", len(sts))
			}
			type status struct{ State, Context, Description, TargetURL string }
			got := status{sts[0].GetState(), sts[0].GetContext(), sts[0].GetDescription(), sts[0].GetTargetURL()}
			want := status{tc.state, "elevate", tc.wantDesc, tc.targetURL}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("status (-want +got):\n%s", diff)
			}
			if !utf8.ValidString(got.Description) {
				t.Errorf("description %q is not valid UTF-8", got.Description)
			}
		})
	}
}

func TestSetStatusUnknownCommit(t *testing.T) {
	t.Parallel()
	_, repo := newRepo(t)
	err := repo.SetStatus(context.Background(), "3333333333333333333333333333333333333333", "success", "", "")
	if err == nil || !strings.Contains(err.Error(), "set status success on 3333") {
		t.Errorf("SetStatus on an unknown commit error = %v", err)
	}
}

func TestUpsertComment(t *testing.T) {
	t.Parallel()
	const marker = "<!-- elevate:verdict -->"
	cases := []struct {
		name   string
		others int // comments without the marker posted first
	}{
		{"alone", 0},
		{"after two pages of other comments", 150},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, _ := newRepo(t)
			// The sticky comment is the App's; the others people's, one of
			// them carrying the marker first: never taken for the App's.
			f.Token("ghs_elevateAppToken", &github.User{Login: github.String("elevate-app[bot]"), ID: github.Int64(99), Type: github.String("Bot")})
			gh, err := githubapi.NewClient(f.URL, "ghs_elevateAppToken", nil)
			if err != nil {
				t.Fatal(err)
			}
			repo := mustRepo(t, gh, "acme/access")
			ctx := context.Background()
			for i := range tc.others {
				f.AddComment(7, &github.User{Login: github.String("bob"), ID: github.Int64(7), Type: github.String("User")}, fmt.Sprintf("lgtm %d", i))
			}
			f.AddComment(7, &github.User{Login: github.String("mallory"), ID: github.Int64(66), Type: github.String("User")}, marker+"\nall approved, merge away")
			first := marker + "\npending: awaiting 1 approval"
			url1, err := repo.UpsertComment(ctx, 7, marker, first)
			if err != nil {
				t.Fatalf("first UpsertComment: %v", err)
			}
			second := marker + "\napproved"
			url2, err := repo.UpsertComment(ctx, 7, marker, second)
			if err != nil {
				t.Fatalf("second UpsertComment: %v", err)
			}
			if url1 == "" || url1 != url2 {
				t.Errorf("UpsertComment URLs = %q then %q, want the same comment", url1, url2)
			}
			comments := f.Comments(7)
			if len(comments) != tc.others+2 {
				t.Fatalf("comments on #7 = %d, want %d", len(comments), tc.others+2)
			}
			if bait := comments[tc.others].GetBody(); !strings.HasSuffix(bait, "merge away") {
				t.Errorf("the person's comment carrying the marker was edited: %q", bait)
			}
			last := comments[len(comments)-1]
			if last.GetBody() != second || last.GetHTMLURL() != url1 {
				t.Errorf("sticky comment = %q at %s, want %q at %s", last.GetBody(), last.GetHTMLURL(), second, url1)
			}
			if got := f.Calls(routeCreate); got != 1 {
				t.Errorf("calls to %s = %d, want 1", routeCreate, got)
			}
			if got := f.Calls(routeEdit); got != 1 {
				t.Errorf("calls to %s = %d, want 1", routeEdit, got)
			}
			wantLists := 2 * (tc.others/100 + 1)
			if got := f.Calls(routeList); got != wantLists {
				t.Errorf("calls to %s = %d, want %d", routeList, got, wantLists)
			}

			// The same body again changes nothing.
			if _, err := repo.UpsertComment(ctx, 7, marker, second); err != nil {
				t.Fatal(err)
			}
			if got := f.Calls(routeEdit); got != 1 {
				t.Errorf("calls to %s after an unchanged upsert = %d, want 1", routeEdit, got)
			}
		})
	}
}

func TestUpsertCommentNotFound(t *testing.T) {
	t.Parallel()
	_, repo := newRepo(t)
	_, err := repo.UpsertComment(context.Background(), 99, "<!-- m -->", "<!-- m --> x")
	if !errors.Is(err, githubapi.ErrNotFound) {
		t.Errorf("UpsertComment on a missing PR error = %v, want ErrNotFound", err)
	}
}
