package cli

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/spf13/cobra"
)

func testFactory(env map[string]string) (*Factory, *bytes.Buffer, *bytes.Buffer) {
	var out, errOut bytes.Buffer
	f := &Factory{IO: IOStreams{In: &bytes.Buffer{}, Out: &out, ErrOut: &errOut}, Getenv: func(k string) string { return env[k] }, Now: time.Now}
	return f, &out, &errOut
}

// run parses argv with cmd and returns the error (flag errors included).
func parse(cmd *cobra.Command, argv ...string) error {
	cmd.SetArgs(argv)
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &FlagError{Err: err} })
	return cmd.ExecuteContext(context.Background())
}

func TestCredentialsFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		argv    []string
		want    CredentialsOptions
		wantErr bool
	}{
		{[]string{"--account", "prod", "--role", "Admin"}, CredentialsOptions{Account: "prod", Role: "Admin", Format: "process"}, false},
		{[]string{"--request", "alice-admin", "--format", "env"}, CredentialsOptions{Request: "alice-admin", Format: "env"}, false},
		{[]string{"--request", "x", "--format", "json", "--no-cache"}, CredentialsOptions{Request: "x", Format: "json", NoCache: true}, false},
		{[]string{"--account", "prod"}, CredentialsOptions{}, true},
		{[]string{"--request", "x", "--account", "prod", "--role", "Admin"}, CredentialsOptions{}, true},
		{[]string{"--request", "x", "--format", "yaml"}, CredentialsOptions{}, true},
		{[]string{}, CredentialsOptions{}, true},
	}
	for _, tt := range tests {
		f, _, _ := testFactory(nil)
		var got *CredentialsOptions
		err := parse(NewCmdCredentials(f, func(_ context.Context, o *CredentialsOptions) error { got = o; return nil }), tt.argv...)
		if tt.wantErr {
			var fe *FlagError
			if !errors.As(err, &fe) || ExitCode(err) != ExitUsage {
				t.Errorf("%v: err = %v, want a usage error (exit 2)", tt.argv, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%v: %v", tt.argv, err)
		}
		if diff := cmp.Diff(tt.want, *got, cmpopts.IgnoreFields(CredentialsOptions{}, "F")); diff != "" {
			t.Errorf("%v (-want +got):\n%s", tt.argv, diff)
		}
	}
}

func TestConsoleFlags(t *testing.T) {
	t.Parallel()
	f, _, _ := testFactory(nil)
	var got *ConsoleOptions
	if err := parse(NewCmdConsole(f, func(_ context.Context, o *ConsoleOptions) error { got = o; return nil }), "--request", "r1", "--open"); err != nil {
		t.Fatal(err)
	}
	if got.Request != "r1" || !got.Open {
		t.Errorf("got %+v", got)
	}
	if err := parse(NewCmdConsole(f, nil), "--role", "Admin"); ExitCode(err) != ExitUsage {
		t.Errorf("missing --account: err = %v", err)
	}
}

func TestRequestFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		argv    []string
		want    RequestOptions
		wantErr bool
	}{
		{[]string{"--account", "prod", "--role", "Admin", "--duration", "2h", "--reason", "Rotate the TLS certificate", "--ticket", "INC-1"},
			RequestOptions{Account: "prod", Role: "Admin", Duration: 2 * time.Hour, Reason: "Rotate the TLS certificate", Ticket: "INC-1"}, false},
		{[]string{"--account", "prod", "--role", "Admin", "--duration", "1h", "--reason", "Break glass now", "--emergency", "--ticket", "INC-2", "--not-before", "2026-11-25T10:00:00Z", "--dry-run", "--name", "x-1"},
			RequestOptions{Account: "prod", Role: "Admin", Duration: time.Hour, Reason: "Break glass now", Emergency: true, Ticket: "INC-2", NotBefore: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), DryRun: true, Name: "x-1"}, false},
		{[]string{"--account", "prod", "--role", "Admin", "--duration", "2h"}, RequestOptions{}, true},
		{[]string{"--account", "prod", "--role", "Admin", "--duration", "2x", "--reason", "r"}, RequestOptions{}, true},
		{[]string{"--account", "prod", "--role", "Admin", "--duration", "1h", "--reason", "reason here", "--not-before", "tomorrow"}, RequestOptions{}, true},
		{[]string{"--account", "prod", "--role", "Admin", "--duration", "1h", "--reason", "reason here", "--name", "Bad_Name"}, RequestOptions{}, true},
	}
	for _, tt := range tests {
		f, _, _ := testFactory(nil)
		var got *RequestOptions
		err := parse(NewCmdRequest(f, func(_ context.Context, o *RequestOptions) error { got = o; return nil }), tt.argv...)
		if tt.wantErr {
			if ExitCode(err) != ExitUsage {
				t.Errorf("%v: err = %v, want exit 2", tt.argv, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%v: %v", tt.argv, err)
		}
		if diff := cmp.Diff(tt.want, *got, cmpopts.IgnoreFields(RequestOptions{}, "F")); diff != "" {
			t.Errorf("%v (-want +got):\n%s", tt.argv, diff)
		}
	}
}

func TestRevokeStatusAuditPolicyLoginFlags(t *testing.T) {
	t.Parallel()
	f, _, _ := testFactory(map[string]string{"ELEVATE_GITHUB_CLIENT_ID": "Iv1.abc"})
	var rv *RevokeOptions
	if err := parse(NewCmdRevoke(f, func(_ context.Context, o *RevokeOptions) error { rv = o; return nil }), "requests/prod/2026-11/a.yaml", "--reason", "done"); err != nil || rv.ID != "prod/2026-11/a" || rv.Reason != "done" {
		t.Errorf("revoke: %v %+v", err, rv)
	}
	if err := parse(NewCmdRevoke(f, nil)); ExitCode(err) != ExitUsage && err == nil {
		t.Errorf("revoke without an id: %v", err)
	}
	var st *StatusOptions
	if err := parse(NewCmdStatus(f, func(_ context.Context, o *StatusOptions) error { st = o; return nil }), "--all"); err != nil || !st.All {
		t.Errorf("status: %v %+v", err, st)
	}
	var au *AuditOptions
	if err := parse(NewCmdAudit(f, func(_ context.Context, o *AuditOptions) error { au = o; return nil }), "--since", "48h", "--format", "csv", "--offline"); err != nil || au.Since != 48*time.Hour || au.Format != "csv" || !au.Offline {
		t.Errorf("audit: %v %+v", err, au)
	}
	if err := parse(NewCmdAudit(f, nil), "--format", "pdf"); ExitCode(err) != ExitUsage {
		t.Errorf("audit --format pdf: %v", err)
	}
	var lo *LoginOptions
	if err := parse(NewCmdLogin(f, func(_ context.Context, o *LoginOptions) error { lo = o; return nil })); err != nil || lo.ClientID != "Iv1.abc" {
		t.Errorf("login: %v %+v", err, lo)
	}
	g, _, _ := testFactory(nil)
	if err := parse(NewCmdLogin(g, nil)); ExitCode(err) != ExitUsage {
		t.Errorf("login without a client id: %v", err)
	}
	var pl *PolicyLintOptions
	if err := parse(NewCmdPolicy(f, func(_ context.Context, o *PolicyLintOptions) error { pl = o; return nil }), "lint", "--dir", "/x"); err != nil || pl.Dir != "/x" {
		t.Errorf("policy lint: %v %+v", err, pl)
	}
}

func TestRequestName(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC)
	for _, tt := range []struct{ login, role, ticket, want string }{
		{"alice", "Admin", "INC-4821", "alice-admin-inc-4821"},
		{"Bob", "ReadOnly", "", "bob-readonly-20261125-0930"},
		{"carol", "Power.User@x", "JIRA_7", "carol-power-user-x-jira-7"},
	} {
		if got := RequestName(tt.login, tt.role, tt.ticket, now); got != tt.want {
			t.Errorf("RequestName(%s,%s,%s) = %s, want %s", tt.login, tt.role, tt.ticket, got, tt.want)
		}
	}
}

func TestOwnerNameFromRemote(t *testing.T) {
	t.Parallel()
	for remote, want := range map[string]string{
		"git@github.com:acme/access.git":           "acme/access",
		"https://github.com/acme/access":           "acme/access",
		"https://ghe.example.com/acme/access.git/": "acme/access",
		"ssh://git@github.com/acme/access.git":     "acme/access",
		"/tmp/local":                               "tmp/local",
	} {
		if got := ownerName(remote); got != want {
			t.Errorf("ownerName(%q) = %q, want %q", remote, got, want)
		}
	}
}
