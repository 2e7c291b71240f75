// Package brokertest runs a real broker on loopback against a git ledger, the
// GitHub fake, a local OIDC issuer and the STS fake (or moto), for tests of
// the broker and of the CLI.
package brokertest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/google/go-github/v60/github"

	"github.com/elevate-gitops/elevate/internal/awscreds/stsfake"
	"github.com/elevate-gitops/elevate/internal/broker"
	"github.com/elevate-gitops/elevate/internal/brokerapi"
	"github.com/elevate-gitops/elevate/internal/custody"
	"github.com/elevate-gitops/elevate/internal/githubapi/githubfake"
	"github.com/elevate-gitops/elevate/internal/identity/oidcfake"
	"github.com/elevate-gitops/elevate/internal/ledger"
	"github.com/elevate-gitops/elevate/internal/ledger/ledgertest"
	vt "github.com/elevate-gitops/elevate/internal/validate/validatetest"
)

const (
	// StateKey is the MAC key of the harness broker's saved state.
	StateKey      = "harness-state-key-0123456789abcdef"
	BrokerKey     = "AKIAELEVATEBROKER01"
	BrokerSecret  = "broker-secret-never-logged"
	UserToken     = "gho_codertocatUserToken1" // of the app elevate login uses (githubfake.ClientID)
	WebhookSecret = "webhook-secret"
)

// OIDCRepository is the repository whose workflows' Actions tokens the
// broker accepts (oidcfake's default), and OIDCWorkflow the one workflow of
// it that speaks for its actor (oidcfake's default, dispatched by hand).
const (
	OIDCRepository = oidcfake.DefaultRepository
	OIDCWorkflow   = oidcfake.DefaultWorkflowRef
)

// SecurityLead owns eligibility.yaml (team @acme/security in vt.CodeOwners).
var SecurityLead = &github.User{Login: github.String("octosec"), ID: github.Int64(103), Type: github.String("User")}

// Policy is vt.Policy with a second role, so "eligible but no grant" exists.
var Policy = strings.Replace(vt.Policy, "roles: [Admin]", "roles: [Admin, ReadOnly]", 1)

// harness is a broker wired to a git ledger, the GitHub fake, a local OIDC
// issuer and the STS fake, all on loopback.
type Harness struct {
	t         testing.TB
	Repo      *ledgertest.Repo
	GitHub    *vt.Scenario
	OIDC      *oidcfake.Issuer
	STS       *stsfake.Fake // nil when AWS is moto
	Ledger    *ledger.Ledger
	Checker   *custody.Checker
	Broker    *broker.Broker
	Server    *broker.Server
	URL       string
	Logs      *SyncBuffer
	now       time.Time
	mu        sync.Mutex
	target    AWS
	stateDir  string
	configure []Option
}

type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (h *Harness) Clock() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.now
}

func (h *Harness) SetNow(t time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.now = t
}

// aws is where the broker assumes roles: the STS fake, or moto.
type AWS struct {
	Endpoint, Key, Secret, SigninURL string
	AccountID                        string // of the prod account
	// With StartMotoEndSessions: a key allowed to read and write the
	// target role's inline policies, for the test's own checks.
	AuditorKey, AuditorSecret string
}

// New merges Codertocat's prod/Admin request (2h) 30 minutes ago,
// through PR #2 approved by hubot, with the STS fake as AWS.
func New(t testing.TB, opts ...Option) *Harness {
	t.Helper()
	sts := stsfake.New(t)
	sts.AddKey(BrokerKey, BrokerSecret, "arn:aws:iam::999999999999:user/elevate-broker")
	h := NewOn(t, AWS{Endpoint: sts.URL, Key: BrokerKey, Secret: BrokerSecret, SigninURL: sts.SigninURL(), AccountID: "111111111111"}, opts...)
	h.STS = sts
	return h
}

// Option changes the broker's configuration from the harness's default.
type Option func(*broker.Config)

