// Package custody is elevate's one check of the chain of custody (README, "The chain of custody"):
// which policy files on the branch can be trusted, and whether a grant came
// from a pull request whose verdict held at merge time under trusted policy.
//
// The broker trusts the tree of one commit, the trust anchor, and GitHub's
// answers about pull requests, reviews, team membership and merge times;
// nothing else. Every first-parent commit after the anchor that changes
// eligibility.yaml or a CODEOWNERS file must be the merge (merge, squash or
// rebase) of a change PR whose verdict held at its merge time, judged with
// the same approval.Decide as the Action, against the last trusted version
// of those files. A policy file is trusted at a commit when its last change
// since the anchor verified; a later approved PR that changes it again
// restores trust. A grant verifies when its commit is the merge of a request
// PR approved at merge time under the policy at the merge's first parent,
// and that policy is trusted there.
//
// The ledger (for the broker) and the audit (for `elevate audit --verify`)
// supply the commits from git; this package reads GitHub and decides.
package custody
