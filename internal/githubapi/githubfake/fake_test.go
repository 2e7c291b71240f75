package githubfake_test

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-github/v60/github"

	"github.com/elevate-gitops/elevate/internal/githubapi/githubfake"
)

const (
	headSHA = "1111111111111111111111111111111111111111"
	baseSHA = "2222222222222222222222222222222222222222"
)

// recorder is a testing.TB that records Errorf instead of failing the test,
// so tests can check the fake reports what it should.
type recorder struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recorder) errors() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.errs...)
}

// do sends one request to the fake and returns the status and body.
func do(t *testing.T, f *githubfake.Fake, method, path, auth, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, f.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(data)
}

func newFake(t *testing.T) *githubfake.Fake {
	t.Helper()
	f := githubfake.New(t)
	f.Repo("acme", "access")
	f.AddPull(&github.PullRequest{
		Number: github.Int(7),
		Head:   &github.PullRequestBranch{Ref: github.String("req"), SHA: github.String(headSHA)},
		Base:   &github.PullRequestBranch{Ref: github.String("main"), SHA: github.String(baseSHA)},
	}, nil)
	return f
}

// TestUnexpectedRequestsFailTheTest checks the fake reports, through
// t.Errorf, every request it did not expect, and answers it 404.
func TestUnexpectedRequestsFailTheTest(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, method, path string
		disable            string
		wantErr            string
	}{
		{name: "no such path", method: "GET", path: "/repos/acme/access/hooks", wantErr: "GET /repos/acme/access/hooks (no such route)"},
		{name: "known path, other method", method: "DELETE", path: "/repos/acme/access/pulls/7", wantErr: "DELETE /repos/acme/access/pulls/7 (no such route)"},
		{name: "another repository", method: "GET", path: "/repos/evil/access/pulls/7", wantErr: "repository evil/access, want acme/access"},
		{name: "disabled route", method: "GET", path: "/repos/acme/access/pulls/7", disable: "GET /repos/{owner}/{repo}/pulls/{number}", wantErr: "is disabled"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{TB: t}
			f := githubfake.New(rec)
			f.Repo("acme", "access")
			f.AddPull(&github.PullRequest{Number: github.Int(7)}, nil)
			if tc.disable != "" {
				f.Disable(tc.disable)
			}
			status, _, body := do(t, f, tc.method, tc.path, "", "")
			if status != http.StatusNotFound {
				t.Errorf("status = %d, want 404", status)
			}
			var e struct{ Message, DocumentationURL string }
			if err := json.Unmarshal([]byte(body), &e); err != nil || e.Message != "Not Found" {
				t.Errorf("body = %s, want GitHub's Not Found JSON", body)
			}
			errs := rec.errors()
			if len(errs) != 1 || !strings.Contains(errs[0], tc.wantErr) {
				t.Errorf("recorded errors = %q, want one containing %q", errs, tc.wantErr)
			}
			if f.TotalCalls() != 1 {
				t.Errorf("TotalCalls = %d, want 1", f.TotalCalls())
			}
		})
	}
}