// NewOn is New against the AWS endpoint target.
func NewOn(t testing.TB, target AWS, opts ...Option) *Harness {
	t.Helper()
	policy := strings.Replace(Policy, "111111111111", target.AccountID, 1)
	h := &Harness{t: t, now: time.Now().UTC().Truncate(time.Second), Logs: &SyncBuffer{}}
	merged := h.now.Add(-30 * time.Minute)
	h.Repo = ledgertest.New(t)
	root := h.Repo.Commit(merged.Add(-24*time.Hour), "policy", map[string]string{"eligibility.yaml": policy, ".github/CODEOWNERS": vt.CodeOwners})
	sha := h.Repo.Commit(merged, "Merge pull request #2", map[string]string{vt.RequestPath: vt.Request})

	h.GitHub = vt.New(t, 0)
	h.GitHub.Fake.Move("branch_creation", "main", root, merged.Add(-24*time.Hour), vt.Author)
	h.GitHub.BaseFiles["eligibility.yaml"] = []byte(policy)
	h.GitHub.Fake.Commit(vt.BaseSHA, h.GitHub.BaseFiles)
	h.GitHub.OpenPR(t, map[string][]byte{vt.RequestPath: []byte(vt.Request)}, nil)
	h.GitHub.Review(vt.Hubot, "APPROVED", vt.HeadSHA, merged.Add(-time.Minute))
	h.GitHub.MergeAs(t, vt.Number, merged, sha)
	h.GitHub.Fake.Token(UserToken, vt.Author)
	// The broker reads and writes GitHub as elevate's App, as in production:
	// what the workflows' shared bot writes is nobody's evidence.
	h.GitHub.Fake.Token(vt.Token, AppBot)
	h.GitHub.Fake.TeamMember("acme", "security", SecurityLead.GetLogin(), "active")

	h.OIDC = oidcfake.New(t)
	h.GitHub.Fake.OtherRepository(OIDCRepository, oidcfake.RepositoryID(OIDCRepository), oidcfake.OwnerID("octo-org"))
	h.target, h.stateDir, h.configure = target, t.TempDir(), opts
	if err := h.start(); err != nil {
		t.Fatal(err)
	}
	return h
}

// AppBot is the bot user of elevate's App, as whom the harness broker
// reads and writes GitHub.
var AppBot = &github.User{ID: github.Int64(99), Login: github.String("elevate-app[bot]"), Type: github.String("Bot")}

// Config is the broker's configuration in the harness: every flag as an
// operator would set it, pointed at the loopback stand-ins.
func (h *Harness) Config() broker.Config {
	cfg := broker.Config{
		Ledger: h.Repo.Dir, Branch: "main", Repo: vt.Owner + "/" + vt.Name,
		GitHubAPIURL: h.GitHub.Fake.URL, GitHubToken: vt.Token,
		OIDCIssuer: h.OIDC.URL, OIDCAudience: "elevate", OIDCRepos: OIDCRepository,
		OIDCWorkflows: OIDCWorkflow, OIDCEvents: oidcfake.DefaultEvent,
		GitHubClientID: githubfake.ClientID, GitHubClientSecret: githubfake.ClientSecret,
		STSEndpoint: h.target.Endpoint, Region: "us-east-1", SigninURL: h.target.SigninURL,
		WebhookSecret: WebhookSecret, SyncInterval: time.Minute,
		TrustAnchor: h.Repo.Root(), MaxStaleness: 24 * time.Hour,
		StateDir: h.stateDir, HeadCheck: 5 * time.Second, StateKey: StateKey,
	}
	for _, o := range h.configure {
		o(&cfg)
	}
	return cfg
}

// Deps are what Build takes besides the config: the harness's log, clock
// and AWS credentials.
func (h *Harness) Deps() broker.Deps {
	return broker.Deps{
		Logger: slog.New(slog.NewJSONHandler(h.Logs, nil)), Now: h.Clock,
		AWS: credentials.NewStaticCredentialsProvider(h.target.Key, h.target.Secret, ""),
		// GitHub is asked again 10 ms after a failure, not 5 s: tests wait
		// for the recovery, never for a fixed time.
		Backoff: 10 * time.Millisecond,
	}
}

// start wires a broker with broker.Build, syncs it once and serves it.
func (h *Harness) start() error {
	h.serve()
	return h.Ledger.Sync(context.Background())
}

// serve wires a broker with broker.Build and serves it, not synced yet.
func (h *Harness) serve() {
	b, err := broker.Build(context.Background(), h.Config(), h.Deps())
	if err != nil {
		h.t.Fatal(err)
	}
	h.Broker, h.Server, h.Ledger, h.Checker = b, b.Server, b.Ledger, b.Checker
	ts := httptest.NewServer(h.Server.Handler())
	h.t.Cleanup(ts.Close)
	h.URL = ts.URL
}

// Restart starts a second broker on the same ledger and stand-ins with an
// empty state directory, as a new replica or a Lambda cold start would:
// nothing it verified is remembered. A failing first sync is left for the
// test to see.
func (h *Harness) Restart() *Harness {
	h.t.Helper()
	n := h.Unsynced()
	_ = n.Ledger.Sync(context.Background())
	return n
}

