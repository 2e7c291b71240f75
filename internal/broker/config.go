package broker

import (
	"flag"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"
)

var fullSHA = regexp.MustCompile(`^[0-9a-f]{40}$`)

// Config is the broker's configuration: flags, each also settable as
// ELEVATE_<FLAG> in upper snake case (a flag on the command line wins).
type Config struct {
	Listen        string
	Ledger        string
	Branch        string
	Repo          string
	GitHubAPIURL  string
	GitHubToken   string
	GitHubAppID   int64
	GitHubAppKey  string // path of the App's private key
	OIDCIssuer    string
	OIDCAudience  string
	OIDCOwners    string // comma-separated organisations whose Actions tokens are accepted
	OIDCRepos     string // comma-separated OWNER/NAME whose workflows' Actions tokens are accepted
	STSEndpoint   string
	Region        string
	SigninURL     string
	WebhookSecret string
	SyncInterval  time.Duration
	TrustAnchor   string        // the commit whose policy is trusted as given
	MaxStaleness  time.Duration // refuse when no sync has succeeded for this long
}

// LogValue keeps secrets out of logs.
func (c Config) LogValue() slog.Value {
	redact := func(s string) string {
		if s == "" {
			return ""
		}
		return "REDACTED"
	}
	return slog.GroupValue(
		slog.String("listen", c.Listen), slog.String("ledger", c.Ledger), slog.String("branch", c.Branch),
		slog.String("repo", c.Repo), slog.String("github_api_url", c.GitHubAPIURL),
		slog.String("github_token", redact(c.GitHubToken)), slog.Int64("github_app_id", c.GitHubAppID),
		slog.String("oidc_issuer", c.OIDCIssuer), slog.String("oidc_audience", c.OIDCAudience), slog.String("oidc_repository_owner", c.OIDCOwners), slog.String("oidc_repositories", c.OIDCRepos),
		slog.String("sts_endpoint", c.STSEndpoint), slog.String("region", c.Region), slog.String("signin_url", c.SigninURL),
		slog.String("webhook_secret", redact(c.WebhookSecret)), slog.Duration("sync_interval", c.SyncInterval),
		slog.String("trust_anchor", c.TrustAnchor), slog.Duration("max_staleness", c.MaxStaleness),
	)
}

// ParseConfig reads args (without the program name) over the environment.
func ParseConfig(args []string, getenv func(string) string) (Config, error) {
	var c Config
	fs := flag.NewFlagSet("elevate-broker", flag.ContinueOnError)
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:8080", "address to serve on")
	fs.StringVar(&c.Ledger, "ledger", ".", "local git clone holding requests/")
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
	fs.StringVar(&c.STSEndpoint, "sts-endpoint", "", "STS endpoint (default: the SDK's for the region)")
	fs.StringVar(&c.Region, "region", "us-east-1", "AWS region of STS")
	fs.StringVar(&c.SigninURL, "signin-url", "https://signin.aws.amazon.com/federation", "AWS federation sign-in endpoint")
	fs.StringVar(&c.WebhookSecret, "webhook-secret", "", "secret of the GitHub push webhook (enables /v1/webhook)")
	fs.DurationVar(&c.SyncInterval, "sync-interval", time.Minute, "how often to fetch and re-read the ledger")
	fs.StringVar(&c.TrustAnchor, "trust-anchor", "", "required with --repo: the commit (full SHA) whose eligibility.yaml and CODEOWNERS are trusted as given")
	fs.DurationVar(&c.MaxStaleness, "max-staleness", 5*time.Minute, "refuse with 503 ledger_stale when no sync has succeeded for this long")
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
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if c.SyncInterval < time.Second {
		return c, fmt.Errorf("--sync-interval %s is too short (minimum 1s)", c.SyncInterval)
	}
	if (c.GitHubAppID == 0) != (c.GitHubAppKey == "") {
		return c, fmt.Errorf("--github-app-id and --github-app-key-file go together")
	}
	if c.Repo != "" && c.TrustAnchor == "" {
		return c, fmt.Errorf("--trust-anchor is required with --repo: give the full SHA of a commit whose eligibility.yaml and CODEOWNERS you have reviewed (for a new repository, its first commit: git rev-list --max-parents=0 HEAD)")
	}
	if c.TrustAnchor != "" && !fullSHA.MatchString(c.TrustAnchor) {
		return c, fmt.Errorf("--trust-anchor %q: give a full 40-character commit SHA", c.TrustAnchor)
	}
	if c.MaxStaleness < c.SyncInterval {
		return c, fmt.Errorf("--max-staleness %s is shorter than --sync-interval %s: every broker would be stale between syncs", c.MaxStaleness, c.SyncInterval)
	}
	return c, nil
}