// TestExpectedAnswersDoNotFail checks 404s GitHub gives in normal operation
// are not test failures.
func TestExpectedAnswersDoNotFail(t *testing.T) {
	t.Parallel()
	rec := &recorder{TB: t}
	f := githubfake.New(rec)
	f.Repo("acme", "access")
	for _, path := range []string{
		"/repos/acme/access/pulls/8",
		"/repos/Acme/Access/contents/x?ref=main",
		"/orgs/acme/teams/admins/memberships/alice",
	} {
		if status, _, _ := do(t, f, "GET", path, "", ""); status != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", path, status)
		}
	}
	if errs := rec.errors(); len(errs) != 0 {
		t.Errorf("recorded errors = %q, want none", errs)
	}
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	alice := &github.User{Login: github.String("alice"), ID: github.Int64(42)}
	f.Token("tok-a", alice)
	cases := []struct {
		name, auth string
		wantStatus int
		wantLogin  string
	}{
		{"bearer", "Bearer tok-a", 200, "alice"},
		{"token scheme", "token tok-a", 200, "alice"},
		{"no header", "", 401, ""},
		{"unknown token", "Bearer tok-b", 401, ""},
		{"basic", "Basic dG9rLWE=", 401, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			status, _, body := do(t, f, "GET", "/user", tc.auth, "")
			if status != tc.wantStatus {
				t.Fatalf("GET /user = %d %s, want %d", status, body, tc.wantStatus)
			}
			if status == 401 {
				if !strings.Contains(body, `"message":"Bad credentials"`) {
					t.Errorf("401 body = %s", body)
				}
				return
			}
			var u github.User
			if err := json.Unmarshal([]byte(body), &u); err != nil || u.GetLogin() != tc.wantLogin || u.GetID() != 42 {
				t.Errorf("GET /user = %s, want %s", body, tc.wantLogin)
			}
		})
	}
	// Other routes need the token too.
	if status, _, _ := do(t, f, "GET", "/repos/acme/access/pulls/7", "", ""); status != 401 {
		t.Errorf("GET pull without a token = %d, want 401", status)
	}
	if _, _, err := f.Client().WithAuthToken("tok-a").PullRequests.Get(context.Background(), "acme", "access", 7); err != nil {
		t.Errorf("go-github with the token: %v", err)
	}
}

func TestUserWithoutTokens(t *testing.T) {
	t.Parallel()
	f := githubfake.New(t)
	status, _, body := do(t, f, "GET", "/user", "Bearer anything", "")
	if status != 401 || !strings.Contains(body, "Requires authentication") {
		t.Errorf("GET /user = %d %s, want 401 Requires authentication", status, body)
	}
}

func TestPaginationLinks(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	var files []*github.CommitFile
	for i := range 250 {
		files = append(files, &github.CommitFile{Filename: github.String(fmt.Sprintf("f%d", i))})
	}
	f.AddPull(f.Pull(7), files)
	base := f.URL + "/repos/acme/access/pulls/7/files"
	cases := []struct {
		query     string
		wantLen   int
		wantFirst string
		wantLink  string
	}{
		{"", 30, "f0", `<` + base + `?page=2>; rel="next", <` + base + `?page=9>; rel="last"`},
		{"?per_page=100", 100, "f0", `<` + base + `?page=2&per_page=100>; rel="next", <` + base + `?page=3&per_page=100>; rel="last"`},
		{"?per_page=100&page=2", 100, "f100", `<` + base + `?page=1&per_page=100>; rel="prev", <` + base + `?page=3&per_page=100>; rel="next", <` + base + `?page=3&per_page=100>; rel="last", <` + base + `?page=1&per_page=100>; rel="first"`},
		{"?per_page=100&page=3", 50, "f200", `<` + base + `?page=2&per_page=100>; rel="prev", <` + base + `?page=1&per_page=100>; rel="first"`},
		{"?per_page=500", 100, "f0", `<` + base + `?page=2&per_page=500>; rel="next", <` + base + `?page=3&per_page=500>; rel="last"`},
		{"?per_page=100&page=4", 0, "", `<` + base + `?page=3&per_page=100>; rel="prev", <` + base + `?page=1&per_page=100>; rel="first"`},
	}
	for _, tc := range cases {
		t.Run(tc.query, func(t *testing.T) {
			t.Parallel()
			status, h, body := do(t, f, "GET", "/repos/acme/access/pulls/7/files"+tc.query, "", "")
			if status != 200 {
				t.Fatalf("status %d", status)
			}
			var got []*github.CommitFile
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.wantLen || (len(got) > 0 && got[0].GetFilename() != tc.wantFirst) {
				t.Errorf("page has %d files, want %d starting %q", len(got), tc.wantLen, tc.wantFirst)
			}
			if tc.wantLen == 0 && strings.TrimSpace(body) != "[]" {
				t.Errorf("empty page body = %s, want []", body)
			}
			if diff := cmp.Diff(tc.wantLink, h.Get("Link")); diff != "" {
				t.Errorf("Link (-want +got):\n%s", diff)
			}
		})
	}

}