// Unsynced is Restart without the first sync: the broker serves, and the
// test syncs it when it means to.
func (h *Harness) Unsynced() *Harness {
	h.t.Helper()
	return h.UnsyncedWith()
}

// UnsyncedWith is Unsynced with opts added to the configuration.
func (h *Harness) UnsyncedWith(opts ...Option) *Harness {
	h.t.Helper()
	n := &Harness{t: h.t, Repo: h.Repo, GitHub: h.GitHub, OIDC: h.OIDC, STS: h.STS, Logs: &SyncBuffer{}, now: h.Clock(), target: h.target, stateDir: h.t.TempDir(),
		configure: append(slices.Clone(h.configure), opts...)}
	n.serve()
	return n
}

// Start starts the broker's own loops (the first sync, the sync loop, the
// head check, the resolution of --oidc-repositories) until the test ends,
// as Run does; the channel is Broker.Start's.
func (h *Harness) Start() <-chan error {
	ctx, cancel := context.WithCancel(context.Background())
	h.t.Cleanup(cancel)
	return h.Broker.Start(ctx)
}

// AppID is the GitHub App the harness broker acts as with AsApp.
const AppID = 4242

// AppKey is the App's private key, made once per test binary.
var AppKey = sync.OnceValue(func() *rsa.PrivateKey {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return key
})

// AppKeyPEM is AppKey as the PEM GitHub hands out.
func AppKeyPEM() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(AppKey())}))
}

// AsApp installs elevate's GitHub App on the access repository in the
// GitHub fake (its installation token is the harness's, its bot AppBot) and
// returns the option that makes a broker act as it (--github-app-id and
// the key) instead of a token. Other repositories the installation covers
// are added with Fake.Install.
func (h *Harness) AsApp() Option {
	h.GitHub.Fake.App(AppID, &AppKey().PublicKey, 777, vt.Token, AppBot)
	key := AppKeyPEM()
	return func(c *broker.Config) { c.GitHubAppID, c.GitHubAppKeyPEM, c.GitHubToken = AppID, key, "" }
}

// RestartSameMachine starts a second broker with this one's state
// directory, as a restart of the process on the same machine would.
func (h *Harness) RestartSameMachine() *Harness {
	h.t.Helper()
	n := &Harness{t: h.t, Repo: h.Repo, GitHub: h.GitHub, OIDC: h.OIDC, STS: h.STS, Logs: &SyncBuffer{}, now: h.Clock(), target: h.target, stateDir: h.stateDir, configure: h.configure}
	_ = n.start()
	return n
}

// CheckpointFile is where a broker keeps its checkpoint in its state directory.
const CheckpointFile = "ledger-checkpoint"

// Checkpoint is the checkpoint the broker last wrote in its state
// directory (nil when there is none).
func (h *Harness) Checkpoint() []byte {
	h.t.Helper()
	data, err := os.ReadFile(filepath.Join(h.stateDir, CheckpointFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		h.t.Fatal(err)
	}
	return data
}

// FromCheckpoint starts (and syncs) a new instance whose state directory
// holds only checkpoint, as a new replica handed the fleet's checkpoint
// would be.
func (h *Harness) FromCheckpoint(checkpoint []byte) *Harness {
	h.t.Helper()
	dir := h.t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, CheckpointFile), checkpoint, 0o600); err != nil {
		h.t.Fatal(err)
	}
	n := &Harness{t: h.t, Repo: h.Repo, GitHub: h.GitHub, OIDC: h.OIDC, STS: h.STS, Logs: &SyncBuffer{}, now: h.Clock(), target: h.target, stateDir: dir, configure: h.configure}
	_ = n.start()
	return n
}

// BuildOn builds (without syncing) a broker that clones the ledger at url
// into stateDir, configured as the harness's otherwise.
func (h *Harness) BuildOn(url, stateDir string) *broker.Broker {
	h.t.Helper()
	cfg := h.Config()
	cfg.Ledger, cfg.StateDir = url, stateDir
	b, err := broker.Build(context.Background(), cfg, h.Deps())
	if err != nil {
		h.t.Fatal(err)
	}
	return b
}

// Serve syncs b, waits for what the sync started in the background (the
// grants verified, the verdicts saved), serves b and points the harness's
// calls at it. The sync's error is the test's to see.
func (h *Harness) Serve(b *broker.Broker) error {
	h.t.Helper()
	err := b.Syncer.Sync(context.Background())
	b.Syncer.Wait()
	ts := httptest.NewServer(b.Server.Handler())
	h.t.Cleanup(ts.Close)
	h.URL = ts.URL
	return err
}

