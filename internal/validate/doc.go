// Package validate is the Action's logic: it reads a pull_request_target
// event, or the workflow_run event of the review workflow (ReviewWorkflow),
// gathers the PR's facts through the GitHub API, asks approval.Decide for the
// verdict, and reports it as a commit status on the head whose files were
// judged, a sticky PR comment, a job summary, annotations and step outputs.
package validate