func TestPaginationSinglePage(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.AddPull(f.Pull(7), []*github.CommitFile{{Filename: github.String("a")}})
	if _, h, _ := do(t, f, "GET", "/repos/acme/access/pulls/7/files", "", ""); h.Get("Link") != "" {
		t.Errorf("Link on a single page = %q, want none", h.Get("Link"))
	}
}

func TestContents(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	hello := []byte("hello\n")
	long := []byte(strings.Repeat("a", 100))
	big := make([]byte, 1<<20+1)
	f.Commit(baseSHA, map[string][]byte{
		"hello.txt":            hello,
		"long.txt":             long,
		"big.bin":              big,
		"requests/prod/a.yaml": []byte("a: 1\n"),
		"requests/dev/b.yaml":  []byte("b: 1\n"),
		"requests/README.md":   []byte("#\n"),
	})
	f.Branch("main", baseSHA)
	gh := f.Client()
	ctx := context.Background()

	// A small file, as GitHub encodes it.
	fc, _, _, err := gh.Repositories.GetContents(ctx, "acme", "access", "hello.txt", &github.RepositoryContentGetOptions{Ref: baseSHA})
	if err != nil {
		t.Fatal(err)
	}
	want := &github.RepositoryContent{
		Type: github.String("file"), Encoding: github.String("base64"), Size: github.Int(6),
		Name: github.String("hello.txt"), Path: github.String("hello.txt"),
		Content: github.String("aGVsbG8K\n"),
		SHA:     github.String("ce013625030ba8dba906f756967f9e9ca394464a"), // git hash-object
	}
	opts := cmp.FilterPath(func(p cmp.Path) bool {
		switch p.Last().String() {
		case ".URL", ".GitURL", ".HTMLURL":
			return true
		}
		return false
	}, cmp.Ignore())
	if diff := cmp.Diff(want, fc, opts); diff != "" {
		t.Errorf("contents of hello.txt (-want +got):\n%s", diff)
	}

	// Base64 in lines of 60 characters.
	fc, _, _, err = gh.Repositories.GetContents(ctx, "acme", "access", "long.txt", &github.RepositoryContentGetOptions{Ref: "main"})
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(strings.TrimSuffix(*fc.Content, "\n"), "\n") {
		if len(line) > 60 {
			t.Errorf("base64 line %d has %d characters, want at most 60", i, len(line))
		}
	}
	if s, err := fc.GetContent(); err != nil || s != string(long) {
		t.Errorf("decoded long.txt = %q, %v", s, err)
	}

	// Over 1 MiB: no content; the blob API serves it.
	fc, _, _, err = gh.Repositories.GetContents(ctx, "acme", "access", "big.bin", &github.RepositoryContentGetOptions{Ref: baseSHA})
	if err != nil {
		t.Fatal(err)
	}
	if fc.GetEncoding() != "none" || fc.Content == nil || *fc.Content != "" || fc.GetSize() != len(big) {
		t.Errorf("big.bin: encoding %q content %v size %d, want none, \"\", %d", fc.GetEncoding(), fc.Content, fc.GetSize(), len(big))
	}
	blob, _, err := gh.Git.GetBlob(ctx, "acme", "access", fc.GetSHA())
	if err != nil {
		t.Fatal(err)
	}
	data, err := base64.StdEncoding.DecodeString(blob.GetContent())
	if err != nil || len(data) != len(big) || blob.GetEncoding() != "base64" {
		t.Errorf("blob: %d bytes, encoding %q, %v", len(data), blob.GetEncoding(), err)
	}
	raw, _, err := gh.Git.GetBlobRaw(ctx, "acme", "access", fc.GetSHA())
	if err != nil || len(raw) != len(big) {
		t.Errorf("raw blob: %d bytes, %v", len(raw), err)
	}

	// A directory.
	_, dir, _, err := gh.Repositories.GetContents(ctx, "acme", "access", "requests", &github.RepositoryContentGetOptions{Ref: baseSHA})
	if err != nil {
		t.Fatal(err)
	}
	var entries []string
	for _, e := range dir {
		entries = append(entries, e.GetType()+" "+e.GetPath())
	}
	if diff := cmp.Diff([]string{"file requests/README.md", "dir requests/dev", "dir requests/prod"}, entries); diff != "" {
		t.Errorf("directory requests (-want +got):\n%s", diff)
	}

	// Missing file, missing ref.
	for _, tc := range []struct{ path, ref string }{{"nope", baseSHA}, {"hello.txt", headSHA}, {"hello.txt", "no-branch"}} {
		_, _, resp, err := gh.Repositories.GetContents(ctx, "acme", "access", tc.path, &github.RepositoryContentGetOptions{Ref: tc.ref})
		if err == nil || resp.StatusCode != 404 {
			t.Errorf("GetContents(%s@%s) = %v, want 404", tc.path, tc.ref, err)
		}
	}
}

