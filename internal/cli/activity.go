package cli

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/spf13/cobra"

	"github.com/elevate-gitops/elevate/internal/activity"
	"github.com/elevate-gitops/elevate/internal/audit"
	"github.com/elevate-gitops/elevate/internal/checkpoint"
	"github.com/elevate-gitops/elevate/internal/eligibility"
	"github.com/elevate-gitops/elevate/internal/githubapi"
	"github.com/elevate-gitops/elevate/internal/request"
)

// ActivityOptions are the inputs of `elevate activity`.
type ActivityOptions struct {
	IO       IOStreams
	Now      func() time.Time
	Repo     func(context.Context) (*githubapi.Repo, error)
	Checkout func(context.Context) (string, error)
	// Bucket opens the trail's bucket with the person's own AWS
	// credentials (the SDK's environment and profiles).
	Bucket  func(context.Context) (activity.Bucket, error)
	ID      string
	Format  string
	Trail   string // --activity-bucket, else ELEVATE_ACTIVITY_BUCKET
	Dir     string
	Branch  string
	Offline bool
	// Broker (--broker-principal ACCOUNT/UNIQUEID, or
	// ELEVATE_BROKER_PRINCIPAL) is the broker's AWS identity: only its
	// AssumeRole calls make a session the grant's, as the broker counts.
	Broker string
}

// activityLookBack is how far back the grant is looked for in the history.
const activityLookBack = 400 * 24 * time.Hour

