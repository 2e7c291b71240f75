// Package approval holds elevate's one approval decision: given the facts of
// a pull request against the access repository (its author, head, changed
// files, the request it adds, the policy and CODEOWNERS at its base, and its
// reviews) it says whether the PR may be merged. The Action calls Decide to
// judge open PRs; the broker calls the same Decide to re-judge merged ones.
// Decide is pure but for team-membership look-ups through an interface.
package approval
