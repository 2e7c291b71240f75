// Package ghauth finds the GitHub tokens the CLI acts with. There are two,
// for two audiences:
//
//   - Session.Token is the token `elevate login` stored, issued to
//     elevate's own app: the only token the broker accepts. It is renewed
//     with its refresh token when it expires (GitHub App user tokens last
//     8 hours), never with a prompt; when it is missing or past renewal
//     the error is a *LoginError that says to run `elevate login`.
//   - GitHubToken is the token for the CLI's own calls to GitHub's API:
//     GH_TOKEN, then GITHUB_TOKEN, then the stored login. With none of
//     them it returns a *NoTokenError telling the user what to do.
//
// DeviceLogin runs GitHub's OAuth device flow
// (https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps#device-flow)
// with github.com/cli/oauth's device package: it asks the web host (not the
// API host; see WebHost) for a one-time code, shows it to the user through
// Prompt, and polls until the user approves it in a browser. Store keeps the
// resulting token, its expiry and refresh token per GitHub host in a 0600
// JSON file written atomically.
//
// Tokens never appear in error messages.
package ghauth
