// Package eligibility holds the policy of eligibility.yaml: which accounts
// exist, and which people and teams may request which roles, for how long,
// with how many approvals. It parses strictly, evaluates a request against the
// rules, lints the policy against CODEOWNERS, and diffs two policies so a
// reviewer sees who gains and who loses access.
package eligibility
