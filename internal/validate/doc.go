// Package validate is the Action's logic: it reads a pull_request_target or
// pull_request_review event, gathers the PR's facts through the GitHub API,
// asks approval.Decide for the verdict, and reports it as a commit status, a
// sticky PR comment, a job summary, annotations and step outputs.
package validate
