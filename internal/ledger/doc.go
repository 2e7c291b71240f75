// Package ledger indexes the grants of the access repository: the request
// files present on the default branch, each with the first-parent commit that
// merged it and its window. It reads a local git clone and looks back only as
// far as a window can still be open (the longest max_duration plus the 30-day
// not_before bound), so start-up does not grow with the length of history.
// Before a grant can issue credentials it is re-verified once through GitHub
// (the commit came from a merged PR that the approval decision approved at
// merge time); the verdict is cached by commit.
package ledger
