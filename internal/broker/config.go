package broker

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"time"

	"github.com/elevate-gitops/elevate/internal/activity"
	"github.com/elevate-gitops/elevate/internal/checkpoint"
	"github.com/elevate-gitops/elevate/internal/identity"
	"github.com/elevate-gitops/elevate/internal/outbound"
)

var fullSHA = regexp.MustCompile(`^[0-9a-f]{40}$`)

// Config is the broker's configuration: flags, each also settable as
// ELEVATE_<FLAG> in upper snake case (a flag on the command line wins).
// Each field names its flag; a field that carries a secret says so, and
// LogValue, built from these tags, never writes it.
type Config struct {
	Listen       string `flag:"listen"`
	Ledger       string `flag:"ledger"`
	Branch       string `flag:"branch"`
	Repo         string `flag:"repo"`
	GitHubAPIURL string `flag:"github-api-url"`
	GitHubToken  string `flag:"github-token" secret:"true"`
	GitHubAppID  int64  `flag:"github-app-id"`
	GitHubAppKey string `flag:"github-app-key-file"` // a path
	// GitHubAppKeyPEM is the App's key itself, from ELEVATE_GITHUB_APP_KEY
	// only (never argv): where no file can hold it, as on Lambda.
	GitHubAppKeyPEM string        `env:"ELEVATE_GITHUB_APP_KEY" secret:"true"`
	OIDCIssuer      string        `flag:"oidc-issuer"`
	OIDCAudience    string        `flag:"oidc-audience"`
	OIDCOwners      string        `flag:"oidc-repository-owner"` // comma-separated organisations
	OIDCRepos       string        `flag:"oidc-repositories"`     // comma-separated OWNER/NAME, matched by id
	STSEndpoint     string        `flag:"sts-endpoint"`
	Region          string        `flag:"region"`
	SigninURL       string        `flag:"signin-url"`
	WebhookSecret   string        `flag:"webhook-secret" secret:"true"`
	SyncInterval    time.Duration `flag:"sync-interval"`
	TrustAnchor     string        `flag:"trust-anchor"`  // the commit whose policy is trusted as given
	MaxStaleness    time.Duration `flag:"max-staleness"` // refuse when no sync has succeeded for this long
	StateDir        string        `flag:"state-dir"`     // the clone of a URL ledger, and the saved index
	HeadCheck       time.Duration `flag:"head-check-interval"`
	EndSessions     bool          `flag:"end-sessions"`      // end live sessions of grants that end early
	EndRole         string        `flag:"end-sessions-role"` // the role assumed in each account for IAM
	IAMEndpoint     string        `flag:"iam-endpoint"`
	// IdentityCenter makes permission-set targets real: the broker
	// reconciles Identity Center's account assignments with the grants.
	IdentityCenter bool   `flag:"identity-center"`
	NotifyURL      string `flag:"notify-url" secret:"true"` // a Slack incoming webhook URL is a secret
	// NotifyTable is the DynamoDB table every replica claims notices and
	// once-per-grant comments in; "": this process's memory (one replica).
	NotifyTable string `flag:"notify-table"`
	// CheckpointURL (s3://BUCKET/KEY) is where every replica reads and
	// writes the ledger's verified checkpoint; "": the state directory.
	CheckpointURL string `flag:"checkpoint-url"`
	// StateKey authenticates the saved state (a MAC): what the state
	// directory holds is a cache, never evidence. Environment only in
	// production (ELEVATE_STATE_KEY): argv is visible to every user.
	StateKey string `flag:"state-key" secret:"true"`
	// ActivityBucket (BUCKET[/PREFIX]) is the organisation trail's bucket:
	// when a grant's window ends or it is revoked, the broker sums up what
	// its sessions did there on its PR.
	ActivityBucket string `flag:"activity-bucket"`

	// OIDCWorkflows are the workflows whose Actions tokens speak for their
	// actor (comma-separated exact refs); OIDCEvents the events whose runs
	// do (comma-separated; "": identity.DefaultEvents).
	OIDCWorkflows string `flag:"oidc-workflows"`
	OIDCEvents    string `flag:"oidc-events"`
	// GitHubClientID and GitHubClientSecret are elevate's own GitHub app
	// (the one `elevate login` uses): only user tokens GitHub says were
	// issued to it are accepted. The secret belongs in the environment
	// (ELEVATE_GITHUB_CLIENT_SECRET): argv is visible to every user.
	GitHubClientID     string `flag:"github-client-id"`
	GitHubClientSecret string `flag:"github-client-secret" secret:"true"`
}

