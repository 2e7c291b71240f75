package demo_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/google/go-github/v60/github"

	"github.com/elevate-gitops/elevate/internal/broker"
	"github.com/elevate-gitops/elevate/internal/broker/brokertest"
	"github.com/elevate-gitops/elevate/internal/brokerapi"
	"github.com/elevate-gitops/elevate/internal/githubapi/githubfake"
	"github.com/elevate-gitops/elevate/internal/ledger/ledgertest"
	vt "github.com/elevate-gitops/elevate/internal/validate/validatetest"
)

// The runbook's brokers start and serve as the runbook sets them up: its
// App (id 12345) installed as step 2 says, on the access repository and on
// every repository of ELEVATE_OIDC_REPOSITORIES; and they still start,
// naming what they cannot resolve in /healthz, with the App on the access
// repository only (the runbook's own example once stopped them so). Only
// the stand-ins differ: GitHub, the ledger's clone, the key, the anchor.
func TestRunbookBrokersStart(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(runbookPath)
	if err != nil {
		t.Fatal(err)
	}
	_, step2, _ := strings.Cut(string(data), "2. **Install it**")
	step2, _, _ = strings.Cut(step2, "\n3. ")
	if !strings.Contains(step2, "ELEVATE_OIDC_REPOSITORIES") {
		t.Errorf("step 2 of the runbook does not say to install the App on the repositories of ELEVATE_OIDC_REPOSITORIES: %q", step2)
	}
	brokers := runbookBrokers(t)
	if len(brokers) < 2 {
		t.Fatalf("found %d broker configurations in the runbook, want the environment file and the flags (the Lambda function's is the broker stack's, checked in deploy/)", len(brokers))
	}
	fleet := false
	for _, rb := range brokers {
		fleet = fleet || rb.cfg.CheckpointURL != "" && rb.cfg.StateKey != ""
	}
	if !fleet {
		t.Error("no broker of the runbook keeps its checkpoint where every instance reads it (ELEVATE_CHECKPOINT_URL)")
	}
	for _, installed := range []bool{true, false} {
		for _, rb := range brokers {
			name := rb.where + ", App on the access repository only"
			if installed {
				name = rb.where + ", App installed as step 2 says"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				startRunbookBroker(t, rb.cfg, installed)
			})
		}
	}
}

func startRunbookBroker(t *testing.T, cfg broker.Config, installed bool) {
	// Its S3 is AWS's own, which a test never reaches: the fleet's
	// checkpoint in S3 is TestNewInstanceStartsFromTheFleetCheckpoint's.
	cfg.CheckpointURL = ""
	owner, name, _ := strings.Cut(cfg.Repo, "/")
	repo := ledgertest.New(t)
	at := time.Now().Add(-time.Hour)
	root := repo.Commit(at, "policy", map[string]string{"eligibility.yaml": brokertest.Policy, ".github/CODEOWNERS": vt.CodeOwners})
	gh := githubfake.New(t)
	gh.Repo(owner, name)
	bot := &github.User{Login: github.String("elevate-acme[bot]"), ID: github.Int64(77), Type: github.String("Bot")}
	gh.Token("ghs_installation", bot)
	gh.App(cfg.GitHubAppID, &brokertest.AppKey().PublicKey, 1, "ghs_installation", bot)
	gh.Move("branch_creation", cfg.Branch, root, at, bot)
	others := strings.Split(cfg.OIDCRepos, ",")
	for i, full := range others {
		gh.OtherRepository(full, int64(5000+i), 6000)
		if installed {
			gh.Install(full)
		}
	}

	cfg.GitHubAPIURL, cfg.Ledger, cfg.TrustAnchor, cfg.StateDir = gh.URL, repo.Dir, root, t.TempDir()
	cfg.GitHubAppKey, cfg.GitHubAppKeyPEM = "", brokertest.AppKeyPEM()
	logs := &brokertest.SyncBuffer{}
	b, err := broker.Build(t.Context(), cfg, broker.Deps{Logger: slog.New(slog.NewJSONHandler(logs, nil)),
		AWS: credentials.NewStaticCredentialsProvider("AKIAEXAMPLE", "secret", ""), Backoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatalf("the broker does not start: %v", err)
	}
	fatal := b.Start(t.Context())
	srv := httptest.NewServer(b.Server.Handler())
	defer srv.Close()
	var health brokerapi.Health
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		select {
		case err := <-fatal:
			t.Fatalf("the broker stopped: %v\n%s", err, logs)
		default:
		}
		code := healthz(t, srv.URL, &health)
		// The repositories are looked up behind the start: wait for the
		// warning of the one the App cannot see, or for none at all.
		want := 1
		if installed {
			want = 0
		}
		if code == http.StatusOK && len(health.Warnings) == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz = %d %+v\n%s", code, health, logs)
		}
	}
	if !installed {
		for _, full := range others {
			if !strings.Contains(logs.String(), full) {
				t.Errorf("the log does not name %s, which the App cannot see:\n%s", full, logs)
			}
		}
	}
}

// healthz reads the broker's /healthz into into and returns its status.
func healthz(t *testing.T, url string, into *brokerapi.Health) int {
	t.Helper()
	resp, err := http.Get(url + brokerapi.PathHealth)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	*into = brokerapi.Health{}
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		t.Fatalf("/healthz: %v", err)
	}
	return resp.StatusCode
}