// StateDir is the broker's state directory.
func (h *Harness) StateDir() string { return h.stateDir }

// token mints an Actions OIDC token for a GitHub user.
func (h *Harness) Token(login string, id int64) string {
	return h.OIDC.Mint(oidcfake.Claims{Actor: login, ActorID: id, Audience: "elevate"})
}

func (h *Harness) Codertocat() string { return h.Token(vt.Author.GetLogin(), vt.Author.GetID()) }

// Answer is a broker response.
type Answer struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

func (h *Harness) Call(method, path, token string, body any) Answer {
	h.t.Helper()
	header := http.Header{}
	if token != "" {
		header.Set("Authorization", "Bearer "+token)
	}
	return h.call(method, path, header, body)
}

// Webhook sends the push event GitHub sends when main moves to after,
// signed with the webhook secret.
func (h *Harness) Webhook(after string) Answer {
	h.t.Helper()
	body, _ := json.Marshal(map[string]any{"ref": "refs/heads/main", "after": after, "repository": map[string]any{"full_name": vt.Owner + "/" + vt.Name}})
	mac := hmac.New(sha256.New, []byte(WebhookSecret))
	mac.Write(body)
	header := http.Header{"X-Github-Event": {"push"}, "Content-Type": {"application/json"}, "X-Hub-Signature-256": {"sha256=" + hex.EncodeToString(mac.Sum(nil))}}
	return h.call("POST", brokerapi.PathWebhook, header, string(body))
}

