// Package githubapi is elevate's narrow seam over the GitHub REST API
// (github.com/google/go-github/v60).
//
// It holds only the calls the product makes: reading a pull request, its
// files and reviews; reading a file at a commit; checking team membership;
// writing the `elevate` commit status and the sticky verdict comment. Every
// listing is paginated to the end and bounded, so a hostile or enormous pull
// request cannot make a caller loop or allocate without limit, and a listing
// that would be truncated is an error rather than a silent partial answer
// (callers judge approvals from these lists and must fail closed).
//
// Errors are wrapped with lowercase context naming the call. A 404 from
// GitHub is reported as an error that matches ErrNotFound under errors.Is
// while still carrying go-github's *github.ErrorResponse for errors.As.
//
// Tokens are only ever placed in the Authorization header by go-github; this
// package never logs or formats them.
//
// Tests run against the httptest fake in package githubfake.
package githubapi