// minStateKey is the shortest --state-key accepted, in bytes.
const minStateKey = 32

// ledgerIsURL reports whether --ledger names a remote repository to clone.
func (c Config) ledgerIsURL() bool {
	return strings.HasPrefix(c.Ledger, "https://") || strings.HasPrefix(c.Ledger, "http://")
}

// LogValue writes every field under its flag's name, secrets as REDACTED.
func (c Config) LogValue() slog.Value {
	v := reflect.ValueOf(c)
	var attrs []slog.Attr
	for i := range v.NumField() {
		f := v.Type().Field(i)
		key := strings.ReplaceAll(f.Tag.Get("flag"), "-", "_")
		if key == "" {
			key = strings.ToLower(strings.TrimPrefix(f.Tag.Get("env"), "ELEVATE_"))
		}
		val := v.Field(i).Interface()
		if f.Tag.Get("secret") == "true" {
			if !v.Field(i).IsZero() {
				val = "REDACTED"
			}
		}
		attrs = append(attrs, slog.Any(key, val))
	}
	return slog.GroupValue(attrs...)
}

// ParseConfig reads args (without the program name) over the environment.
func ParseConfig(args []string, getenv func(string) string) (Config, error) {
	var c Config
	fs := flagSet(&c)
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := "ELEVATE_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(name); v != "" {
			if err := f.Value.Set(v); err != nil && envErr == nil {
				envErr = fmt.Errorf("%s: %w", name, err)
			}
		}
	})
	if envErr != nil {
		return c, envErr
	}
	c.GitHubAppKeyPEM = getenv("ELEVATE_GITHUB_APP_KEY")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if c.SyncInterval < time.Second {
		return c, fmt.Errorf("--sync-interval %s is too short (minimum 1s)", c.SyncInterval)
	}

	if c.Repo != "" && c.TrustAnchor == "" {
		return c, fmt.Errorf("--trust-anchor is required with --repo: give the full SHA of a commit whose eligibility.yaml and CODEOWNERS you have reviewed (for a new repository, its first commit: git rev-list --max-parents=0 HEAD)")
	}
	if c.TrustAnchor != "" && !fullSHA.MatchString(c.TrustAnchor) {
		return c, fmt.Errorf("--trust-anchor %q: give a full 40-character commit SHA", c.TrustAnchor)
	}
	if c.StateDir == "" {
		c.StateDir = defaultStateDir(getenv)
	}
	if dir := getenv("CREDENTIALS_DIRECTORY"); dir != "" && c.GitHubAppID != 0 && c.GitHubAppKey == "" && c.GitHubAppKeyPEM == "" {
		// systemd's LoadCredential=app-key:… (deploy/systemd).
		c.GitHubAppKey = filepath.Join(dir, "app-key")
	}
	switch {
	case c.GitHubAppKey != "" && c.GitHubAppKeyPEM != "":
		return c, fmt.Errorf("give the GitHub App key once: --github-app-key-file or ELEVATE_GITHUB_APP_KEY, not both")
	case (c.GitHubAppID == 0) != (c.GitHubAppKey == "" && c.GitHubAppKeyPEM == ""):
		return c, fmt.Errorf("--github-app-id and --github-app-key-file (or ELEVATE_GITHUB_APP_KEY) go together")
	}
	if c.HeadCheck < time.Second {
		return c, fmt.Errorf("--head-check-interval %s is too short (minimum 1s)", c.HeadCheck)
	}
	if c.ledgerIsURL() && c.GitHubToken == "" && c.GitHubAppID == 0 {
		return c, fmt.Errorf("--ledger %s: the broker fetches it with the GitHub App's token or --github-token; give one", c.Ledger)
	}
	if c.NotifyURL != "" {
		if _, _, err := outbound.ParseURL("--notify-url", c.NotifyURL); err != nil {
			// The URL is the webhook's secret: it is not repeated.
			return c, errors.New("--notify-url must be an https URL without credentials, query or fragment (plain http only on loopback)")
		}
	}
	if (c.GitHubClientID == "") != (c.GitHubClientSecret == "") {
		return c, errors.New("--github-client-id and --github-client-secret (ELEVATE_GITHUB_CLIENT_SECRET) go together: the client id and a client secret of the app `elevate login` uses")
	}
	for _, w := range splitList(c.OIDCWorkflows) {
		if err := identity.CheckWorkflowRef(w); err != nil {
			return c, fmt.Errorf("--oidc-workflows: %w", err)
		}
	}
	if c.StateKey != "" && len(c.StateKey) < minStateKey {
		return c, fmt.Errorf("--state-key (ELEVATE_STATE_KEY) must be at least %d characters: use openssl rand -hex 32", minStateKey)
	}
	if c.CheckpointURL != "" {
		if _, _, err := checkpoint.ParseURL(c.CheckpointURL); err != nil {
			return c, err
		}
		if c.StateKey == "" {
			return c, errors.New("--checkpoint-url needs --state-key (ELEVATE_STATE_KEY): a checkpoint is read back only under its MAC")
		}
	}
	if c.ActivityBucket != "" {
		if _, err := activity.ParseLocation(c.ActivityBucket); err != nil {
			return c, fmt.Errorf("--activity-bucket: %w", err)
		}
	}
	if c.MaxStaleness < c.SyncInterval {
		return c, fmt.Errorf("--max-staleness %s is shorter than --sync-interval %s: every broker would be stale between syncs", c.MaxStaleness, c.SyncInterval)
	}
	return c, nil
}

