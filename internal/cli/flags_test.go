package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"

	"github.com/elevate-gitops/elevate/internal/credcache"
	"github.com/elevate-gitops/elevate/internal/ghauth"
	"github.com/elevate-gitops/elevate/internal/githubapi"
	"github.com/elevate-gitops/elevate/internal/request"
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

// The fakes of depsFactory: distinct functions, so that a comparison tells
// which dependency a command was given.
func fakeNow() time.Time                     { return time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC) }
func fakeCache() (*credcache.Cache, error)   { return nil, errors.New("fake cache") }
func fakeTokenStore() (*ghauth.Store, error) { return nil, errors.New("fake token store") }
func fakeBrowser(string) error               { return errors.New("fake browser") }

// depsFactory is a Factory whose every dependency is a fake of its own.
func depsFactory(env map[string]string) *Factory {
	f, _, _ := testFactory(env)
	f.Now, f.Cache, f.TokenStore, f.Browser = fakeNow, fakeCache, fakeTokenStore, fakeBrowser
	f.HTTP = &http.Client{}
	return f
}

// optsCmp compares Options whole: functions by the code they run (nil only
// equals nil), streams by the readers and writers they are.
var optsCmp = cmp.Options{
	cmp.FilterValues(func(x, y any) bool { return isFunc(x) && isFunc(y) }, cmp.Comparer(func(x, y any) bool {
		return reflect.ValueOf(x).Pointer() == reflect.ValueOf(y).Pointer()
	})),
	cmp.Comparer(func(a, b IOStreams) bool { return a.In == b.In && a.Out == b.Out && a.ErrOut == b.ErrOut }),
}

func isFunc(v any) bool { return v != nil && reflect.TypeOf(v).Kind() == reflect.Func }

// optsCmp must tell dependencies apart, or the tests below check nothing.
func TestOptionsComparisonTellsDependenciesApart(t *testing.T) {
	t.Parallel()
	f := depsFactory(nil)
	g, _, _ := testFactory(nil)
	for name, pair := range map[string][2]any{
		"clock":   {RequestOptions{Now: f.Now}, RequestOptions{Now: time.Now}},
		"nil":     {RequestOptions{Now: f.Now}, RequestOptions{}},
		"method":  {RevokeOptions{Repo: f.Repo}, RevokeOptions{Repo: func(context.Context) (*githubapi.Repo, error) { return nil, nil }}},
		"streams": {RequestOptions{IO: f.IO}, RequestOptions{IO: g.IO}},
		"cache":   {StatusOptions{Cache: f.Cache}, StatusOptions{Cache: credcache.Default}},
	} {
		if cmp.Equal(pair[0], pair[1], optsCmp) {
			t.Errorf("%s: %+v and %+v compare equal", name, pair[0], pair[1])
		}
	}
	if !cmp.Equal(RevokeOptions{IO: f.IO, Repo: f.Repo, Broker: f.broker}, RevokeOptions{IO: f.IO, Repo: g.Repo, Broker: g.broker}, optsCmp) {
		t.Error("the same methods of two factories compare unequal")
	}
}

// parseCase is one argv and the Options it must give, or a usage error.
type parseCase[O any] struct {
	argv    []string
	want    O
	wantErr bool
}

