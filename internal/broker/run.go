package broker

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/google/go-github/v60/github"

	"github.com/elevate-gitops/elevate/internal/activity"
	"github.com/elevate-gitops/elevate/internal/awscreds"
	"github.com/elevate-gitops/elevate/internal/checkpoint"
	"github.com/elevate-gitops/elevate/internal/claim"
	"github.com/elevate-gitops/elevate/internal/custody"
	"github.com/elevate-gitops/elevate/internal/endsession"
	"github.com/elevate-gitops/elevate/internal/githubapi"
	"github.com/elevate-gitops/elevate/internal/gitlog"
	"github.com/elevate-gitops/elevate/internal/identity"
	"github.com/elevate-gitops/elevate/internal/ledger"
	"github.com/elevate-gitops/elevate/internal/notify"
	"github.com/elevate-gitops/elevate/internal/prcomment"
	"github.com/elevate-gitops/elevate/internal/privfile"
)

// DrainTimeout is how long in-flight requests may run after SIGTERM: under
// the 30 s systemd and Kubernetes give a process before they kill it.
const DrainTimeout = 25 * time.Second

// Run wires the broker from cfg and serves until ctx ends. Inside AWS Lambda
// (AWS_LAMBDA_RUNTIME_API set) it serves function URL / HTTP API events.
func Run(ctx context.Context, cfg Config, logger *slog.Logger, getenv func(string) string) error {
	logger.Info("starting elevate-broker", "config", cfg)
	b, err := Build(ctx, cfg, Deps{Logger: logger, HTTP: &http.Client{Timeout: 15 * time.Second}})
	if err != nil {
		return err
	}
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	fatal := b.Start(ctx)
	go func() {
		select {
		case err := <-fatal:
			logger.Error("stopping", "error", err)
			stop(err)
		case <-ctx.Done():
		}
	}()
	if getenv("AWS_LAMBDA_RUNTIME_API") != "" {
		lambda.StartWithOptions(LambdaHandler(b.Server.Handler(), b.Syncer.Fresh, b.Syncer.Tick), lambda.WithContext(ctx))
		return nil
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	logger.Info("serving", "address", ln.Addr().String())
	err = b.Serve(ctx, ln, DrainTimeout)
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return err
}

// Start starts, behind the caller, what keeps the broker current until ctx
// ends: the first sync, then the sync loop and the head check, and the
// resolution of --oidc-repositories. GitHub failing, slow or rate-limiting
// stops none of it: the broker answers 503 with the reason and tries again
// by itself. Only the remote refusing the broker's own clone outright (a
// wrong token or URL) is sent on the channel: a mistake to fix.
func (b *Broker) Start(ctx context.Context) <-chan error {
	fatal := make(chan error, 1)
	go func() {
		if err := b.Syncer.Sync(ctx); err != nil && b.cfg.ledgerIsURL() && gitlog.Refused(err) {
			fatal <- fmt.Errorf("first sync of %s: %w", b.cfg.Ledger, err)
			return
		}
		go b.Syncer.loop(ctx, b.cfg.SyncInterval)
		b.Syncer.Watch(ctx, b.cfg.HeadCheck)
	}()
	if b.repos != nil {
		go b.repos.run(ctx)
	}
	return fatal
}

// Serve answers on ln until ctx ends, then drains: it stops accepting
// connections, /healthz answers 503 "draining" on those still open, and
// requests in flight (their STS calls included) get up to drain to finish.
// Request contexts do not end with ctx: a SIGTERM must not turn an issuance
// into a 502.
func (b *Broker) Serve(ctx context.Context, ln net.Listener, drain time.Duration) error {
	base, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	hs := &http.Server{
		Handler:           b.Server.Handler(),
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10,
		BaseContext: func(net.Listener) context.Context { return base },
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	b.Server.draining.Store(true)
	shutdown, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	err := hs.Shutdown(shutdown)
	if errors.Is(err, context.DeadlineExceeded) {
		cancelBase() // past the drain: end what is still running
		err = fmt.Errorf("stopped with requests still in flight after %s", drain)
	}
	if b.Server.Logger != nil {
		b.Server.Logger.Info("stopped", "error", errString(err))
	}
	return err
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// Deps are what Build takes from its caller rather than from cfg.
type Deps struct {
	Logger *slog.Logger
	HTTP   *http.Client     // outbound calls to GitHub, the OIDC issuer and AWS sign-in
	Now    func() time.Time // default time.Now
	// AWS overrides the SDK's default credential chain for STS (tests).
	AWS aws.CredentialsProvider
	// EndAttempts and EndBackoff, when set, replace how often and how
	// fast one batch of ended sessions is retried before it waits for the
	// next check (tests).
	EndAttempts int
	EndBackoff  time.Duration
	// Backoff, when set, replaces the first wait before GitHub is asked
	// again after a failure (default 5 s; tests).
	Backoff time.Duration
}

// Broker is the wired broker: its HTTP server and what keeps it current.
type Broker struct {
	Server  *Server
	Syncer  *Syncer
	Ledger  *ledger.Ledger
	Checker *custody.Checker // nil without --repo
	// Notifier posts the notices (nil without --notify-url).
	Notifier *notify.Notifier
	repos    *oidcRepos // nil without --oidc-repositories
	cfg      Config
}

// Build assembles the broker from cfg. It reaches nothing: GitHub's
// answers (the App's installation, --oidc-repositories) are asked for
// when first needed, so GitHub trouble never stops a broker.
func Build(ctx context.Context, cfg Config, deps Deps) (*Broker, error) {
	logger, outbound := deps.Logger, deps.HTTP
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if outbound == nil {
		outbound = &http.Client{Timeout: 15 * time.Second}
	}
	// GitHub's calls run behind the requests (syncs, verification,
	// comments): a slow GitHub gets 30 s a call before the broker gives up.
	ghHTTP := *outbound
	if ghHTTP.Timeout != 0 {
		ghHTTP.Timeout = max(ghHTTP.Timeout, githubCallTimeout)
	}
	backoff := retryBackoff{first: cmp.Or(deps.Backoff, 5*time.Second), most: max(cmp.Or(deps.Backoff, 5*time.Second), cmp.Or(cfg.SyncInterval, time.Minute))}
	now := deps.Now
	if now == nil {
		now = time.Now
	}
	var gh *github.Client
	var gitToken gitlog.Token
	var bot func() string // the App's bot: the only author of comments read back
	if cfg.GitHubAppID != 0 {
		key := []byte(cfg.GitHubAppKeyPEM)
		if cfg.GitHubAppKey != "" {
			var err error
			if key, err = os.ReadFile(cfg.GitHubAppKey); err != nil {
				return nil, fmt.Errorf("GitHub App key: %w", err)
			}
		}
		app, err := githubapi.NewAppClient(cfg.GitHubAPIURL, cfg.GitHubAppID, key, cfg.Repo, &ghHTTP)
		if err != nil {
			return nil, fmt.Errorf("GitHub client: %w", err)
		}
		gh, gitToken, bot = app.Client, app.Token, app.Bot
	} else {
		var err error
		if gh, err = githubapi.NewClient(cfg.GitHubAPIURL, cfg.GitHubToken, &ghHTTP); err != nil {
			return nil, fmt.Errorf("GitHub client: %w", err)
		}
		if tok := cfg.GitHubToken; tok != "" {
			gitToken = func(context.Context) (string, error) { return tok, nil }
		}
	}
	git, err := openHistory(ctx, cfg, gitToken)
	if err != nil {
		return nil, err
	}
	anchor := cfg.TrustAnchor
	var verifier ledger.Verifier = unverifiable{}
	// Team answers are kept a minute: issuing needs no GitHub call, and a
	// removal from a team takes effect within that minute.
	members := &githubapi.MembershipCache{Inner: unverifiable{}, TTL: membershipTTL, Now: now}
	var checker *custody.Checker
	if cfg.Repo != "" {
		repo, err := githubapi.NewRepo(gh, cfg.Repo)
		if err != nil {
			return nil, err
		}
		members.Inner = repo
		checker = &custody.Checker{GitHub: repo, Git: git, Members: members, Branch: cfg.Branch, Anchor: anchor, Now: now,
			Comments: repo, CommentKey: byApp(prcomment.NewKey([]byte(cfg.StateKey)), bot)}
		verifier = checker
		if cfg.StateKey == "" {
			logger.Warn("no --state-key (ELEVATE_STATE_KEY): nothing is saved, so every start reads GitHub's record of the branch from the trust anchor")
		}
	} else {
		logger.Warn("no --repo: grants cannot be re-verified with GitHub, so none will issue credentials")
		if anchor == "" {
			// Nothing issues without --repo; the root commit only bounds the walk.
			if anchor, err = rootOf(ctx, git, cfg.Branch); err != nil {
				return nil, fmt.Errorf("find the first commit of %s in %s: %w", cfg.Branch, cfg.Ledger, err)
			}
		}
	}
	var awsOpts []func(*config.LoadOptions) error
	if deps.AWS != nil {
		awsOpts = append(awsOpts, config.WithCredentialsProvider(deps.AWS))
	}
	var checkpoints []ledger.Checkpoints
	if checker != nil {
		// Only a broker that verifies writes (and starts from) what it verified.
		if checkpoints, err = openCheckpoints(ctx, cfg, awsOpts); err != nil {
			return nil, err
		}
	}
	led, err := ledger.New(ledger.Config{History: git, Branch: cfg.Branch, Repository: cfg.Repo, Anchor: anchor, Verifier: verifier, Logger: logger, Now: now, MaxStaleness: cfg.MaxStaleness,
		Checkpoints: checkpoints, StateKey: []byte(cfg.StateKey)})
	if err != nil {
		return nil, err
	}
	var repos *oidcRepos
	var source identity.RepositorySource
	if names := splitList(cfg.OIDCRepos); len(names) > 0 {
		repos = newOIDCRepos(gh, names, backoff, logger)
		source = repos
	}
	ids, err := identity.New(identity.Config{Issuer: cfg.OIDCIssuer, Audience: cfg.OIDCAudience, GitHubAPIURL: cfg.GitHubAPIURL, HTTPClient: outbound,
		RepositorySource: source, RepositoryOwners: splitList(cfg.OIDCOwners),
		Workflows: splitList(cfg.OIDCWorkflows), Events: splitList(cfg.OIDCEvents),
		ClientID: cfg.GitHubClientID, ClientSecret: cfg.GitHubClientSecret})
	if err != nil {
		return nil, err
	}
	if repos != nil && cfg.OIDCWorkflows == "" {
		logger.Warn("--oidc-repositories is set but --oidc-workflows is not: every Actions token is refused; list the workflows that may speak for their actor")
	}
	if cfg.GitHubClientID == "" {
		logger.Warn("no --github-client-id: every GitHub user token is refused (the broker cannot tell which app a token was given to); set it and ELEVATE_GITHUB_CLIENT_SECRET to the app elevate login uses")
	}
	// nil: the SDK's own client, which honours AWS_CA_BUNDLE.
	stsClient, err := awscreds.NewSTSClient(ctx, cfg.Region, cfg.STSEndpoint, nil, awsOpts...)
	if err != nil {
		return nil, err
	}
	chained := roleChained(ctx, stsClient, logger)
	syncer := &Syncer{Ledger: led, Logger: logger, RemoteHead: func(ctx context.Context) (string, error) { return git.RemoteHead(ctx, cfg.Branch) }, Backoff: backoff}
	srv := &Server{
		Identity: ids, Ledger: led, STS: stsClient,
		Console: awscreds.Console{SigninURL: cfg.SigninURL, HTTP: outbound},
		Members: members, Metrics: NewMetrics(led), Logger: logger, Now: now, Chained: chained, Warnings: func() []string { return append(repos.warnings(), checkpointWarnings(led)...) },
	}
	if cfg.Repo == "" {
		srv.Degraded = "no --repo: the broker cannot verify grants with GitHub, so it issues nothing"
	}
	if cfg.WebhookSecret != "" {
		srv.Webhook = &Webhook{Secret: []byte(cfg.WebhookSecret), Branch: cfg.Branch, Repo: cfg.Repo, Kick: syncer.Kick, Expect: led.Expect}
	}
	syncer.Now, syncer.SyncEvery, syncer.HeadEvery = now, cfg.SyncInterval, cfg.HeadCheck
	bg := context.WithoutCancel(ctx)
	claims, err := openClaims(ctx, cfg, awsOpts)
	if err != nil {
		return nil, err
	}
	once := &onceAcross{claims: claims}
	var notifier *notify.Notifier
	if cfg.NotifyURL != "" {
		notifier = notify.New(bg, cfg.NotifyURL, outbound, logger, claims)
	}
	prLink := pullLinker(cfg)
	repo := repoOf(gh, cfg.Repo)
	key := byApp(commentKey(cfg.StateKey), bot)
	if repo != nil {
		srv.Usage = newUsage(bg, repo, once, key, notifier, prLink, logger)
		if notifier != nil {
			syncer.Notices = &notices{notifier: notifier, reviews: repo, git: checker, members: members, prLink: prLink, logger: logger}
			if cfg.NotifyTable != "" {
				// Claims outlive every process: a replica that starts
				// after an event (a Lambda cold start) announces it if no
				// other did.
				syncer.Notices.lookBack = noticeLookBack
			}
		}
	}
	if cfg.EndSessions {
		var logins loginLookup
		if repo != nil {
			logins = repo
		}
		syncer.Ended = &sessionEnder{ctx: bg, members: members, logger: logger, lag: endLag(cfg), metrics: srv.Metrics, notifier: notifier, prLink: prLink, logins: logins,
			ender: &endsession.Ender{IAMFor: IAMFor(stsClient, cfg.Region, cfg.IAMEndpoint, cmp.Or(cfg.EndRole, DefaultEndSessionsRole), now), Now: now, Logger: logger,
				Attempts: deps.EndAttempts, Backoff: deps.EndBackoff,
				Done: func(ctx context.Context, ended []endsession.Ended) {
					srv.Metrics.sessionsEnded.Add(float64(len(ended)))
					if repo != nil {
						go comment(ctx, repo, once, key, ended, logger)
					}
					for _, x := range ended {
						one := []endsession.Ended{x}
						notifier.Send(notify.Event{Kind: notify.SessionsEnded, ID: endedID(x), Text: endedText(one)})
					}
				},
				Failed: func([]endsession.Ended, error) { srv.Metrics.endErrors.Inc() }}}
	}
	if cfg.ActivityBucket != "" {
		if repo == nil {
			logger.Warn("--activity-bucket is set without --repo: no PR to tell of a grant's activity, so the trail is not read")
		} else {
			loc, err := activity.ParseLocation(cfg.ActivityBucket)
			if err != nil {
				return nil, fmt.Errorf("--activity-bucket: %w", err)
			}
			bucket, err := openTrail(ctx, cfg.Region, awsOpts)
			if err != nil {
				return nil, err
			}
			syncer.Activity = newActivityReporter(bg, bucket, loc, repo, once, claims, key, logger, brokerCaller(stsClient),
				func(reason string) { srv.Metrics.activityIncomplete.WithLabelValues(reason).Inc() })
			srv.Activity = syncer.Activity
		}
	}
	if cfg.IdentityCenter {
		a := &assigner{logger: logger, prLink: prLink, ctx: bg, members: members}
		if repo != nil {
			a.logins = repo
		}
		if notifier != nil {
			a.notifier = notifier
		}
		a.reconcilerFor = newReconcilerFor(awsOpts, logger, a.notice, a.current)
		a.check = func() { syncer.assignRound(bg) }
		syncer.Assign, srv.Assignments = a, a
	}
	return &Broker{Server: srv, Syncer: syncer, Ledger: led, Checker: checker, Notifier: notifier, repos: repos, cfg: cfg}, nil
}

// brokerCaller asks STS who the broker is: its account and the unique id
// of its role or user, as the target accounts' AssumeRole events name it.
func brokerCaller(client *sts.Client) func(context.Context) (*activity.Caller, error) {
	return func(ctx context.Context) (*activity.Caller, error) {
		out, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			return nil, fmt.Errorf("sts:GetCallerIdentity: %w", err)
		}
		id, _, _ := strings.Cut(aws.ToString(out.UserId), ":")
		if id == "" || aws.ToString(out.Account) == "" {
			return nil, errors.New("sts:GetCallerIdentity named no account or user id")
		}
		return &activity.Caller{Account: aws.ToString(out.Account), UniqueID: id}, nil
	}
}

// openTrail is the S3 client the trail's log files are read with: the
// broker's own AWS credentials; AWS_ENDPOINT_URL_S3 is honoured.
// The bucket's region is the environment's (AWS_REGION), else --region.
func openTrail(ctx context.Context, region string, awsOpts []func(*config.LoadOptions) error) (*s3.Client, error) {
	cfg, err := config.LoadDefaultConfig(ctx, awsOpts...)
	if err != nil {
		return nil, fmt.Errorf("load the AWS configuration for --activity-bucket: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = region
	}
	return checkpoint.S3Client(cfg), nil
}

// checkpointWarnings says, for /healthz, that checkpoints were ignored,
// without saying where they are kept; the log does, and why.
func checkpointWarnings(led *ledger.Ledger) []string {
	if n := len(led.CheckpointProblems()); n > 0 {
		return []string{fmt.Sprintf("%d checkpoint(s) of the ledger did not verify and were ignored, so this start read more of GitHub's record: the broker's log says where and why", n)}
	}
	return nil
}

// openCheckpoints is where the ledger's verified checkpoints are kept: the
// state directory (a restart), and --checkpoint-url (every new instance).
func openCheckpoints(ctx context.Context, cfg Config, awsOpts []func(*config.LoadOptions) error) ([]ledger.Checkpoints, error) {
	var out []ledger.Checkpoints
	if cfg.StateDir != "" {
		out = append(out, checkpoint.File{Path: filepath.Join(cfg.StateDir, "ledger-checkpoint")})
	}
	if cfg.CheckpointURL != "" {
		c, err := checkpoint.OpenS3(ctx, cfg.CheckpointURL, append(slices.Clone(awsOpts), config.WithDefaultRegion(cfg.Region))...)
		if err != nil {
			return nil, fmt.Errorf("--checkpoint-url: %w", err)
		}
		out = append(out, c)
	}
	return out, nil
}

// openClaims is where replicas claim notices and once-per-grant comments:
// the DynamoDB table of --notify-table (in the SDK's region, else
// --region), else this process's memory.
func openClaims(ctx context.Context, cfg Config, awsOpts []func(*config.LoadOptions) error) (claim.Claimer, error) {
	if cfg.NotifyTable == "" {
		return claim.NewMemory(nil), nil
	}
	t, err := claim.OpenTable(ctx, cfg.NotifyTable, append(slices.Clone(awsOpts), config.WithDefaultRegion(cfg.Region))...)
	if err != nil {
		return nil, fmt.Errorf("--notify-table %s: %w", cfg.NotifyTable, err)
	}
	if cfg.StateKey == "" {
		return t, nil
	}
	// Items are sealed with a key of their own, derived from the state
	// key: whoever can write the table cannot claim a notice away.
	m := hmac.New(sha256.New, []byte(cfg.StateKey))
	m.Write([]byte("elevate/notice-claims"))
	return t.WithMAC(m.Sum(nil)), nil
}

// githubCallTimeout bounds one call to GitHub behind the requests.
const githubCallTimeout = 30 * time.Second

// byApp counts only the comments of the broker's App once it is found (none
// before); with a token instead of an App, those of any App.
func byApp(k *prcomment.Key, bot func() string) *prcomment.Key {
	if bot == nil {
		return k
	}
	return k.ByApp(bot)
}

// pullLinker links a PR number to its page on GitHub.
func pullLinker(cfg Config) func(int) string {
	web, err := githubapi.WebHost(cfg.GitHubAPIURL)
	if err != nil || cfg.Repo == "" {
		return func(pr int) string { return fmt.Sprintf("PR #%d", pr) }
	}
	return func(pr int) string { return fmt.Sprintf("<%s/%s/pull/%d|PR #%d>", web, cfg.Repo, pr, pr) }
}

// roleChained reports whether the broker's own AWS credentials are
// temporary (a role's, as on Lambda or ECS), and says what that means: AWS
// caps every session the broker then assumes at 1 h, and refuses a console
// SessionDuration, so the broker clamps instead of failing at issuance.
func roleChained(ctx context.Context, client *sts.Client, logger *slog.Logger) bool {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	creds, err := client.Options().Credentials.Retrieve(ctx)
	if err != nil {
		logger.Warn("could not read the broker's own AWS credentials at start; they are asked again at the first issuance", "error", err)
		return false
	}
	if creds.SessionToken == "" {
		return false
	}
	logger.Warn("the broker runs on temporary AWS credentials (a role): AWS caps the sessions it assumes (role chaining) at 1 h, so session_duration is clamped to 1h, and console sign-ins last as long as the session",
		"max_session", awscreds.MaxChainedDuration.String())
	return true
}

// openHistory opens the ledger's repository with gitlog, the one reader
// of git: a URL is cloned into the state directory and fetched with the
// token; a path is a clone kept by someone else.
func openHistory(ctx context.Context, cfg Config, token gitlog.Token) (*gitlog.Repo, error) {
	if cfg.ledgerIsURL() {
		if err := privfile.EnsureDir(cfg.StateDir); err != nil {
			return nil, fmt.Errorf("--state-dir: %w", err)
		}
		return gitlog.Clone(ctx, cfg.Ledger, filepath.Join(cfg.StateDir, "ledger.git"), token)
	}
	return gitlog.Open(cfg.Ledger)
}

// rootOf is the first commit of branch's first-parent chain.
func rootOf(ctx context.Context, git *gitlog.Repo, branch string) (string, error) {
	head, err := git.Head(ctx, branch)
	if err != nil || head == "" {
		return "", fmt.Errorf("branch %s: %w", branch, cmp.Or(err, errors.New("not found")))
	}
	return git.Root(ctx, head)
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// unverifiable stands in for GitHub when no repository is configured: every
// verification fails, so nothing issues (fail closed).
type unverifiable struct{}

var errNoRepo = errors.New("the broker has no --repo: it cannot verify grants with GitHub")

func (unverifiable) Moves(context.Context, custody.Mark, func(custody.Move)) ([]custody.Move, error) {
	return nil, errNoRepo
}

func (unverifiable) MergedAs(context.Context, string) (bool, error) { return false, errNoRepo }

func (unverifiable) Chain(_ context.Context, steps []custody.Step) *custody.Chain {
	verdicts := make([]custody.Verdict, len(steps))
	for i, st := range steps {
		verdicts[i] = custody.Verdict{Step: st, Err: errNoRepo}
	}
	return custody.Build("", verdicts)
}

func (unverifiable) Grant(context.Context, custody.State, custody.Grant) (*custody.Verification, error) {
	return nil, errNoRepo
}

func (unverifiable) ActiveTeamMember(context.Context, string, string, string) (bool, error) {
	return false, errNoRepo
}

// Syncer keeps the ledger current: on start, on every interval and on each
// verified webhook; after each sync it verifies new grants in the background
// so that issuing makes no GitHub call.
type Syncer struct {
	Ledger *ledger.Ledger
	Logger *slog.Logger
	// RemoteHead asks the remote where the branch is ("" without a remote).
	RemoteHead func(ctx context.Context) (string, error)
	// Ended, when set, ends the live sessions of grants that end early;
	// Notices announces merges, revocations and unreviewed emergencies.
	Ended   *sessionEnder
	Notices *notices
	// Assign, when set, reconciles Identity Center's assignments.
	Assign *assigner
	// Activity, when set, sums up ended grants' sessions on their PRs.
	Activity *activityReporter
	Now      func() time.Time
	// SyncEvery and HeadEvery are the loops' intervals, for Fresh.
	SyncEvery, HeadEvery time.Duration
	// Backoff paces the syncs after a failed one.
	Backoff retryBackoff
	// FreshWait bounds how long Fresh holds a request (default freshWait).
	FreshWait time.Duration

	gateMu   sync.Mutex
	failures int       // syncs failed in a row
	retryAt  time.Time // no sync before then (backoff), unless kicked
	limitTo  time.Time // no sync before then: GitHub said so
	kickMu   sync.Mutex
	kicking  bool
	kicked   []chan error // waiting for the next sync behind a kick

	verifying     atomic.Bool
	pending       sync.WaitGroup
	freshMu       sync.Mutex
	lastHeadCheck atomic.Int64 // unix nanoseconds
	checkMu       sync.Mutex
}

// BackingOffError says a sync was not tried: an earlier one failed and
// the broker waits before asking GitHub again.
type BackingOffError struct{ Until time.Time }

func (e *BackingOffError) Error() string {
	return "the last sync failed; the next is tried at " + e.Until.UTC().Format(time.RFC3339)
}

// Sync brings the ledger to the branch head and starts verifying new
// grants. After a failure it waits (doubling, and as long as GitHub asked)
// before it tries again.
func (s *Syncer) Sync(ctx context.Context) error { return s.sync(ctx, false) }

// sync is Sync; kicked (a push webhook: news, not a retry) skips the
// doubling wait but never GitHub's own.
func (s *Syncer) sync(ctx context.Context, kicked bool) error {
	if until, ok := s.gate(kicked); !ok {
		return &BackingOffError{Until: until}
	}
	if err := s.Ledger.Sync(ctx); err != nil {
		s.failed(err)
		return err
	}
	s.gateMu.Lock()
	s.failures, s.retryAt, s.limitTo = 0, time.Time{}, time.Time{}
	s.gateMu.Unlock()
	s.pending.Add(1)
	if s.verifying.CompareAndSwap(false, true) {
		go func() {
			defer s.pending.Done()
			defer s.verifying.Store(false)
			vctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
			defer cancel()
			if err := s.Ledger.VerifyAll(vctx); err != nil {
				s.Logger.Warn("some grants could not be verified yet; they will be asked again on use", "error", err)
			}
			s.afterSync(vctx)
		}()
	} else {
		go func() {
			defer s.pending.Done()
			s.afterSync(context.WithoutCancel(ctx))
		}()
	}
	return nil
}

// gate reports whether a sync may run now, and if not, until when not.
func (s *Syncer) gate(kicked bool) (time.Time, bool) {
	s.gateMu.Lock()
	defer s.gateMu.Unlock()
	now := time.Now()
	if now.Before(s.limitTo) {
		return s.limitTo, false
	}
	if !kicked && now.Before(s.retryAt) {
		return s.retryAt, false
	}
	return time.Time{}, true
}

// failed paces the next sync after err.
func (s *Syncer) failed(err error) {
	s.gateMu.Lock()
	s.failures++
	now := time.Now()
	s.retryAt = now.Add(s.Backoff.wait(s.failures, err, now))
	if asked, limited := githubapi.RateLimited(err, now); limited {
		s.limitTo = now.Add(asked)
	}
	retry := s.retryAt
	s.gateMu.Unlock()
	s.Logger.Error("ledger sync failed; serving the last good index", "error", err, "retry_at", retry.UTC().Format(time.RFC3339Nano))
}

// Kick asks for a sync behind the caller (a push webhook) and returns at
// once; the channel gets the result of the first sync that starts after
// the call. Kicks that come while a sync runs share the next one.
func (s *Syncer) Kick(ctx context.Context) <-chan error {
	done := make(chan error, 1)
	s.kickMu.Lock()
	defer s.kickMu.Unlock()
	s.kicked = append(s.kicked, done)
	if !s.kicking {
		s.kicking = true
		go s.kicks(context.WithoutCancel(ctx))
	}
	return done
}

func (s *Syncer) kicks(ctx context.Context) {
	for {
		s.kickMu.Lock()
		batch := s.kicked
		s.kicked = nil
		if len(batch) == 0 {
			s.kicking = false
			s.kickMu.Unlock()
			return
		}
		s.kickMu.Unlock()
		err := s.sync(ctx, true)
		for _, done := range batch {
			done <- err
		}
	}
}

// Wait waits for the verification and the checks that the syncs so far
// started in the background.
func (s *Syncer) Wait() { s.pending.Wait() }

// afterSync announces what the sync changed and has the sessions of grants
// that ended early ended (with --end-sessions), one check at a time.
func (s *Syncer) afterSync(ctx context.Context) {
	s.checkMu.Lock()
	defer s.checkMu.Unlock()
	if s.Notices != nil {
		s.Notices.check(ctx, s.Ledger, s.now())
	}
	if s.Ended != nil {
		s.Ended.check(ctx, s.Ledger, s.now())
	}
	if s.Assign != nil {
		s.Assign.round(ctx, s.Ledger, s.now())
	}
	if s.Activity != nil {
		s.Activity.check(s.Ledger, s.now())
	}
}

// assignRound reconciles Identity Center at a window boundary, one check
// at a time with those after a sync.
func (s *Syncer) assignRound(ctx context.Context) {
	s.pending.Add(1)
	defer s.pending.Done()
	s.checkMu.Lock()
	defer s.checkMu.Unlock()
	s.Assign.round(ctx, s.Ledger, s.now())
}

func (s *Syncer) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Watch asks the remote for the branch head every interval, one round trip
// with no object transfer, and syncs when it moved: a merge or revocation
// reaches every replica within the interval even when the webhook reaches
// only one of them. Without a remote it syncs, which is a local read.
func (s *Syncer) Watch(ctx context.Context, every time.Duration) {
	tick(ctx, every, func() { s.checkHead(ctx) })
}

// tick calls fn every d until ctx ends.
func tick(ctx context.Context, d time.Duration, fn func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

// checkHead asks the remote for the branch head and syncs when it moved,
// or when the last sync failed (as its backoff allows).
func (s *Syncer) checkHead(ctx context.Context) {
	s.lastHeadCheck.Store(s.now().UnixNano())
	if _, ok := s.gate(true); !ok {
		return // GitHub asked to wait: not even the head
	}
	remote, err := s.RemoteHead(ctx)
	if err != nil {
		s.Logger.Warn("could not ask the remote for the branch head", "error", err)
		return
	}
	x := s.Ledger.Index()
	if remote != "" && x != nil && x.Head != remote {
		s.Ledger.Expect(remote)
	}
	// A head GitHub's activity has not listed yet is asked again too.
	if _, lastErr := s.Ledger.Health(); remote == "" || x == nil || x.Head != remote || x.Unrecorded() || lastErr != nil {
		_ = s.Sync(ctx)
	}
}

// Fresh catches up, before a request, on the checks a frozen process missed:
// Lambda freezes an idle function, its Watch and sync loop with it, and the
// first request after a pause must not be answered from an index older than
// a revocation. It syncs when the last good sync is older than SyncEvery,
// else checks the head when the last check is older than HeadEvery; a
// process whose loops run finds both recent and does nothing.
//
// It waits at most freshWait: a slow GitHub must not hold a request past
// its function's timeout; the catch-up goes on behind the answer.
// It reports whether the catch-up finished: a request that could not wait
// for it must not be answered from an index that may be older than a
// revocation.
func (s *Syncer) Fresh(ctx context.Context) bool {
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.fresh(context.WithoutCancel(ctx))
	}()
	select {
	case <-done:
		return true
	case <-ctx.Done():
	case <-time.After(cmp.Or(s.FreshWait, freshWait)):
	}
	return false
}

// Tick is one scheduled check, for a process that nothing wakes between
// requests (Lambda, on the broker stack's EventBridge schedule): it asks
// the remote for the head and syncs when it moved, waits for what that
// started, then runs the checks that follow a sync at this minute —
// notices, ended sessions, Identity Center's window ends — synced or not.
// It returns the head of the index it checked ("" before the first sync).
func (s *Syncer) Tick(ctx context.Context) string {
	// Leave the function a moment to answer before its deadline: a
	// timed-out invocation resets the environment, and the next one clones
	// again.
	if deadline, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline.Add(-tickMargin))
		defer cancel()
	}
	s.checkHead(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Wait()
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return ""
	}
	s.afterSync(ctx)
	if s.Activity != nil {
		// Nothing runs between invocations: the reads it started finish
		// now, or are read again at the next tick.
		s.Activity.Wait(ctx)
	}
	if x := s.Ledger.Index(); x != nil {
		return x.Head
	}
	return ""
}

// tickMargin is what Tick leaves of an invocation's time.
const tickMargin = 2 * time.Second

// freshWait bounds how long a request waits for Fresh.
const freshWait = 10 * time.Second

func (s *Syncer) fresh(ctx context.Context) {
	s.freshMu.Lock()
	defer s.freshMu.Unlock()
	now := s.now()
	if last, _ := s.Ledger.Health(); s.SyncEvery > 0 && now.Sub(last) >= s.SyncEvery {
		s.lastHeadCheck.Store(now.UnixNano())
		_ = s.Sync(ctx)
		return
	}
	if s.HeadEvery > 0 && now.Sub(time.Unix(0, s.lastHeadCheck.Load())) >= s.HeadEvery {
		s.checkHead(ctx)
	}
}

// loop syncs every interval; Run made the first.
func (s *Syncer) loop(ctx context.Context, every time.Duration) {
	tick(ctx, every, func() { _ = s.Sync(ctx) })
}