func (h *Harness) call(method, path string, header http.Header, body any) Answer {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, _ := json.Marshal(b)
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, h.URL+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header = header
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := Answer{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	_ = json.Unmarshal(raw, &a.Body)
	return a
}

func (h *Harness) Credentials(token string, body any) Answer {
	h.t.Helper()
	return h.Call("POST", brokerapi.PathCredentials, token, body)
}

// MergePR adds and merges PR number adding path with content as commit sha.
func (h *Harness) MergePR(number int, path, content, sha string, at time.Time, approved bool) {
	h.t.Helper()
	h.requestPR(number, path, content, approved, at)
	h.GitHub.MergeAs(h.t, number, at, sha)
}

// Revoke merges PR number, which deletes the harness's grant, at at: the
// revocation its requester opens, which needs no approval.
func (h *Harness) Revoke(number int, at time.Time) {
	h.t.Helper()
	sha := h.Repo.Commit(at, fmt.Sprintf("Merge pull request #%d", number), map[string]string{vt.RequestPath: ""})
	h.GitHub.Fake.AddPull(&github.PullRequest{Number: github.Int(number), State: github.String("open"), User: vt.Author,
		Head: &github.PullRequestBranch{SHA: github.String(fmt.Sprintf("%040d", 4000+number)), Ref: github.String("revoke")},
		Base: &github.PullRequestBranch{SHA: github.String(vt.BaseSHA), Ref: github.String("main")},
	}, []*github.CommitFile{{Filename: github.String(vt.RequestPath), Status: github.String("removed")}})
	h.GitHub.MergeAs(h.t, number, at, sha)
}

// requestPR adds request PR number adding path with content, approved by
// hubot when approved.
func (h *Harness) requestPR(number int, path, content string, approved bool, at time.Time) {
	h.t.Helper()
	head := fmt.Sprintf("%040d", number)
	files := map[string][]byte{}
	for p, d := range h.GitHub.BaseFiles {
		files[p] = d
	}
	files[path] = []byte(content)
	h.GitHub.Fake.Commit(head, files)
	h.GitHub.Fake.AddPull(&github.PullRequest{
		Number: github.Int(number), State: github.String("open"), User: vt.Author,
		Head: &github.PullRequestBranch{SHA: github.String(head), Ref: github.String(fmt.Sprintf("r%d", number))},
		Base: &github.PullRequestBranch{SHA: github.String(vt.BaseSHA), Ref: github.String("main")},
	}, []*github.CommitFile{{Filename: github.String(path), Status: github.String("added")}})
	if approved {
		h.GitHub.Fake.AddReview(number, &github.PullRequestReview{User: vt.Hubot, State: github.String("APPROVED"), CommitID: github.String(head), SubmittedAt: &github.Timestamp{Time: at.Add(-time.Minute)}})
	}
}

// Queued is one approved request PR of a merge-queue batch.
type Queued struct {
	Number        int
	Path, Content string
}

// MergeQueue merges approved request PRs as one merge-queue batch: each is
// a commit of its own on the branch, GitHub lists each PR merged as its
// commit, and the activity records one merge_queue_merge to the last.
func (h *Harness) MergeQueue(at time.Time, batch ...Queued) []string {
	h.t.Helper()
	var shas []string
	for _, q := range batch {
		sha := h.Repo.Commit(at, fmt.Sprintf("Merge pull request #%d", q.Number), map[string]string{q.Path: q.Content})
		h.requestPR(q.Number, q.Path, q.Content, true, at)
		h.GitHub.MarkMerged(h.t, q.Number, at, sha)
		shas = append(shas, sha)
	}
	h.GitHub.Fake.Move("merge_queue_merge", "main", shas[len(shas)-1], at, vt.Author)
	return shas
}

// MergeChange commits files (an empty content deletes) on the branch at at
// as the merge of change PR number, authored by vt.Author, and, when
// approved, approved on its head by approver. It returns the merge commit.
func (h *Harness) MergeChange(number int, files map[string]string, at time.Time, approver *github.User) string {
	h.t.Helper()
	return h.MergeRebased(number, []map[string]string{files}, at, approver)
}

// MergeRebased is MergeChange for a PR of several commits merged with
// "Rebase and merge": each commit lands on the branch, and the PR lists its
// net change (what differs from the branch before the first).
func (h *Harness) MergeRebased(number int, commits []map[string]string, at time.Time, approver *github.User) string {
	h.t.Helper()
	before := h.Repo.Git(time.Time{}, "rev-parse", "HEAD")
	sha := ""
	for i, files := range commits {
		sha = h.Repo.Commit(at, fmt.Sprintf("Merge pull request #%d (%d/%d)", number, i+1, len(commits)), files)
	}
	h.ChangePR(number, before, sha, approver, at)
	h.GitHub.MergeAs(h.t, number, at, sha)
	return sha
}

// ChangePR adds change PR number whose net change is the branch's from
// before to sha (by blob, as GitHub lists a PR's files), authored by
// vt.Author and approved on its head by approver (nil: nobody). It is not
// marked merged.
func (h *Harness) ChangePR(number int, before, sha string, approver *github.User, at time.Time) {
	h.t.Helper()
	head := fmt.Sprintf("%040d", 1000+number)
	snapshot := map[string][]byte{}
	for p, d := range h.GitHub.BaseFiles {
		snapshot[p] = d
	}
	var changed []*github.CommitFile
	for _, line := range strings.Split(h.Repo.Git(time.Time{}, "diff", "--no-renames", "--name-status", before, sha), "\n") {
		status, p, ok := strings.Cut(line, "\t")
		if !ok {
			continue
		}
		cf := &github.CommitFile{Filename: github.String(p), Status: github.String(map[string]string{"A": "added", "M": "modified", "D": "removed"}[status])}
		if status == "D" {
			delete(snapshot, p)
		} else {
			snapshot[p] = []byte(h.Repo.Git(time.Time{}, "show", sha+":"+p) + "\n")
			cf.SHA = github.String(h.Repo.Git(time.Time{}, "rev-parse", sha+":"+p))
		}
		changed = append(changed, cf)
	}
	h.GitHub.Fake.Commit(head, snapshot)
	h.GitHub.Fake.AddPull(&github.PullRequest{
		Number: github.Int(number), State: github.String("open"), User: vt.Author,
		Head: &github.PullRequestBranch{SHA: github.String(head), Ref: github.String(fmt.Sprintf("change%d", number))},
		Base: &github.PullRequestBranch{SHA: github.String(vt.BaseSHA), Ref: github.String("main")},
	}, changed)
	if approver != nil {
		h.GitHub.Fake.AddReview(number, &github.PullRequestReview{User: approver, State: github.String("APPROVED"), CommitID: github.String(head), SubmittedAt: &github.Timestamp{Time: at.Add(-time.Minute)}})
	}
}

// Push commits files (an empty content deletes) on the branch at at, and
// records it in GitHub's activity as a direct push by a repository admin.
func (h *Harness) Push(at time.Time, msg string, files map[string]string) string {
	h.t.Helper()
	sha := h.Repo.Commit(at, msg, files)
	h.GitHub.Fake.Move("push", "main", sha, at, Admin)
	return sha
}

// Admin is a repository admin who can push past branch protection.
var Admin = &github.User{Login: github.String("mallory"), ID: github.Int64(666), Type: github.String("User")}

func (h *Harness) Sync() {
	h.t.Helper()
	if err := h.Ledger.Sync(context.Background()); err != nil {
		h.t.Fatal(err)
	}
}
