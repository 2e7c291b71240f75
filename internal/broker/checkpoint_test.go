package broker_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/elevate-gitops/elevate/internal/broker"
	"github.com/elevate-gitops/elevate/internal/broker/brokertest"
	"github.com/elevate-gitops/elevate/internal/githubapi/githubfake"
	"github.com/elevate-gitops/elevate/internal/ledger/ledgertest"
	"github.com/elevate-gitops/elevate/internal/testenv"
	vt "github.com/elevate-gitops/elevate/internal/validate/validatetest"
)

// A fleet keeps its verified checkpoint in S3 (--checkpoint-url, moto's
// S3 through AWS_ENDPOINT_URL_S3): a new instance with an empty state
// directory starts there and reads only what GitHub recorded since, so it
// starts even when GitHub's activity no longer reaches back to the trust
// anchor, where one without the checkpoint refuses everything. A
// checkpoint that does not verify (edited, or under another key) is
// ignored and reported in /healthz and the log.
func TestNewInstanceStartsFromTheFleetCheckpoint(t *testing.T) {
	// Not parallel: t.Setenv points the brokers' S3 client at moto the way
	// an operator would.
	endpoint := testenv.StartMoto(t, -1)
	t.Setenv("AWS_ENDPOINT_URL_S3", endpoint)
	admin := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), UsePathStyle: true, DisableLogOutputChecksumValidationSkipped: true, Credentials: credentials.NewStaticCredentialsProvider("x", "x", "")})
	const bucket, key = "elevate-checkpoints", "acme/access"
	if _, err := admin.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	fleet := func(c *broker.Config) { c.CheckpointURL = "s3://" + bucket + "/" + key }
	a := brokertest.New(t, fleet)

	// Two more merges: the first read by the fleet (and checkpointed),
	// the second not yet.
	at := a.Clock().Add(-20 * time.Minute)
	read := a.Repo.Commit(at, "Merge pull request #3", map[string]string{"requests/prod/2026-11/three.yaml": strings.Replace(vt.Request, "INC-1", "INC-3", 1)})
	a.MergePR(3, "requests/prod/2026-11/three.yaml", strings.Replace(vt.Request, "INC-1", "INC-3", 1), read, at, true)
	a.Sync()
	a.Broker.Syncer.Wait()
	checkpoint := object(t, admin, bucket, key)
	at = a.Clock().Add(-10 * time.Minute)
	later := a.Repo.Commit(at, "Merge pull request #4", map[string]string{"requests/prod/2026-11/four.yaml": strings.Replace(vt.Request, "INC-1", "INC-4", 1)})
	a.MergePR(4, "requests/prod/2026-11/four.yaml", strings.Replace(vt.Request, "INC-1", "INC-4", 1), later, at, true)

	// GitHub's activity no longer lists the branch's creation and the
	// first merge (a busy repository's list does not reach back forever).
	a.GitHub.Fake.Unrecord(a.Repo.Root())
	a.GitHub.Fake.Unrecord(a.Repo.Git(time.Time{}, "rev-parse", read+"^"))

	b := a.UnsyncedWith()
	if err := b.Ledger.Sync(t.Context()); err != nil {
		t.Fatalf("a new instance from the checkpoint: %v", err)
	}
	if !strings.Contains(b.Logs.String(), "ledger restored from a checkpoint") {
		t.Fatalf("the new instance did not start from the checkpoint:\n%s", b.Logs)
	}
	for _, id := range []string{"three", "four"} {
		if got := b.Credentials(b.Codertocat(), map[string]string{"request": id}); got.Status != 200 {
			t.Errorf("grant %s from a new instance: %d %s", id, got.Status, got.Raw)
		}
	}

	// Without the checkpoint, the anchor is out of the activity's reach.
	cold := a.UnsyncedWith(func(c *broker.Config) { c.CheckpointURL = "" })
	_ = cold.Ledger.Sync(t.Context())
	wantRefusal(t, cold.Credentials(cold.Codertocat(), map[string]string{"request": "four"}), 503, "history_rewritten", "does not reach back")

	// An edited checkpoint, or one under another key, is ignored and said so.
	for name, tc := range map[string]struct {
		data []byte
		opt  brokertest.Option
	}{
		"edited": {ledgertest.EditCheckpoint(t, checkpoint, func(s []byte) []byte {
			return bytes.Replace(s, []byte(`"Duration":7200000000000`), []byte(`"Duration":2592000000000000`), 1)
		}), fleet},
		"another key": {checkpoint, func(c *broker.Config) { fleet(c); c.StateKey = "another-state-key-0123456789abcdef" }},
	} {
		if _, err := admin.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(tc.data)}); err != nil {
			t.Fatal(err)
		}
		n := a.UnsyncedWith(tc.opt)
		_ = n.Ledger.Sync(t.Context())
		if !strings.Contains(n.Logs.String(), "ignoring a checkpoint of the ledger") || !strings.Contains(n.Logs.String(), "MAC does not hold") {
			t.Errorf("%s: the ignored checkpoint is not in the log:\n%s", name, n.Logs)
		}
		health := n.Call("GET", "/healthz", "", nil)
		if !strings.Contains(health.Raw, "checkpoint(s) of the ledger did not verify") {
			t.Errorf("%s: /healthz does not report the ignored checkpoint: %s", name, health.Raw)
		}
		wantRefusal(t, n.Credentials(n.Codertocat(), map[string]string{"request": "four"}), 503, "history_rewritten", "does not reach back")
	}
}