// defaultStateDir is systemd's $STATE_DIRECTORY, /tmp/elevate on Lambda
// (its only writable place), else ~/.local/state/elevate.
func defaultStateDir(getenv func(string) string) string {
	if d := getenv("STATE_DIRECTORY"); d != "" {
		return strings.Split(d, ":")[0]
	}
	if getenv("AWS_LAMBDA_RUNTIME_API") != "" {
		return "/tmp/elevate"
	}
	if home := getenv("HOME"); home != "" {
		return filepath.Join(home, ".local", "state", "elevate")
	}
	return filepath.Join(os.TempDir(), "elevate")
}

// flagSet declares the broker's flags over c.
func flagSet(c *Config) *flag.FlagSet {
	fs := flag.NewFlagSet("elevate-broker", flag.ContinueOnError)
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:8080", "address to serve on")
	fs.StringVar(&c.Ledger, "ledger", ".", "local git clone holding requests/, or https://HOST/OWNER/NAME.git to clone and fetch")
	fs.StringVar(&c.Branch, "branch", "main", "the default branch that holds grants")
	fs.StringVar(&c.Repo, "repo", "", "the GitHub repository OWNER/NAME (PR re-verification)")
	fs.StringVar(&c.GitHubAPIURL, "github-api-url", "https://api.github.com/", "GitHub REST API (GitHub Enterprise: https://HOST/api/v3)")
	fs.StringVar(&c.GitHubToken, "github-token", "", "token to read PRs, reviews and team membership")
	fs.Int64Var(&c.GitHubAppID, "github-app-id", 0, "GitHub App id (instead of --github-token)")
	fs.StringVar(&c.GitHubAppKey, "github-app-key-file", "", "GitHub App private key (PEM)")
	fs.StringVar(&c.OIDCIssuer, "oidc-issuer", "https://token.actions.githubusercontent.com", "OIDC issuer of GitHub Actions tokens")
	fs.StringVar(&c.OIDCAudience, "oidc-audience", "elevate", "audience OIDC tokens must carry")
	fs.StringVar(&c.OIDCOwners, "oidc-repository-owner", "", "organisations (comma-separated) whose Actions OIDC tokens are accepted (a coarser list beside --oidc-repositories)")
	fs.StringVar(&c.OIDCRepos, "oidc-repositories", "", "repositories OWNER/NAME (comma-separated) whose workflows' Actions OIDC tokens are accepted, matched by id; none: Actions tokens are refused")
	fs.StringVar(&c.OIDCWorkflows, "oidc-workflows", "", "workflows (comma-separated, exact: OWNER/NAME/.github/workflows/FILE.yml@refs/heads/BRANCH) whose Actions OIDC tokens speak for their actor: the token's job_workflow_ref and workflow_ref must both be listed; none: Actions tokens are refused")
	fs.StringVar(&c.OIDCEvents, "oidc-events", "", "events (comma-separated) whose runs' Actions OIDC tokens speak for their actor (default workflow_dispatch: a run the person started)")
	fs.StringVar(&c.GitHubClientID, "github-client-id", "", "client id of elevate's own GitHub app (the one elevate login uses): only user tokens GitHub says were issued to it are accepted; none: user tokens are refused")
	fs.StringVar(&c.GitHubClientSecret, "github-client-secret", "", "client secret of that app, to ask GitHub about user tokens (set ELEVATE_GITHUB_CLIENT_SECRET, not the flag)")
	fs.StringVar(&c.STSEndpoint, "sts-endpoint", "", "STS endpoint (default: the SDK's for the region)")
	fs.StringVar(&c.Region, "region", "us-east-1", "AWS region of STS")
	fs.StringVar(&c.SigninURL, "signin-url", "https://signin.aws.amazon.com/federation", "AWS federation sign-in endpoint")
	fs.StringVar(&c.WebhookSecret, "webhook-secret", "", "secret of the GitHub push webhook (enables /v1/webhook)")
	fs.DurationVar(&c.SyncInterval, "sync-interval", time.Minute, "how often to fetch and re-read the ledger")
	fs.StringVar(&c.TrustAnchor, "trust-anchor", "", "required with --repo: the commit (full SHA) whose eligibility.yaml and CODEOWNERS are trusted as given")
	fs.DurationVar(&c.MaxStaleness, "max-staleness", 5*time.Minute, "refuse with 503 ledger_stale when no sync has succeeded for this long")
	fs.StringVar(&c.StateDir, "state-dir", "", "the clone of a URL ledger and the saved index (default $STATE_DIRECTORY, else ~/.local/state/elevate; /tmp on Lambda)")
	fs.DurationVar(&c.HeadCheck, "head-check-interval", 5*time.Second, "how often to ask the remote for the branch head (one round trip) and sync when it moved")
	fs.BoolVar(&c.EndSessions, "end-sessions", false, "when a grant ends early, deny its live sessions with an inline policy on the target role")
	fs.StringVar(&c.EndRole, "end-sessions-role", DefaultEndSessionsRole, "the role the broker assumes in each target account to write that policy")
	fs.BoolVar(&c.IdentityCenter, "identity-center", false, "create and delete the IAM Identity Center account assignments of permission-set grants (the permission sets eligibility.yaml lists are elevate's alone)")
	fs.StringVar(&c.IAMEndpoint, "iam-endpoint", "", "IAM endpoint (default: the SDK's)")
	fs.StringVar(&c.NotifyURL, "notify-url", "", "Slack-compatible incoming webhook URL for grant, first-use, revocation and ended-session notices")
	fs.StringVar(&c.NotifyTable, "notify-table", "", "DynamoDB table (partition key id, expiry attribute ttl) in which replicas claim each notice and once-per-grant comment, so it is sent once however many run; default: in memory, for one replica")
	fs.StringVar(&c.StateKey, "state-key", "", "key (at least 32 characters) of the MAC that authenticates the saved state and checkpoints, so a start begins from the newest verified checkpoint; without it every start reads GitHub's record from the anchor (set ELEVATE_STATE_KEY, not the flag)")
	fs.StringVar(&c.CheckpointURL, "checkpoint-url", "", "s3://BUCKET/KEY where every replica writes the ledger's verified checkpoint after each verified sync and a new instance starts from it (needs --state-key); default: the state directory")
	fs.StringVar(&c.ActivityBucket, "activity-bucket", "", "BUCKET[/PREFIX] of the organisation's CloudTrail trail: when a grant's window ends or it is revoked, its sessions' calls are summed up in one comment on its PR (read with the broker's role: s3:ListBucket and s3:GetObject)")
	return fs
}