// checkParse runs each case through newCmd and compares whole Options.
func checkParse[O any](t *testing.T, newCmd func(runF func(context.Context, *O) error) *cobra.Command, tests []parseCase[O]) {
	t.Helper()
	for _, tt := range tests {
		var got *O
		err := parse(newCmd(func(_ context.Context, o *O) error { got = o; return nil }), tt.argv...)
		if tt.wantErr {
			var fe *FlagError
			if !errors.As(err, &fe) || ExitCode(err) != ExitUsage {
				t.Errorf("%v: err = %v, want a usage error (exit 2)", tt.argv, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", tt.argv, err)
			continue
		}
		if diff := cmp.Diff(tt.want, *got, optsCmp); diff != "" {
			t.Errorf("%v (-want +got):\n%s", tt.argv, diff)
		}
	}
}

func TestCredentialsFlags(t *testing.T) {
	t.Parallel()
	f := depsFactory(nil)
	deps := CredentialsOptions{IO: f.IO, Broker: f.broker, Cache: f.Cache, Repo: f.Repo}
	with := func(o CredentialsOptions) CredentialsOptions {
		o.IO, o.Broker, o.Cache, o.Repo = deps.IO, deps.Broker, deps.Cache, deps.Repo
		return o
	}
	checkParse(t, func(runF func(context.Context, *CredentialsOptions) error) *cobra.Command {
		return NewCmdCredentials(f, runF)
	}, []parseCase[CredentialsOptions]{
		{argv: []string{"--account", "prod", "--role", "Admin"}, want: with(CredentialsOptions{Account: "prod", Role: "Admin", Format: "process"})},
		{argv: []string{"--request", "alice-admin", "--format", "env"}, want: with(CredentialsOptions{Request: "alice-admin", Format: "env"})},
		{argv: []string{"--request", "x", "--format", "json", "--no-cache"}, want: with(CredentialsOptions{Request: "x", Format: "json", NoCache: true})},
		{argv: []string{"--account", "prod"}, wantErr: true},
		{argv: []string{"--request", "x", "--account", "prod", "--role", "Admin"}, want: with(CredentialsOptions{Request: "x", Account: "prod", Role: "Admin", Format: "process"})},
		{argv: []string{"--request", "x", "--account", "prod"}, wantErr: true},
		{argv: []string{"--request", "x", "--format", "yaml"}, wantErr: true},
		{argv: []string{}, wantErr: true},
	})
}

func TestConsoleFlags(t *testing.T) {
	t.Parallel()
	f := depsFactory(nil)
	checkParse(t, func(runF func(context.Context, *ConsoleOptions) error) *cobra.Command { return NewCmdConsole(f, runF) }, []parseCase[ConsoleOptions]{
		{argv: []string{"--request", "r1", "--open"}, want: ConsoleOptions{IO: f.IO, Broker: f.broker, Browser: f.Browser, Repo: f.Repo, Request: "r1", Open: true}},
		{argv: []string{"--account", "prod", "--role", "Admin"}, want: ConsoleOptions{IO: f.IO, Broker: f.broker, Browser: f.Browser, Repo: f.Repo, Account: "prod", Role: "Admin"}},
		{argv: []string{"--role", "Admin"}, wantErr: true},
	})
}

func TestRequestFlags(t *testing.T) {
	t.Parallel()
	f := depsFactory(nil)
	with := func(o RequestOptions) RequestOptions {
		o.IO, o.Now, o.Repo = f.IO, f.Now, f.Repo
		return o
	}
	checkParse(t, func(runF func(context.Context, *RequestOptions) error) *cobra.Command { return NewCmdRequest(f, runF) }, []parseCase[RequestOptions]{
		{argv: []string{"--account", "prod", "--role", "Admin", "--duration", "2h", "--reason", "Rotate the TLS certificate", "--ticket", "INC-1"},
			want: with(RequestOptions{Account: "prod", Role: "Admin", Duration: 2 * time.Hour, Reason: "Rotate the TLS certificate", Ticket: "INC-1"})},
		{argv: []string{"--account", "prod", "--role", "Admin", "--duration", "1h", "--reason", "Break glass now", "--emergency", "--ticket", "INC-2", "--not-before", "2026-11-25T10:00:00Z", "--dry-run", "--name", "x-1"},
			want: with(RequestOptions{Account: "prod", Role: "Admin", Duration: time.Hour, Reason: "Break glass now", Emergency: true, Ticket: "INC-2", NotBefore: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), DryRun: true, Name: "x-1"})},
		{argv: []string{"--target", "prod:Admin", "--target", "payments:ps/PaymentsAdmin", "--duration", "2h", "--reason", "Fail over the database"},
			want: with(RequestOptions{Targets: []request.Target{{Account: "prod", Role: "Admin"}, {Account: "payments", PermissionSet: "PaymentsAdmin"}}, Duration: 2 * time.Hour, Reason: "Fail over the database"})},
		{argv: []string{"--account", "payments", "--permission-set", "PaymentsAdmin", "--duration", "2h", "--reason", "Fail over the database"},
			want: with(RequestOptions{Account: "payments", PermissionSet: "PaymentsAdmin", Duration: 2 * time.Hour, Reason: "Fail over the database"})},
		{argv: []string{"--target", "prod:Admin", "--account", "prod", "--duration", "2h", "--reason", "Fail over the database"}, wantErr: true},
		{argv: []string{"--target", "prod:Admin", "--target", "prod:Admin", "--duration", "2h", "--reason", "Fail over the database"}, wantErr: true},
		{argv: []string{"--target", "prod", "--duration", "2h", "--reason", "Fail over the database"}, wantErr: true},
		{argv: []string{"--account", "prod", "--role", "Admin", "--permission-set", "P", "--duration", "2h", "--reason", "Fail over the database"}, wantErr: true},
		{argv: targetsArgv(21), wantErr: true},
		{argv: []string{"--account", "prod", "--role", "Admin", "--duration", "2h"}, wantErr: true},
		{argv: []string{"--account", "prod", "--role", "Admin", "--duration", "2x", "--reason", "r"}, wantErr: true},
		{argv: []string{"--account", "prod", "--role", "Admin", "--duration", "1h", "--reason", "reason here", "--not-before", "tomorrow"}, wantErr: true},
		{argv: []string{"--account", "prod", "--role", "Admin", "--duration", "1h", "--reason", "reason here", "--name", "Bad_Name"}, wantErr: true},
	})
}

func TestRevokeFlags(t *testing.T) {
	t.Parallel()
	f := depsFactory(nil)
	deps := RevokeOptions{IO: f.IO, Repo: f.Repo, Broker: f.broker}
	checkParse(t, func(runF func(context.Context, *RevokeOptions) error) *cobra.Command { return NewCmdRevoke(f, runF) }, []parseCase[RevokeOptions]{
		{argv: []string{"requests/prod/2026-11/a.yaml", "--reason", "done"}, want: RevokeOptions{IO: deps.IO, Repo: deps.Repo, Broker: deps.Broker, ID: "prod/2026-11/a", Reason: "done"}},
		{argv: []string{"a"}, want: RevokeOptions{IO: deps.IO, Repo: deps.Repo, Broker: deps.Broker, ID: "a"}},
		{argv: []string{}, wantErr: true},
		{argv: []string{"a", "b"}, wantErr: true},
	})
}

func TestExtendFlags(t *testing.T) {
	t.Parallel()
	f := depsFactory(nil)
	checkParse(t, func(runF func(context.Context, *ExtendOptions) error) *cobra.Command { return NewCmdExtend(f, runF) }, []parseCase[ExtendOptions]{
		{argv: []string{"requests/prod/2026-11/a.yaml", "--duration", "2h", "--reason", "still migrating", "--ticket", "INC-3", "--name", "a-more", "--dry-run"},
			want: ExtendOptions{IO: f.IO, Now: f.Now, Repo: f.Repo, Broker: f.broker, ID: "prod/2026-11/a", Duration: 2 * time.Hour, Reason: "still migrating", Ticket: "INC-3", Name: "a-more", DryRun: true}},
		{argv: []string{"a"}, wantErr: true},
		{argv: []string{"a", "--duration", "-1h"}, wantErr: true},
		{argv: []string{"--duration", "1h"}, wantErr: true},
	})
}

func TestStatusFlags(t *testing.T) {
	t.Parallel()
	f := depsFactory(nil)
	deps := StatusOptions{IO: f.IO, Now: f.Now, Repo: f.Repo, Broker: f.broker, Cache: f.Cache}
	all := deps
	all.All = true
	checkParse(t, func(runF func(context.Context, *StatusOptions) error) *cobra.Command { return NewCmdStatus(f, runF) }, []parseCase[StatusOptions]{
		{argv: []string{}, want: deps},
		{argv: []string{"--all"}, want: all},
		{argv: []string{"mine"}, wantErr: true},
	})
}

func TestAuditFlags(t *testing.T) {
	t.Parallel()
	f := depsFactory(nil)
	with := func(o AuditOptions) AuditOptions {
		o.IO, o.Now, o.Repo, o.Checkout = f.IO, f.Now, f.Repo, f.checkout
		return o
	}
	checkParse(t, func(runF func(context.Context, *AuditOptions) error) *cobra.Command { return NewCmdAudit(f, runF) }, []parseCase[AuditOptions]{
		{argv: []string{}, want: with(AuditOptions{Since: 720 * time.Hour, Format: "table", Branch: "main"})},
		{argv: []string{"--since", "48h", "--format", "csv", "--offline", "--dir", "/x", "--branch", "trunk"},
			want: with(AuditOptions{Since: 48 * time.Hour, Format: "csv", Offline: true, Dir: "/x", Branch: "trunk"})},
		{argv: []string{"--verify", "--from", strings.Repeat("ab", 20)}, want: with(AuditOptions{Since: 720 * time.Hour, Format: "table", Branch: "main", Verify: true, From: strings.Repeat("ab", 20)})},
		{argv: []string{"--verify", "--trust-anchor", strings.Repeat("cd", 20)}, want: with(AuditOptions{Since: 720 * time.Hour, Format: "table", Branch: "main", Verify: true, From: strings.Repeat("cd", 20)})},
		{argv: []string{"--verify", "--from", "abc"}, wantErr: true},
		{argv: []string{"--from", strings.Repeat("ab", 20)}, wantErr: true},
		{argv: []string{"--format", "pdf"}, wantErr: true},
		{argv: []string{"--since", "0s"}, wantErr: true},
		{argv: []string{"--verify", "--offline"}, wantErr: true},
		{argv: []string{"--trust-anchor", "abc"}, wantErr: true},
	})
}

func TestPolicyLintFlags(t *testing.T) {
	t.Parallel()
	f := depsFactory(nil)
	checkParse(t, func(runF func(context.Context, *PolicyLintOptions) error) *cobra.Command {
		return NewCmdPolicy(f, runF)
	}, []parseCase[PolicyLintOptions]{
		{argv: []string{"lint", "--dir", "/x"}, want: PolicyLintOptions{IO: f.IO, Checkout: f.checkout, Dir: "/x"}},
		{argv: []string{"lint"}, want: PolicyLintOptions{IO: f.IO, Checkout: f.checkout}},
	})
}

func TestLoginFlags(t *testing.T) {
	t.Parallel()
	f := depsFactory(map[string]string{"ELEVATE_GITHUB_CLIENT_ID": "Iv1.abc", "GITHUB_API_URL": "https://ghe.example.com/api/v3"})
	deps := LoginOptions{IO: f.IO, APIURL: "https://ghe.example.com/api/v3", HTTP: f.githubHTTP, TokenStore: f.TokenStore, Now: f.Now}
	withID := func(id string) LoginOptions { o := deps; o.ClientID = id; return o }
	checkParse(t, func(runF func(context.Context, *LoginOptions) error) *cobra.Command { return NewCmdLogin(f, runF) }, []parseCase[LoginOptions]{
		{argv: []string{}, want: withID("Iv1.abc")},
		{argv: []string{"--client-id", "Iv1.other"}, want: withID("Iv1.other")},
	})
	g := depsFactory(nil)
	checkParse(t, func(runF func(context.Context, *LoginOptions) error) *cobra.Command { return NewCmdLogin(g, runF) }, []parseCase[LoginOptions]{
		{argv: []string{}, wantErr: true},
	})
}

func TestVersionFlags(t *testing.T) {
	t.Parallel()
	f := depsFactory(nil)
	checkParse(t, func(runF func(context.Context, *VersionOptions) error) *cobra.Command { return NewCmdVersion(f, runF) }, []parseCase[VersionOptions]{
		{argv: []string{}, want: VersionOptions{IO: f.IO}},
		{argv: []string{"extra"}, wantErr: true},
	})
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

// ELEVATE_REPO is guessed only from a remote on the GitHub host in use.
func TestOwnerNameFromRemote(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ remote, host, want string }{
		{"git@github.com:acme/access.git", "github.com", "acme/access"},
		{"https://github.com/acme/access", "github.com", "acme/access"},
		{"https://GitHub.com/acme/access.git/", "github.com", "acme/access"},
		{"ssh://git@github.com:22/acme/access.git", "github.com", "acme/access"},
		{"https://x-access-token:secret@github.com/acme/access.git", "github.com", "acme/access"},
		{"https://ghe.example.com/acme/access.git/", "ghe.example.com", "acme/access"},
		{"http://127.0.0.1:8080/acme/access", "127.0.0.1", "acme/access"},
		// Another host names another repository.
		{"https://ghe.example.com/acme/access.git", "github.com", ""},
		{"git@gitlab.com:acme/access.git", "github.com", ""},
		{"https://github.com.evil.example/acme/access", "github.com", ""},
		{"https://github.com/acme/access", "ghe.example.com", ""},
		// Not owner/name on a host.
		{"/tmp/local", "github.com", ""},
		{"../access", "github.com", ""},
		{"https://github.com/acme", "github.com", ""},
		{"https://github.com/acme/access/extra", "github.com", ""},
	} {
		if got := ownerName(tt.remote, tt.host); got != tt.want {
			t.Errorf("ownerName(%q, %q) = %q, want %q", tt.remote, tt.host, got, tt.want)
		}
	}
}

// targetsArgv is n distinct --target flags and a valid rest.
func targetsArgv(n int) []string {
	argv := []string{"--duration", "1h", "--reason", "Fail over the database"}
	for i := range n {
		argv = append(argv, "--target", fmt.Sprintf("a%d:R", i))
	}
	return argv
}