// object reads an S3 object.
func object(t *testing.T, c *s3.Client, bucket, key string) []byte {
	t.Helper()
	out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("the fleet's checkpoint s3://%s/%s: %v", bucket, key, err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// The first sync has no fixed deadline: while it waits on GitHub, the
// broker answers 503 not_synced and /healthz says what it is doing; when
// GitHub answers, it is synced.
func TestFirstSyncReportsItsProgress(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	hold := make(chan struct{})
	h.GitHub.Fake.Break("GET /repos/{owner}/{repo}/activity", githubfake.Fault{Until: hold})
	n := h.Unsynced()
	n.Start()
	waitFor(t, "the first sync's progress in /healthz", func() bool {
		return strings.Contains(n.Call("GET", "/healthz", "", nil).Raw, `"progress":"reading what GitHub recorded of main`)
	})
	if a := n.Call("GET", "/healthz", "", nil); a.Status != 503 || a.Body["status"] != "not_synced" {
		t.Fatalf("healthz during the first sync: %d %s", a.Status, a.Raw)
	}
	wantRefusal(t, n.Credentials(n.Codertocat(), byID), 503, "not_synced", "")
	if !strings.Contains(n.Logs.String(), "first sync of the ledger") {
		t.Errorf("the log does not follow the first sync:\n%s", n.Logs)
	}
	close(hold)
	h.GitHub.Fake.Heal("GET /repos/{owner}/{repo}/activity")
	waitFor(t, "the first sync", func() bool { return n.Call("GET", "/healthz", "", nil).Status == 200 })
	if a := n.Call("GET", "/healthz", "", nil); strings.Contains(a.Raw, "progress") {
		t.Errorf("a synced broker still reports progress: %s", a.Raw)
	}
}

// An older checkpoint handed back to a new instance (by whoever can write
// where it is kept), with the branch force-pushed back to that
// checkpoint's head, does not bring a revoked grant back: a start from a
// checkpoint always reads what GitHub recorded since, and sees the force
// push. A restart after a force push away and back sees it too.
func TestAttackOldCheckpointAndForcePushBack(t *testing.T) {
	t.Parallel()
	h := brokertest.New(t)
	old, oldHead := h.Checkpoint(), head(h)
	if old == nil {
		t.Fatal("no checkpoint")
	}
	revoked := h.MergeChange(40, map[string]string{vt.RequestPath: ""}, h.Clock().Add(-10*time.Minute), nil)
	h.Sync()
	h.Repo.Git(time.Time{}, "reset", "-q", "--hard", oldHead)
	h.GitHub.Fake.ForcePush("main", revoked, oldHead, h.Clock().Add(-time.Minute), brokertest.Admin)
	n := h.FromCheckpoint(old)
	if !strings.Contains(n.Logs.String(), "ledger restored from a checkpoint") {
		t.Fatalf("the new instance did not start from the old checkpoint:\n%s", n.Logs)
	}
	wantRefusal(t, n.Credentials(n.Codertocat(), byID), 503, "history_rewritten", "force push")

	// Away and back again before the broker looked: the head it knows,
	// yet GitHub recorded a rewrite.
	g := brokertest.New(t)
	start := head(g)
	away := g.Repo.Commit(g.Clock().Add(-5*time.Minute), "elsewhere", map[string]string{"README.md": "x"})
	g.GitHub.Fake.ForcePush("main", start, away, g.Clock().Add(-4*time.Minute), brokertest.Admin)
	g.Repo.Git(time.Time{}, "reset", "-q", "--hard", start)
	g.GitHub.Fake.ForcePush("main", away, start, g.Clock().Add(-3*time.Minute), brokertest.Admin)
	for name, b := range map[string]*brokertest.Harness{"running": g, "restarted": g.RestartSameMachine()} {
		_ = b.Ledger.Sync(t.Context())
		if a := b.Credentials(b.Codertocat(), byID); a.Status != 503 || a.Body["error"] != "history_rewritten" {
			t.Errorf("%s broker after a force push away and back: %d %s", name, a.Status, a.Raw)
		}
	}
}
