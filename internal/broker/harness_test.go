package broker

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/google/go-github/v60/github"

	"github.com/elevate-gitops/elevate/internal/awscreds"
	"github.com/elevate-gitops/elevate/internal/awscreds/stsfake"
	"github.com/elevate-gitops/elevate/internal/githubapi"
	"github.com/elevate-gitops/elevate/internal/identity"
	"github.com/elevate-gitops/elevate/internal/identity/oidcfake"
	"github.com/elevate-gitops/elevate/internal/ledger"
	"github.com/elevate-gitops/elevate/internal/ledger/ledgertest"
	vt "github.com/elevate-gitops/elevate/internal/validate/validatetest"
)

const (
	brokerKey    = "AKIAELEVATEBROKER01"
	brokerSecret = "broker-secret-never-logged"
	userToken    = "gho_codertocatUserToken1"
	webhookKey   = "webhook-secret"
)

// policy is vt.Policy with a second role, so "eligible but no grant" exists.
var policy = strings.Replace(vt.Policy, "roles: [Admin]", "roles: [Admin, ReadOnly]", 1)

// harness is a broker wired to a git ledger, the GitHub fake, a local OIDC
// issuer and the STS fake, all on loopback.
type harness struct {
	t      testing.TB
	repo   *ledgertest.Repo
	gh     *vt.Scenario
	oidc   *oidcfake.Issuer
	sts    *stsfake.Fake
	ledger *ledger.Ledger
	srv    *Server
	url    string
	logs   *syncBuffer
	now    time.Time
	mu     sync.Mutex
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (h *harness) clock() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.now
}

func (h *harness) setNow(t time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.now = t
}

// aws is where the broker assumes roles: the STS fake, or moto.
type aws struct {
	endpoint, key, secret, signinURL string
	accountID                        string // of the prod account
}

// newHarness merges Codertocat's prod/Admin request (2h) 30 minutes ago,
// through PR #2 approved by hubot, with the STS fake as AWS.
func newHarness(t testing.TB) *harness {
	t.Helper()
	sts := stsfake.New(t)
	sts.AddKey(brokerKey, brokerSecret, "arn:aws:iam::999999999999:user/elevate-broker")
	h := newHarnessOn(t, aws{endpoint: sts.URL, key: brokerKey, secret: brokerSecret, signinURL: sts.SigninURL(), accountID: "111111111111"})
	h.sts = sts
	return h
}

func newHarnessOn(t testing.TB, target aws) *harness {
	t.Helper()
	policy := strings.Replace(policy, "111111111111", target.accountID, 1)
	h := &harness{t: t, now: time.Now().UTC().Truncate(time.Second), logs: &syncBuffer{}}
	merged := h.now.Add(-30 * time.Minute)
	h.repo = ledgertest.New(t)
	h.repo.Commit(merged.Add(-24*time.Hour), "policy", map[string]string{"eligibility.yaml": policy, ".github/CODEOWNERS": vt.CodeOwners})
	sha := h.repo.Commit(merged, "Merge pull request #2", map[string]string{vt.RequestPath: vt.Request})

	h.gh = vt.New(t, 0)
	h.gh.BaseFiles["eligibility.yaml"] = []byte(policy)
	h.gh.Fake.Commit(vt.BaseSHA, h.gh.BaseFiles)
	h.gh.OpenPR(t, map[string][]byte{vt.RequestPath: []byte(vt.Request)}, nil)
	h.gh.Review(vt.Hubot, "APPROVED", vt.HeadSHA, merged.Add(-time.Minute))
	h.gh.MergeAs(t, vt.Number, merged, sha)
	h.gh.Fake.Token(userToken, vt.Author)

	h.oidc = oidcfake.New(t)

	gh, err := githubapi.NewClient(h.gh.Fake.URL, vt.Token, nil)
	if err != nil {
		t.Fatal(err)
	}
	repo, err := githubapi.NewRepo(gh, vt.Owner+"/"+vt.Name)
	if err != nil {
		t.Fatal(err)
	}
	members := &githubapi.MembershipCache{Inner: repo, TTL: 5 * time.Minute}
	logger := slog.New(slog.NewJSONHandler(h.logs, nil))
	h.ledger, err = ledger.New(ledger.Config{Dir: h.repo.Dir, Branch: "main", Logger: logger, Now: h.clock,
		Verifier: &ledger.GitHubVerifier{GitHub: repo, Members: members, Branch: "main"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.ledger.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	ids, err := identity.New(identity.Config{Issuer: h.oidc.URL, Audience: "elevate", GitHubAPIURL: h.gh.Fake.URL})
	if err != nil {
		t.Fatal(err)
	}
	stsClient, err := awscreds.NewSTSClient(context.Background(), "us-east-1", target.endpoint, nil,
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(target.key, target.secret, "")))
	if err != nil {
		t.Fatal(err)
	}
	h.srv = &Server{
		Identity: ids, Ledger: h.ledger, STS: stsClient, Members: members, Logger: logger, Now: h.clock,
		Console: awscreds.Console{SigninURL: target.signinURL},
		Webhook: &Webhook{Secret: []byte(webhookKey), Branch: "main", Sync: (&Syncer{Ledger: h.ledger, Logger: logger}).Sync},
	}
	ts := httptest.NewServer(h.srv.Handler())
	t.Cleanup(ts.Close)
	h.url = ts.URL
	return h
}

// token mints an Actions OIDC token for a GitHub user.
func (h *harness) token(login string, id int64) string {
	return h.oidc.Mint(oidcfake.Claims{Actor: login, ActorID: id, Audience: "elevate"})
}

func (h *harness) codertocat() string { return h.token(vt.Author.GetLogin(), vt.Author.GetID()) }

type answer struct {
	status int
	body   map[string]any
	raw    string
}

func (h *harness) call(method, path, token string, body any) answer {
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
	req, err := http.NewRequest(method, h.url+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, raw: string(raw)}
	_ = json.Unmarshal(raw, &a.body)
	return a
}

func (h *harness) credentials(token string, body any) answer {
	h.t.Helper()
	return h.call("POST", "/v1/credentials", token, body)
}

// mergePR adds and merges PR number adding path with content as commit sha.
func (h *harness) mergePR(number int, path, content, sha string, at time.Time, approved bool) {
	h.t.Helper()
	head := fmt.Sprintf("%040d", number)
	files := map[string][]byte{}
	for p, d := range h.gh.BaseFiles {
		files[p] = d
	}
	files[path] = []byte(content)
	h.gh.Fake.Commit(head, files)
	h.gh.Fake.AddPull(&github.PullRequest{
		Number: github.Int(number), State: github.String("open"), User: vt.Author,
		Head: &github.PullRequestBranch{SHA: github.String(head), Ref: github.String(fmt.Sprintf("r%d", number))},
		Base: &github.PullRequestBranch{SHA: github.String(vt.BaseSHA), Ref: github.String("main")},
	}, []*github.CommitFile{{Filename: github.String(path), Status: github.String("added")}})
	if approved {
		h.gh.Fake.AddReview(number, &github.PullRequestReview{User: vt.Hubot, State: github.String("APPROVED"), CommitID: github.String(head), SubmittedAt: &github.Timestamp{Time: at.Add(-time.Minute)}})
	}
	h.gh.MergeAs(h.t, number, at, sha)
}

func (h *harness) sync() {
	h.t.Helper()
	if err := h.ledger.Sync(context.Background()); err != nil {
		h.t.Fatal(err)
	}
}