func TestStatuses(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		sha, body  string
		wantStatus int
		wantField  string
	}{
		{"success", headSHA, `{"state":"success","context":"elevate","description":"ok","target_url":"https://x"}`, 201, ""},
		{"default context", headSHA, `{"state":"pending"}`, 201, ""},
		{"bad state", headSHA, `{"state":"approved","context":"elevate"}`, 422, "state"},
		{"missing state", headSHA, `{"context":"elevate"}`, 422, "state"},
		{"description too long", headSHA, `{"state":"failure","description":"` + strings.Repeat("é", 141) + `"}`, 422, "description"},
		{"description of 140", headSHA, `{"state":"failure","description":"` + strings.Repeat("é", 140) + `"}`, 201, ""},
		{"unknown commit", strings.Repeat("9", 40), `{"state":"success"}`, 422, ""},
		{"bad json", headSHA, `{`, 400, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			status, _, body := do(t, f, "POST", "/repos/acme/access/statuses/"+tc.sha, "", tc.body)
			if status != tc.wantStatus {
				t.Fatalf("status = %d %s, want %d", status, body, tc.wantStatus)
			}
			if tc.wantField != "" {
				var e github.ErrorResponse
				if err := json.Unmarshal([]byte(body), &e); err != nil || e.Message != "Validation Failed" || len(e.Errors) != 1 || e.Errors[0].Field != tc.wantField || e.Errors[0].Resource != "Status" {
					t.Errorf("422 body = %s, want a validation error on %s", body, tc.wantField)
				}
			}
			got := f.Statuses(tc.sha)
			if status != 201 {
				if len(got) != 0 {
					t.Errorf("rejected status was stored: %v", got)
				}
				return
			}
			if len(got) != 1 || got[0].GetID() == 0 || got[0].GetCreator().GetLogin() != "github-actions[bot]" || got[0].GetContext() == "" {
				t.Errorf("stored statuses = %v", got)
			}
		})
	}
}

func TestComments(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.Token("tok", &github.User{Login: github.String("elevate-app[bot]"), Type: github.String("Bot")})
	gh := f.Client().WithAuthToken("tok")
	ctx := context.Background()

	c, resp, err := gh.Issues.CreateComment(ctx, "acme", "access", 7, &github.IssueComment{Body: github.String("one")})
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("CreateComment: %v", err)
	}
	if c.GetUser().GetLogin() != "elevate-app[bot]" || c.GetHTMLURL() != fmt.Sprintf("%s/acme/access/pull/7#issuecomment-%d", f.URL, c.GetID()) || c.CreatedAt == nil {
		t.Errorf("created comment = %v", c)
	}
	if _, _, err := gh.Issues.EditComment(ctx, "acme", "access", c.GetID(), &github.IssueComment{Body: github.String("two")}); err != nil {
		t.Fatalf("EditComment: %v", err)
	}
	if _, resp, err := gh.Issues.EditComment(ctx, "acme", "access", 999999, &github.IssueComment{Body: github.String("x")}); err == nil || resp.StatusCode != 404 {
		t.Errorf("EditComment(unknown) = %v, want 404", err)
	}
	if _, resp, err := gh.Issues.CreateComment(ctx, "acme", "access", 7, &github.IssueComment{Body: github.String("")}); err == nil || resp.StatusCode != 422 {
		t.Errorf("CreateComment(empty) = %v, want 422", err)
	}
	if _, resp, err := gh.Issues.CreateComment(ctx, "acme", "access", 8, &github.IssueComment{Body: github.String("x")}); err == nil || resp.StatusCode != 404 {
		t.Errorf("CreateComment(#8) = %v, want 404", err)
	}
	got := f.Comments(7)
	if len(got) != 1 || got[0].GetBody() != "two" {
		t.Errorf("comments on #7 = %v", got)
	}
}

