// Package custody is elevate's one check of the chain of custody (docs/custody.md):
// which policy files on the branch can be trusted, and whether a grant came
// from a pull request whose verdict held at merge time under trusted policy.
//
// The broker trusts the tree of one commit, the trust anchor, and GitHub's
// answers about pull requests, reviews, team membership, merge times and
// the repository's activity; nothing else. What happened to the branch is
// what GitHub's activity recorded (Recorded, Follow), never what git's
// commit graph suggests: each recorded move is judged by the trees at its
// two ends (Steps), so a commit between them, or a parent a pusher chose,
// counts for nothing. Every move after the anchor that changes
// eligibility.yaml or a CODEOWNERS file must end at the merge commit of a
// change PR whose verdict held at its merge time, judged with the same
// approval.Decide as the Action, against the last trusted version of those
// files, with exactly the PR's bytes. A policy file is trusted when its
// last change since the anchor verified; a later approved PR that changes
// it again restores trust. A grant verifies when its move ends at the merge
// commit of a request PR approved at merge time under the policy just
// before the move, and that policy is trusted there.
//
// The ledger (for the broker) and the audit (for `elevate audit --verify`)
// read GitHub's record with Recorded and git's content with Steps; this
// package decides.
package custody
