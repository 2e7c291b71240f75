package identity_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/elevate-gitops/elevate/internal/identity"
	"github.com/elevate-gitops/elevate/internal/identity/oidcfake"
)

const (
	// listedWorkflow is octocat's workflow_dispatch workflow (oidcfake's
	// default for acme/access), and sharedWorkflow a listed reusable one.
	listedWorkflow = "acme/access/" + oidcfake.DefaultWorkflow
	sharedWorkflow = "acme/shared/.github/workflows/aws.yml@refs/heads/main"
	// reviewWorkflow is a workflow of the same repository nobody listed,
	// such as one a writer adds in a PR branch for pull_request_review.
	reviewWorkflow = "acme/access/.github/workflows/review.yml@refs/heads/main"
)

// otherEvents are GitHub's events other than workflow_dispatch: their runs
// have as actor whoever happened to trigger them (a reviewer, a commenter,
// the author of a push or a fork's PR), or whoever last changed a schedule.
var otherEvents = []string{
	"push", "pull_request", "pull_request_target", "pull_request_review", "pull_request_review_comment",
	"issue_comment", "issues", "discussion", "discussion_comment", "workflow_run", "workflow_call", "schedule",
	"repository_dispatch", "merge_group", "release", "create", "delete", "deployment", "deployment_status",
	"check_run", "check_suite", "status", "label", "milestone", "fork", "watch", "gollum", "page_build",
	"public", "registry_package", "branch_protection_rule", "dynamic",
}

