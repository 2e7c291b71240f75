//go:build !unix

package ghauth

import "context"

// lockFile takes no lock where flock does not exist: two renewals at once
// may spend the same refresh token, and the loser asks for `elevate login`.
func lockFile(context.Context, string) (unlock func(), err error) {
	return func() {}, nil
}
