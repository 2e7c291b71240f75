// Package ledger indexes the grants of the access repository: the request
// files present on the default branch, each with the recorded move of the
// branch that merged it and its window. It follows what GitHub's activity
// recorded of the branch, judging each move by the trees at its two ends in
// a local clone, and reads requests only as far back as a window can still
// be open (the longest max_duration plus the 30-day not_before bound, by
// GitHub's times). Before a grant can issue credentials it is re-verified
// once through GitHub (its move ends at the merge commit of a PR that the
// approval decision approved at merge time); the verdict is cached by move.
// What it saves for a restart carries a MAC: a cache, never evidence.
package ledger
