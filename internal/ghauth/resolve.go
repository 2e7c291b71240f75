package ghauth

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Token sources, as GitHubToken reports them.
const (
	SourceGHToken     = "GH_TOKEN"
	SourceGitHubToken = "GITHUB_TOKEN"
	SourceStored      = "stored"
)

// NoTokenError says no GitHub token was found for Host.
type NoTokenError struct {
	// Host is the GitHub host a stored token was looked up for.
	Host string
}

func (e *NoTokenError) Error() string {
	return fmt.Sprintf("no GitHub token for %s: run `elevate login` or set GH_TOKEN", e.Host)
}

// GitHubToken finds the token for the CLI's own calls to GitHub's API (not
// for the broker, which accepts only login.Token), in this order: the
// GH_TOKEN environment variable, GITHUB_TOKEN, then the stored login of
// the host of login.APIURL (renewed as Session.Token renews it). Values
// that are empty or only spaces count as unset. source is SourceGHToken,
// SourceGitHubToken or SourceStored.
//
// With no token anywhere (or a nil login and no variable) the error is a
// *NoTokenError. A stored login that cannot be read or renewed is an
// error of its own, which never holds the token.
func GitHubToken(ctx context.Context, getenv func(string) string, login *Session) (token, source string, err error) {
	for _, name := range []string{SourceGHToken, SourceGitHubToken} {
		if t := strings.TrimSpace(getenv(name)); t != "" {
			return t, name, nil
		}
	}
	if login == nil {
		login = &Session{APIURL: getenv("GITHUB_API_URL")}
	}
	t, err := login.Token(ctx)
	var le *LoginError
	if errors.As(err, &le) && !le.Expired {
		return "", "", &NoTokenError{Host: le.Host}
	}
	if err != nil {
		return "", "", fmt.Errorf("resolve GitHub token: %w", err)
	}
	return t.Access, SourceStored, nil
}