// An Actions token speaks for its actor only from code the person chose to
// run: a listed workflow (the run's and the job's), on a protected ref, for
// a listed event, on the first attempt of the run. Each token is a real
// JWT from the local issuer.
func TestActionsTokenMustComeFromATrustedRun(t *testing.T) {
	t.Parallel()
	iss := oidcfake.New(t)
	v := newVerifier(t, identity.Config{Issuer: iss.URL, Workflows: []string{listedWorkflow, sharedWorkflow}})
	octocatID := &identity.Identity{UserID: 583231, Login: "octocat", Via: "oidc", Workflow: listedWorkflow}
	type claims = func(*oidcfake.Claims)
	tests := []struct {
		name       string
		claims     claims
		wantReason string // "": accepted
	}{
		{name: "listed workflow, dispatched by hand, protected, first attempt", claims: func(*oidcfake.Claims) {}},
		{name: "listed workflow calling a listed reusable one", claims: func(c *oidcfake.Claims) { c.JobWorkflowRef = sharedWorkflow }},
		{name: "ref_protected as a JSON true", claims: func(c *oidcfake.Claims) { c.Extra = map[string]any{"ref_protected": true} }},
		{name: "run_attempt as a JSON number", claims: func(c *oidcfake.Claims) { c.Extra = map[string]any{"run_attempt": 1} }},

		{name: "listed reusable workflow called from an unlisted one", claims: func(c *oidcfake.Claims) {
			c.WorkflowRef, c.JobWorkflowRef = reviewWorkflow, sharedWorkflow
		}, wantReason: `"` + reviewWorkflow + `" (workflow_ref) is not listed`},
		{name: "listed workflow called as a reusable one from an unlisted one", claims: func(c *oidcfake.Claims) {
			c.WorkflowRef, c.JobWorkflowRef = reviewWorkflow, listedWorkflow
		}, wantReason: "(workflow_ref) is not listed"},
		{name: "listed workflow calling an unlisted reusable one", claims: func(c *oidcfake.Claims) {
			c.JobWorkflowRef = "acme/shared/.github/workflows/other.yml@refs/heads/main"
		}, wantReason: "(job_workflow_ref) is not listed"},
		{name: "unlisted workflow of the listed repository", claims: func(c *oidcfake.Claims) { c.WorkflowRef = reviewWorkflow },
			wantReason: `"` + reviewWorkflow + `" (job_workflow_ref) is not listed`},
		{name: "listed workflow file on another branch", claims: func(c *oidcfake.Claims) {
			c.Ref, c.WorkflowRef = "refs/heads/feature", "acme/access/.github/workflows/elevate.yml@refs/heads/feature"
		}, wantReason: "is not listed in --oidc-workflows"},
		{name: "listed workflow in another case", claims: func(c *oidcfake.Claims) {
			c.WorkflowRef = "ACME/access/.github/workflows/elevate.yml@refs/heads/main"
		}, wantReason: "is not listed in --oidc-workflows"},
		{name: "no job_workflow_ref claim", claims: func(c *oidcfake.Claims) { c.Extra = map[string]any{"job_workflow_ref": nil} },
			wantReason: `"" (job_workflow_ref) is not listed`},
		{name: "no workflow_ref claim", claims: func(c *oidcfake.Claims) {
			c.JobWorkflowRef = listedWorkflow
			c.Extra = map[string]any{"workflow_ref": nil}
		}, wantReason: `"" (workflow_ref) is not listed`},

		{name: "ref_protected false", claims: func(c *oidcfake.Claims) { c.RefProtected = "false" }, wantReason: `ref_protected is "false"`},
		{name: "ref_protected a JSON false", claims: func(c *oidcfake.Claims) { c.Extra = map[string]any{"ref_protected": false} },
			wantReason: "ref_protected is false"},
		{name: "ref_protected missing", claims: func(c *oidcfake.Claims) { c.Extra = map[string]any{"ref_protected": nil} },
			wantReason: "ref_protected is missing"},
		{name: "ref_protected True", claims: func(c *oidcfake.Claims) { c.RefProtected = "True" }, wantReason: "ref_protected"},
		{name: "ref_protected 1", claims: func(c *oidcfake.Claims) { c.Extra = map[string]any{"ref_protected": 1} }, wantReason: "ref_protected is 1"},

		{name: "run_attempt 2", claims: func(c *oidcfake.Claims) { c.RunAttempt = "2" }, wantReason: `attempt "2" of its run`},
		{name: "run_attempt 2 as a JSON number", claims: func(c *oidcfake.Claims) { c.Extra = map[string]any{"run_attempt": 2} }, wantReason: "attempt 2 of"},
		{name: "run_attempt 0", claims: func(c *oidcfake.Claims) { c.RunAttempt = "0" }, wantReason: "run_attempt"},
		{name: "run_attempt 01", claims: func(c *oidcfake.Claims) { c.RunAttempt = "01" }, wantReason: "run_attempt"},
		{name: "run_attempt missing", claims: func(c *oidcfake.Claims) { c.Extra = map[string]any{"run_attempt": nil} },
			wantReason: "attempt missing of"},

		{name: "event_name missing", claims: func(c *oidcfake.Claims) { c.Extra = map[string]any{"event_name": nil} },
			wantReason: `"" (event_name)`},
	}
	for _, event := range otherEvents {
		tests = append(tests, struct {
			name       string
			claims     claims
			wantReason string
		}{name: "event " + event, claims: func(c *oidcfake.Claims) { c.EventName = event },
			wantReason: `triggered by "` + event + `" (event_name), not by one of --oidc-events (workflow_dispatch)`})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			token := iss.Mint(with(tc.claims))
			id, err := v.Verify(context.Background(), "Bearer "+token)
			if tc.wantReason == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if diff := cmp.Diff(octocatID, id); diff != "" {
					t.Errorf("identity (-want +got):\n%s", diff)
				}
				return
			}
			assertRefused(t, id, err, tc.wantReason)
			assertNoToken(t, err, token)
		})
	}
}

// No workflow listed: every Actions token is refused, even from a listed
// repository.
func TestActionsTokenRefusedWithoutListedWorkflows(t *testing.T) {
	t.Parallel()
	iss := oidcfake.New(t)
	v := newVerifier(t, identity.Config{Issuer: iss.URL, Workflows: []string{}})
	id, err := v.Verify(context.Background(), "Bearer "+iss.Mint(octocat()))
	assertRefused(t, id, err, "--oidc-workflows is not set")
}

// --oidc-events replaces the default: the listed events speak for their
// actor, workflow_dispatch no longer does.
func TestActionsTokenEventsAreConfigurable(t *testing.T) {
	t.Parallel()
	iss := oidcfake.New(t)
	v := newVerifier(t, identity.Config{Issuer: iss.URL, Events: []string{"repository_dispatch", "workflow_call"}})
	if _, err := v.Verify(context.Background(), "Bearer "+iss.Mint(with(func(c *oidcfake.Claims) { c.EventName = "repository_dispatch" }))); err != nil {
		t.Errorf("a listed event: %v", err)
	}
	id, err := v.Verify(context.Background(), "Bearer "+iss.Mint(octocat()))
	assertRefused(t, id, err, `not by one of --oidc-events (repository_dispatch, workflow_call): start the workflow yourself with repository_dispatch or workflow_call`)
}
