// Package ghauth finds the GitHub token the CLI acts with.
//
// ResolveToken takes GH_TOKEN, then GITHUB_TOKEN, then the token that
// `elevate login` stored for the GitHub host named by GITHUB_API_URL. With
// none of them it returns a *NoTokenError telling the user what to do.
//
// DeviceLogin runs GitHub's OAuth device flow
// (https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps#device-flow)
// with github.com/cli/oauth's device package: it asks the web host (not the
// API host; see WebHost) for a one-time code, shows it to the user through
// Prompt, and polls until the user approves it in a browser. Store keeps the
// resulting token per GitHub host in a 0600 JSON file written atomically.
//
// Tokens never appear in error messages.
package ghauth