// NewCmdActivity builds `elevate activity`.
func NewCmdActivity(f *Factory, runF func(context.Context, *ActivityOptions) error) *cobra.Command {
	opts := &ActivityOptions{IO: f.IO, Now: f.Now, Repo: f.Repo, Checkout: f.checkout, Bucket: openTrail, Trail: f.Getenv("ELEVATE_ACTIVITY_BUCKET"),
		Broker: f.Getenv("ELEVATE_BROKER_PRINCIPAL")}
	cmd := &cobra.Command{
		Use:   "activity ID [--format table|json]",
		Short: "What a grant's AWS sessions did, from the organisation's CloudTrail",
		Long: "Reads the CloudTrail log files of the grant's accounts for its window from the trail's S3\n" +
			"bucket (--activity-bucket BUCKET[/PREFIX], or ELEVATE_ACTIVITY_BUCKET) with your own AWS\n" +
			"credentials, finds its sessions through the AssumeRole events that name the grant, and prints\n" +
			"their calls by action, errors, resources written, console sign-ins and sensitive calls.\n" +
			"It posts nothing. The grant's window comes from the checkout's history (and GitHub's merge\n" +
			"time unless --offline); its accounts from eligibility.yaml.",
		Example: "  elevate activity prod/2026-11/alice-admin-inc4821\n" +
			"  ELEVATE_ACTIVITY_BUCKET=org-trail/logs elevate activity prod/2026-11/alice-admin-inc4821 --format json",
		Args: oneID("elevate activity ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ID = strings.TrimSuffix(strings.TrimPrefix(args[0], "requests/"), ".yaml")
			switch opts.Format {
			case "table", "json":
			default:
				return flagErrorf("--format must be table or json, not %q", opts.Format)
			}
			if opts.Trail == "" {
				return flagErrorf("--activity-bucket (or ELEVATE_ACTIVITY_BUCKET) is required: the organisation trail's BUCKET[/PREFIX]")
			}
			if _, err := activity.ParseLocation(opts.Trail); err != nil {
				return flagErrorf("--activity-bucket: %v", err)
			}
			if _, err := parseCaller(opts.Broker); err != nil {
				return flagErrorf("--broker-principal: %v", err)
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return activityRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Format, "format", "table", "table or json")
	fl.StringVar(&opts.Trail, "activity-bucket", opts.Trail, "the organisation trail's BUCKET[/PREFIX] (default $ELEVATE_ACTIVITY_BUCKET)")
	fl.StringVar(&opts.Dir, "dir", "", "the access repository checkout (default: the one you are in)")
	fl.StringVar(&opts.Branch, "branch", "main", "the branch that holds grants")
	fl.BoolVar(&opts.Offline, "offline", false, "take the window from the local history alone (commit times, not GitHub's merge times)")
	fl.StringVar(&opts.Broker, "broker-principal", opts.Broker, "the broker's AWS identity, ACCOUNT/UNIQUEID (its role's AROA… id, or user's AIDA… id): only its AssumeRole calls count, as the broker's own summary counts (default $ELEVATE_BROKER_PRINCIPAL; none: every caller counts, and the summary says so when there are several)")
	return cmd
}

// openTrail is an S3 client with the person's own AWS configuration.
func openTrail(ctx context.Context) (activity.Bucket, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load your AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, errors.New("no AWS region: set AWS_REGION (or a profile's region) to the trail bucket's region")
	}
	return checkpoint.S3Client(cfg), nil
}

func activityRun(ctx context.Context, opts *ActivityOptions) error {
	loc, err := activity.ParseLocation(opts.Trail)
	if err != nil {
		return err
	}
	dir, data, err := checkoutPolicy(ctx, opts.Dir, opts.Checkout)
	if err != nil {
		return err
	}
	policy, err := eligibility.Parse(eligibility.File, data)
	if err != nil {
		return err
	}
	g, err := findGrant(ctx, opts, dir, policy)
	if err != nil {
		return err
	}
	bucket, err := opts.Bucket(ctx)
	if err != nil {
		return err
	}
	caller, _ := parseCaller(opts.Broker) // checked with the flags
	sum, err := activity.Scan(ctx, bucket, loc, g, activity.Options{Sensitive: policy.Sensitive, Now: opts.Now(), Broker: caller})
	if err != nil {
		return err
	}
	if opts.Format == "json" {
		err = sum.JSON(opts.IO.Out)
	} else {
		err = sum.Table(opts.IO.Out)
	}
	if err != nil {
		return err
	}
	if sum.Files == 0 && len(sum.Problems) > 0 {
		return fmt.Errorf("the trail could not be read: %s", sum.Problems[0])
	}
	return nil
}

var callerRE = regexp.MustCompile(`^([0-9]{12})/(A[A-Z0-9]{8,127})$`)

// parseCaller reads ACCOUNT/UNIQUEID; "" is no caller.
func parseCaller(s string) (*activity.Caller, error) {
	if s == "" {
		return nil, nil
	}
	m := callerRE.FindStringSubmatch(s)
	if m == nil {
		return nil, fmt.Errorf("%q: want ACCOUNT/UNIQUEID, e.g. 999999999999/AROAEXAMPLEBROKER (aws iam get-role --query Role.RoleId)", s)
	}
	return &activity.Caller{Account: m[1], UniqueID: m[2]}, nil
}

// findGrant is the grant id in the checkout's history: its window (cut by
// no revocation: its sessions may be refused after one, which is worth
// seeing), its role targets and their accounts' ids.
func findGrant(ctx context.Context, opts *ActivityOptions, dir string, policy *eligibility.Policy) (activity.Grant, error) {
	o := audit.Options{Dir: dir, Branch: opts.Branch, Since: activityLookBack, Now: opts.Now()}
	if !opts.Offline {
		repo, err := opts.Repo(ctx)
		if err != nil {
			return activity.Grant{}, &HintError{After: "or add --offline to take the window from the local history alone", Err: err}
		}
		o.GitHub = repo
	}
	report, err := audit.Build(ctx, o)
	if err != nil {
		return activity.Grant{}, err
	}
	var matches []audit.Entry
	for _, e := range report.Entries {
		if e.ID == opts.ID || strings.HasSuffix(e.ID, "/"+opts.ID) {
			matches = append(matches, e)
		}
	}
	if len(matches) == 0 {
		return activity.Grant{}, fmt.Errorf("no grant %q was merged on %s in the last %d days: give its full id (account/yyyy-mm/name); elevate audit lists them", opts.ID, opts.Branch, int(activityLookBack.Hours()/24))
	}
	g := activity.Grant{ID: matches[0].ID, Login: matches[0].Requester}
	for _, e := range matches {
		if e.ID != g.ID {
			return activity.Grant{}, fmt.Errorf("%q could be %s or %s: give the full id", opts.ID, g.ID, e.ID)
		}
		if e.State == audit.StateInvalid {
			return activity.Grant{}, fmt.Errorf("%s never granted anything: %s", e.ID, e.Invalid)
		}
		g.Start, g.End = e.Start, e.End
		if !e.RevokedAt.IsZero() && e.RevokedAt.Before(e.End) {
			g.Revoked = e.RevokedAt
		}
		if strings.HasPrefix(e.Role, request.PermissionSetPrefix) {
			continue // Identity Center sessions carry no elevate tag
		}
		id, ok := policy.AccountID(e.Account)
		if !ok {
			return activity.Grant{}, fmt.Errorf("%s: account %q is not in %s", e.ID, e.Account, eligibility.File)
		}
		g.Targets = append(g.Targets, activity.Target{AccountID: id, Role: e.Role})
	}
	if len(g.Targets) == 0 {
		return activity.Grant{}, fmt.Errorf("%s has only permission-set targets: their sessions are Identity Center's, and carry no elevate tag to find them by", g.ID)
	}
	return g, nil
}
