package main

import (
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The workflow builds the validator from the PR's base, never its head, and
// asks only for the permissions the Action uses.
func TestWorkflowJudgesFromTheBase(t *testing.T) {
	data, err := os.ReadFile("../../.github/workflows/elevate.yml")
	if err != nil {
		t.Fatal(err)
	}
	var wf struct {
		On          map[string]struct{ Types []string } `yaml:"on"`
		Permissions map[string]string
		Jobs        map[string]struct {
			Steps []struct {
				Uses string
				With map[string]string
				Run  string
			}
		}
	}
	if err := yaml.Unmarshal(data, &wf); err != nil {
		t.Fatal(err)
	}
	if _, ok := wf.On["pull_request"]; ok {
		t.Error("the workflow must run on pull_request_target (base code), not pull_request")
	}
	if got := strings.Join(wf.On["pull_request_target"].Types, ","); got != "opened,synchronize,reopened,closed" {
		t.Errorf("pull_request_target types = %s", got)
	}
	if got := strings.Join(wf.On["pull_request_review"].Types, ","); got != "submitted,dismissed" {
		t.Errorf("pull_request_review types = %s", got)
	}
	want := map[string]string{"contents": "read", "pull-requests": "write", "statuses": "write"}
	if len(wf.Permissions) != len(want) {
		t.Errorf("permissions = %v, want exactly %v", wf.Permissions, want)
	}
	for k, v := range want {
		if wf.Permissions[k] != v {
			t.Errorf("permission %s = %q, want %q", k, wf.Permissions[k], v)
		}
	}
	checkouts := 0
	for _, job := range wf.Jobs {
		for _, s := range job.Steps {
			if strings.HasPrefix(s.Uses, "actions/checkout@") {
				checkouts++
				if s.With["ref"] != "${{ github.event.pull_request.base.sha }}" || s.With["persist-credentials"] != "false" {
					t.Errorf("checkout %v must pin the base SHA without persisting credentials", s.With)
				}
			}
			if strings.Contains(s.Run, "head") {
				t.Errorf("a step refers to the head: %q", s.Run)
			}
		}
	}
	if checkouts != 1 {
		t.Errorf("%d checkouts, want exactly one (of the base)", checkouts)
	}
}
