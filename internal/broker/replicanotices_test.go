package broker_test

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/elevate-gitops/elevate/internal/broker"
	"github.com/elevate-gitops/elevate/internal/broker/brokertest"
	"github.com/elevate-gitops/elevate/internal/testenv"
	vt "github.com/elevate-gitops/elevate/internal/validate/validatetest"
)

// switchable passes requests to moto, or answers 503 while down.
type switchable struct {
	proxy *httputil.ReverseProxy
	down  atomic.Bool
	tried atomic.Int64 // requests while down
}

func (s *switchable) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.down.Load() {
		s.tried.Add(1)
		http.Error(w, `{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"down for the test"}`, http.StatusServiceUnavailable)
		return
	}
	s.proxy.ServeHTTP(w, r)
}

// Two brokers on one ledger, one notify receiver, claims in moto's
// DynamoDB (--notify-table, found through AWS_ENDPOINT_URL_DYNAMODB): both
// start after a merge (each announces the last hour), a first session is
// issued through each, a revocation's webhook reaches one of them and the
// other sees it by itself, both end the sessions. Each notice and each
// once-per-grant comment comes once. With the table unreachable during the
// revocation, the sessions still end (IAM is not held up) and the notices
// wait; once it is back, each comes late, and once.
func TestNoticesOnceAcrossReplicas(t *testing.T) {
	// Not parallel: t.Setenv points the brokers' DynamoDB client at moto
	// the way an operator would.
	target := brokertest.StartMotoEndSessions(t)
	motoURL, _ := url.Parse(testenv.StartMoto(t, -1))
	table := &switchable{proxy: httputil.NewSingleHostReverseProxy(motoURL)}
	tableSrv := httptest.NewServer(table)
	defer tableSrv.Close()
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", tableSrv.URL)
	t.Setenv("AWS_MAX_ATTEMPTS", "1") // one try a claim: the notifier retries
	const tableName = "elevate-notices"
	admin := dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(motoURL.String()), Credentials: credentials.NewStaticCredentialsProvider("x", "x", "")})
	if _, err := admin.CreateTable(t.Context(), &dynamodb.CreateTableInput{
		TableName:            aws.String(tableName),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	}); err != nil {
		t.Fatal(err)
	}
	rx := &slack{}
	hook := httptest.NewServer(rx)
	defer hook.Close()

	a := ending(t, target, func(c *broker.Config) { c.NotifyURL, c.NotifyTable = hook.URL+"/services/T0/B0/secret", tableName })
	b := a.Unsynced()
	syncAndWait(t, a.Broker)
	syncAndWait(t, b.Broker)
	both := []*brokertest.Harness{a, b}
	settled := func() {
		t.Helper()
		waitFor(t, "both notifiers done", func() bool { return a.Broker.Notifier.Idle() && b.Broker.Notifier.Idle() })
	}

	// Both replicas started after PR #2 merged: each announces it, once.
	for _, h := range both {
		if got := h.Credentials(h.Codertocat(), byID); got.Status != 200 {
			t.Fatalf("first session: %d %s", got.Status, got.Raw)
		}
	}
	rx.wait(t, "grant merged")
	rx.wait(t, "used for the first time")
	waitForComment(t, a, vt.Number, "Sessions so far: **2**")
	settled()

	table.down.Store(true)
	a.Revoke(40, a.Clock())
	if got := a.Webhook(strings.TrimSpace(a.Repo.Git(a.Clock(), "rev-parse", "HEAD"))); got.Status/100 != 2 {
		t.Fatalf("webhook: %d %s", got.Status, got.Raw)
	}
	a.Broker.Syncer.Wait()
	syncAndWait(t, b.Broker) // its head check
	waitFor(t, "the Deny for the grant on role Admin", func() bool { return grantDeny(rolePolicy(t, target), vt.RequestID) != nil })
	waitFor(t, "both replicas trying to claim, and again", func() bool { return table.tried.Load() >= 4 })
	for _, txt := range rx.all() {
		if strings.Contains(txt, "revoked") || strings.Contains(txt, "ended live AWS sessions") {
			t.Fatalf("a notice went out without its claim: %q", txt)
		}
	}
	table.down.Store(false)
	rx.wait(t, "grant revoked")
	rx.wait(t, "ended live AWS sessions")
	waitFor(t, "the comment on the revocation's PR", func() bool { return countComments(a, 40, "sessions ended") == 1 })
	settled()

	for _, want := range []string{"grant merged", "used for the first time", "grant revoked", "ended live AWS sessions"} {
		if n := rx.counting(want); n != 1 {
			t.Errorf("%d notices say %q, want 1: %q", n, want, rx.all())
		}
	}
	if n := rx.count(); n != 4 {
		t.Errorf("%d notices, want 4: %q", n, rx.all())
	}
	if n := countComments(a, vt.Number, "Sessions so far"); n != 1 {
		t.Errorf("%d comments of sessions on PR #%d, want 1", n, vt.Number)
	}
	if n := countComments(a, 40, "sessions ended"); n != 1 {
		t.Errorf("%d comments of ended sessions on PR #40, want 1", n)
	}
	// Each replica's ender hears of its own Deny when IAM took it, which
	// may come after the other's notice went out: wait for both.
	waitFor(t, "both replicas claiming the merge, the revocation and the ended sessions (at least 3 claims lost)", func() bool {
		return a.Broker.Notifier.SentElsewhere()+b.Broker.Notifier.SentElsewhere() >= 3
	})
	settled()
	if n := rx.count(); n != 4 {
		t.Errorf("%d notices after both replicas were done, want 4: %q", n, rx.all())
	}
}

// countComments counts the comments on PR number that hold text.
func countComments(h *brokertest.Harness, number int, text string) int {
	n := 0
	for _, c := range h.GitHub.Fake.Comments(number) {
		if strings.Contains(c.GetBody(), text) {
			n++
		}
	}
	return n
}
