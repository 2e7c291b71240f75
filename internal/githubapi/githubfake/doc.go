// Package githubfake is an in-process fake of the GitHub REST API for tests.
//
// It serves GitHub's real JSON shapes, encoded with go-github's own types,
// from an httptest server on loopback, so code under test talks to it through
// an ordinary *github.Client (see Fake.Client, or githubapi.NewClient with
// Fake.URL). Routes are registered on a Go 1.22 http.ServeMux with method and
// path patterns, in the manner of google/go-github's own test setup:
//
//	f := githubfake.New(t)
//	f.Repo("acme", "access")
//	f.Commit(baseSHA, map[string][]byte{".github/CODEOWNERS": owners})
//	f.AddPull(&github.PullRequest{Number: github.Int(7), ...}, files)
//	... run the code under test against f.Client() ...
//	if got := f.Calls("GET /repos/{owner}/{repo}/pulls/{number}/reviews"); got != 1 { ... }
//
// The fake fails the test (t.Errorf) on any request it does not expect: a
// path or method it does not serve, a route switched off with Disable, or a
// repository other than the one set with Repo. Such requests are answered 404
// like GitHub does. Answers GitHub gives in normal operation (a missing file,
// a user who is not a team member, a bad token) are not test failures.
//
// Tokens registered with Token are user tokens of the default app (ClientID,
// ClientSecret), the one `elevate login` signs in with: GitHub's "check a
// token" (POST /applications/{client_id}/token, HTTP Basic auth with the
// app's client id and secret) answers them. OAuthApp and AppToken register
// another app and a token it was given, valid for the API as its user but
// unknown to the default app's check.
//
// All state sits behind one mutex; tests change it only through methods, and
// read it back through accessors that return copies.
package githubfake
