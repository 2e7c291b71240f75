package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/elevate-gitops/elevate/internal/accessrepo"
	"github.com/elevate-gitops/elevate/internal/awscreds"
	"github.com/elevate-gitops/elevate/internal/version"
)

// InitOptions are the inputs of `elevate init`.
type InitOptions struct {
	IO       IOStreams
	Dir      string
	Accounts []string // NAME=ID
	Repo     accessrepo.Options
	// Build is the running binary's build info: its commit is the default
	// --action-ref.
	Build version.Info
}

// NewCmdInit builds `elevate init`.
func NewCmdInit(f *Factory, runF func(context.Context, *InitOptions) error) *cobra.Command {
	opts := &InitOptions{IO: f.IO, Build: version.Read()}
	cmd := &cobra.Command{
		Use:   "init [DIR] [--action-ref SHA]",
		Short: "Write a new access repository: policy, CODEOWNERS, workflows pinned to the elevate Action",
		Long: "Writes eligibility.yaml, .github/CODEOWNERS, the two workflows running the elevate Action\n" +
			"pinned by commit, requests/<account>/ and a README for its users into DIR (default: the\n" +
			"current directory), then prints the remaining steps. It overwrites nothing. The Action's\n" +
			"commit defaults to the one this binary was built from.",
		Example: "  elevate init access --repo acme/access --account prod=123456789012 --account staging=210987654321 \\\n" +
			"    --admins @acme/security --approvers @acme/sre --requesters @acme/engineering",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return flagErrorf("init takes at most one directory, not %q", args[1:])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Dir = "."
			if len(args) == 1 {
				opts.Dir = args[0]
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return initRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Repo.ActionRef, "action-ref", "", "the full commit SHA of the elevate Action to pin (default: the commit this binary was built from)")
	fl.StringVar(&opts.Repo.ActionRepo, "action-repo", accessrepo.DefaultActionRepo, "OWNER/NAME of the elevate Action")
	fl.StringVar(&opts.Repo.Repo, "repo", "your-org/access", "OWNER/NAME the access repository will have on GitHub")
	fl.StringVar(&opts.Repo.Branch, "branch", "main", "its default branch: grants live there only")
	fl.StringArrayVar(&opts.Accounts, "account", []string{"prod=123456789012"}, "an AWS account as NAME=ID (repeat for each)")
	fl.StringVar(&opts.Repo.Admins, "admins", "", "who owns the policy, CODEOWNERS and workflows (default: @OWNER/elevate-admins)")
	fl.StringVar(&opts.Repo.Approvers, "approvers", "", "who approves requests (default: @OWNER/sre)")
	fl.StringVar(&opts.Repo.Requesters, "requesters", "", "who may request (default: @OWNER/sre)")
	return cmd
}

func initRun(_ context.Context, opts *InitOptions) error {
	o := opts.Repo
	owner, _, _ := strings.Cut(o.Repo, "/")
	if o.Admins == "" {
		o.Admins = "@" + owner + "/elevate-admins"
	}
	if o.Approvers == "" {
		o.Approvers = "@" + owner + "/sre"
	}
	if o.Requesters == "" {
		o.Requesters = "@" + owner + "/sre"
	}
	for _, a := range opts.Accounts {
		name, id, ok := strings.Cut(a, "=")
		if !ok {
			return flagErrorf("--account %q: want NAME=ID, e.g. prod=123456789012", a)
		}
		o.Accounts = append(o.Accounts, accessrepo.Account{Name: name, ID: id})
	}
	if o.ActionRef == "" {
		switch {
		case opts.Build.Revision == "":
			return flagErrorf("this elevate binary does not know the commit it was built from: pass --action-ref with the full commit SHA of %s to pin", o.ActionRepo)
		case opts.Build.Modified:
			return flagErrorf("this elevate binary was built from a modified checkout of %s: pass --action-ref with the full SHA of a commit of %s", opts.Build.Revision, o.ActionRepo)
		}
		o.ActionRef = opts.Build.Revision
	}
	if opts.Build.Module != "" && opts.Build.Module != "(devel)" && o.ActionRef == opts.Build.Revision {
		o.ActionVersion = opts.Build.Module
	}
	if err := o.Check(); err != nil {
		return flagErrorf("%v", err)
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return err
	}
	files, err := accessrepo.Write(opts.Dir, o)
	if err != nil {
		return err
	}
	out := opts.IO.Out
	fmt.Fprintf(out, "Wrote a new access repository in %s:\n", opts.Dir)
	for _, f := range files {
		fmt.Fprintf(out, "  %s\n", f.Path)
	}
	fmt.Fprintf(out, "\nThe judge runs %s@%s. GitHub resolves a fork's or a pull request's commit under that name\n"+
		"too: check that it is on %[1]s's main branch (or a release tag) before you push:\n"+
		"     gh api repos/%[1]s/compare/%[2]s...main --jq .status    # ahead or identical\n", o.ActionRepo, o.ActionRef)
	fmt.Fprint(out, nextSteps(opts.Dir, o))
	return nil
}

// nextSteps is what is left to do by hand, with the values to use.
func nextSteps(dir string, o accessrepo.Options) string {
	var b strings.Builder
	step := 0
	p := func(format string, args ...any) {
		step++
		fmt.Fprintf(&b, "\n%d. "+format+"\n", append([]any{step}, args...)...)
	}
	b.WriteString("\nWhat is left, in order (docs/production.md in the elevate repository has the details):\n")
	p("Check it offline, then make it a repository:\n     cd %s && elevate policy lint\n     git init -b %s && git add . && git commit -m \"elevate access repository\"\n     gh repo create %s --private --source . --push",
		awscreds.ShellQuote(filepath.Clean(dir)), o.Branch, o.Repo)
	p("Create the GitHub teams %s if they do not exist, and check the accounts and the rule in eligibility.yaml.", strings.Join(uniq(o.Admins, o.Approvers, o.Requesters), ", "))
	p("Create your elevate GitHub App (Contents: read, Pull requests: read & write, Commit statuses: read & write,\n   Organization members: read; no webhook) and install it on %s.", o.Repo)
	p("In %s: create the environment `elevate` limited to the branch %s, with the secrets\n   ELEVATE_APP_PRIVATE_KEY (the App's .pem) and ELEVATE_STATE_KEY (openssl rand -hex 32, kept for the broker too),\n   and the repository variable ELEVATE_APP_ID (the App's id).", o.Repo, o.Branch)
	p("Protect %s: require a pull request and the status check `elevate`, its source pinned to your App.", o.Branch)
	p("The trust anchor for the broker: the commit you just pushed,\n     git rev-parse HEAD")
	p("Deploy the AWS side and the broker from deploy/aws/ (target-account.yaml in each account, broker.yaml once),\n   then point the repository's push webhook at <broker URL>/v1/webhook.")
	p("Tell your users: elevate login, then elevate configure --write, then elevate request.")
	return b.String()
}

func uniq(s ...string) []string {
	var out []string
	for _, v := range s {
		if !strings.Contains(strings.Join(out, "\x00"), v) {
			out = append(out, v)
		}
	}
	return out
}