func TestMemberships(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.TeamMember("acme", "admins", "alice", "active")
	f.TeamMember("acme", "admins", "bob", "pending")
	f.TeamMember("acme", "admins", "carol", "active")
	f.TeamMember("acme", "admins", "carol", "")
	gh := f.Client()
	for _, tc := range []struct {
		login, wantState string
		wantStatus       int
	}{{"alice", "active", 200}, {"BOB", "pending", 200}, {"carol", "", 404}} {
		m, resp, err := gh.Teams.GetTeamMembershipBySlug(context.Background(), "acme", "admins", tc.login)
		if resp.StatusCode != tc.wantStatus || m.GetState() != tc.wantState {
			t.Errorf("membership of %s = %d %q (%v), want %d %q", tc.login, resp.StatusCode, m.GetState(), err, tc.wantStatus, tc.wantState)
		}
		if err == nil && m.GetRole() != "member" {
			t.Errorf("role = %q, want member", m.GetRole())
		}
	}
}

// TestBranchFileAndPull walks the CLI's request flow: branch from main, add
// a file, open a pull request.
func TestBranchFileAndPull(t *testing.T) {
	t.Parallel()
	f := githubfake.New(t)
	f.Repo("acme", "access")
	f.Commit(baseSHA, map[string][]byte{"eligibility.yaml": []byte("x\n"), "requests/old.yaml": []byte("o\n")})
	f.Branch("main", baseSHA)
	f.Token("tok", &github.User{Login: github.String("alice"), ID: github.Int64(42)})
	gh := f.Client().WithAuthToken("tok")
	ctx := context.Background()

	repo, _, err := gh.Repositories.Get(ctx, "acme", "access")
	if err != nil || repo.GetDefaultBranch() != "main" {
		t.Fatalf("Get repo = %v, %v", repo, err)
	}
	ref, _, err := gh.Git.GetRef(ctx, "acme", "access", "refs/heads/main")
	if err != nil || ref.GetObject().GetSHA() != baseSHA {
		t.Fatalf("GetRef(main) = %v, %v", ref, err)
	}
	if _, _, err := gh.Git.CreateRef(ctx, "acme", "access", &github.Reference{Ref: github.String("refs/heads/req-1"), Object: &github.GitObject{SHA: github.String(baseSHA)}}); err != nil {
		t.Fatalf("CreateRef: %v", err)
	}
	if _, resp, err := gh.Git.CreateRef(ctx, "acme", "access", &github.Reference{Ref: github.String("refs/heads/req-1"), Object: &github.GitObject{SHA: github.String(baseSHA)}}); err == nil || resp.StatusCode != 422 {
		t.Errorf("CreateRef twice = %v, want 422", err)
	}
	// No difference yet.
	if _, resp, err := gh.PullRequests.Create(ctx, "acme", "access", &github.NewPullRequest{Title: github.String("t"), Head: github.String("req-1"), Base: github.String("main")}); err == nil || resp.StatusCode != 422 {
		t.Errorf("Create PR without commits = %v, want 422", err)
	}
	put, resp, err := gh.Repositories.CreateFile(ctx, "acme", "access", "requests/prod/r1.yaml", &github.RepositoryContentFileOptions{
		Message: github.String("request"), Content: []byte("account: prod\n"), Branch: github.String("req-1"),
	})
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("CreateFile: %v", err)
	}
	if _, resp, err := gh.Repositories.CreateFile(ctx, "acme", "access", "requests/prod/r1.yaml", &github.RepositoryContentFileOptions{
		Message: github.String("again"), Content: []byte("x"), Branch: github.String("req-1"),
	}); err == nil || resp.StatusCode != 422 {
		t.Errorf("CreateFile over an existing file without sha = %v, want 422", err)
	}
	if _, _, err := gh.Repositories.DeleteFile(ctx, "acme", "access", "requests/old.yaml", &github.RepositoryContentFileOptions{
		Message: github.String("revoke"), SHA: github.String("e8f1c1f4b8f5e5f1b0b5c4b0e2f3b1a1b1c1d1e1"), Branch: github.String("req-1"),
	}); err == nil {
		t.Errorf("DeleteFile with a wrong sha succeeded")
	}
	pr, resp, err := gh.PullRequests.Create(ctx, "acme", "access", &github.NewPullRequest{
		Title: github.String("Request prod"), Head: github.String("acme:req-1"), Base: github.String("main"), Body: github.String("b"),
	})
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("Create PR: %v", err)
	}
	if pr.GetNumber() != 1 || pr.GetUser().GetID() != 42 || pr.GetHead().GetSHA() != put.GetSHA() || pr.GetBase().GetSHA() != baseSHA || pr.GetHTMLURL() != f.URL+"/acme/access/pull/1" {
		t.Errorf("created PR = #%d user %d head %s base %s url %s", pr.GetNumber(), pr.GetUser().GetID(), pr.GetHead().GetSHA(), pr.GetBase().GetSHA(), pr.GetHTMLURL())
	}
	files, _, err := gh.PullRequests.ListFiles(ctx, "acme", "access", 1, nil)
	if err != nil || len(files) != 1 || files[0].GetFilename() != "requests/prod/r1.yaml" || files[0].GetStatus() != "added" || files[0].GetAdditions() != 1 {
		t.Errorf("PR files = %v, %v", files, err)
	}

	// A later commit to the branch moves the PR.
	old, _ := f.File("main", "requests/old.yaml")
	del, _, err := gh.Repositories.DeleteFile(ctx, "acme", "access", "requests/old.yaml", &github.RepositoryContentFileOptions{
		Message: github.String("also delete"), SHA: github.String(gitBlobSHA(old)), Branch: github.String("req-1"),
	})
	if err != nil {
		t.Fatalf("DeleteFile: %v", err)
	}
	pr = f.Pull(1)
	if pr.GetHead().GetSHA() != del.GetSHA() || pr.GetChangedFiles() != 2 {
		t.Errorf("after a push: head %s changed_files %d, want %s and 2", pr.GetHead().GetSHA(), pr.GetChangedFiles(), del.GetSHA())
	}
	if got, _ := f.BranchSHA("req-1"); got != del.GetSHA() {
		t.Errorf("BranchSHA(req-1) = %s, want %s", got, del.GetSHA())
	}

	// Listing and lookup by commit.
	open, _, err := gh.PullRequests.List(ctx, "acme", "access", &github.PullRequestListOptions{Head: "acme:req-1"})
	if err != nil || len(open) != 1 || open[0].GetNumber() != 1 {
		t.Errorf("List(head=acme:req-1) = %v, %v", open, err)
	}
	none, _, err := gh.PullRequests.List(ctx, "acme", "access", &github.PullRequestListOptions{State: "closed"})
	if err != nil || len(none) != 0 {
		t.Errorf("List(closed) = %v, %v", none, err)
	}
	byCommit, _, err := gh.PullRequests.ListPullRequestsWithCommit(ctx, "acme", "access", del.GetSHA(), nil)
	if err != nil || len(byCommit) != 1 {
		t.Errorf("ListPullRequestsWithCommit = %v, %v", byCommit, err)
	}
	if data, ok := f.File("req-1", "requests/prod/r1.yaml"); !ok || string(data) != "account: prod\n" {
		t.Errorf("File(req-1, r1) = %q, %v", data, ok)
	}
}

func gitBlobSHA(data []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(data))
	h.Write(data)
	return fmt.Sprintf("%x", h.Sum(nil))
}
