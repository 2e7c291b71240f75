package ghauth

import (
	"errors"
	"fmt"
	"strings"
)

// Token sources, as ResolveToken reports them.
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

// ResolveToken finds the GitHub token to act with, in this order: the
// GH_TOKEN environment variable, GITHUB_TOKEN, then the token store holds
// for the host of GITHUB_API_URL (see HostFor; unset means github.com).
// Values that are empty or only spaces count as unset. source is
// SourceGHToken, SourceGitHubToken or SourceStored.
//
// With no token anywhere (or a nil store and no variable) the error is a
// *NoTokenError. A stored token that cannot be read is an error of its own,
// which never holds the token.
func ResolveToken(getenv func(string) string, store *Store) (token, source string, err error) {
	for _, name := range []string{SourceGHToken, SourceGitHubToken} {
		if t := strings.TrimSpace(getenv(name)); t != "" {
			return t, name, nil
		}
	}
	host, err := HostFor(getenv("GITHUB_API_URL"))
	if err != nil {
		return "", "", fmt.Errorf("resolve GitHub token: %w", err)
	}
	if store == nil {
		return "", "", &NoTokenError{Host: host}
	}
	t, err := store.Load(host)
	if errors.Is(err, ErrNoToken) {
		return "", "", &NoTokenError{Host: host}
	}
	if err != nil {
		return "", "", fmt.Errorf("resolve GitHub token: %w", err)
	}
	return t, SourceStored, nil
}
