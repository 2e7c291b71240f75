package broker

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/elevate-gitops/elevate/internal/brokerapi"
)

// MaxWebhookBody bounds a webhook body. GitHub caps payloads at 25 MB, but
// push events of an access repository are small: a larger body is refused
// with 413 before any of it is kept.
const MaxWebhookBody = 5 << 20

// webhookWait is how long a push webhook waits for its sync before it
// answers "syncing": GitHub gives a delivery 10 s, and a slow GitHub must
// never turn a delivery into a failure.
const webhookWait = 800 * time.Millisecond

// Webhook turns GitHub push events on the ledger's branch into syncs.
type Webhook struct {
	Secret []byte // HMAC key of X-Hub-Signature-256; required
	Branch string
	// Repo, when set, is the only repository whose pushes count
	// (OWNER/NAME): an organisation's hook, or a secret used twice, must
	// not make every push anywhere a sync.
	Repo string
	// Kick starts a sync behind the answer; its channel gets the result.
	Kick func(ctx context.Context) <-chan error
	// Expect, when set, is told the head the push moved the branch to.
	Expect func(head string)
}

func (s *Server) webhook(w http.ResponseWriter, r *http.Request) (string, *apiError) {
	if s.Webhook == nil || len(s.Webhook.Secret) == 0 {
		return "", &apiError{status: http.StatusNotFound, code: brokerapi.CodeNotFound, message: "webhooks are not enabled: start the broker with --webhook-secret"}
	}
	if r.Header.Get(github.SHA256SignatureHeader) == "" {
		return "", &apiError{status: http.StatusUnauthorized, code: brokerapi.CodeUnauthenticated, message: "the webhook must be signed with X-Hub-Signature-256"}
	}
	if r.ContentLength > MaxWebhookBody {
		return "", tooLarge()
	}
	payload, ok, err := readSigned(r.Body, r.Header.Get(github.SHA256SignatureHeader), s.Webhook.Secret)
	switch {
	case errors.Is(err, errBodyTooLarge):
		return "", tooLarge()
	case err != nil:
		return "", badRequest("could not read the webhook body: %v", err)
	case !ok:
		return "", &apiError{status: http.StatusUnauthorized, code: brokerapi.CodeUnauthenticated, message: "the webhook signature (X-Hub-Signature-256) does not match the configured secret"}
	}
	event, err := github.ParseWebHook(github.WebHookType(r), payload)
	if err != nil {
		return "", badRequest("unreadable webhook payload: %v", err)
	}
	var push *github.PushEvent
	switch e := event.(type) {
	case *github.PingEvent:
		writeJSON(w, http.StatusOK, brokerapi.WebhookAnswer{Status: "pong"})
		return "", nil
	case *github.PushEvent:
		if s.Webhook.Repo != "" && !strings.EqualFold(e.GetRepo().GetFullName(), s.Webhook.Repo) {
			writeJSON(w, http.StatusAccepted, brokerapi.WebhookAnswer{Status: "ignored", Reason: "not the ledger's repository"})
			return "", nil
		}
		if e.GetRef() != "refs/heads/"+s.Webhook.Branch {
			writeJSON(w, http.StatusAccepted, brokerapi.WebhookAnswer{Status: "ignored", Reason: "not the ledger branch"})
			return "", nil
		}
		push = e
	default:
		writeJSON(w, http.StatusAccepted, brokerapi.WebhookAnswer{Status: "ignored", Reason: "not a push"})
		return "", nil
	}
	if after := push.GetAfter(); s.Webhook.Expect != nil && isCommitID(after) {
		s.Webhook.Expect(after)
	}
	done := s.Webhook.Kick(r.Context())
	select {
	case err := <-done:
		if err == nil {
			writeJSON(w, http.StatusOK, brokerapi.WebhookAnswer{Status: "synced"})
			return "", nil
		}
		s.Logger.Warn("the sync a push webhook started failed; the broker retries by itself", "error", err)
		writeJSON(w, http.StatusAccepted, brokerapi.WebhookAnswer{Status: "syncing", Reason: "the sync failed; the broker retries by itself and serves 503 not_synced until it reads the push"})
	case <-time.After(webhookWait):
		writeJSON(w, http.StatusAccepted, brokerapi.WebhookAnswer{Status: "syncing", Reason: "the sync continues behind this answer"})
	}
	return "", nil
}

// isCommitID reports whether s is a full commit id other than the zero id
// (a push that deleted the branch).
func isCommitID(s string) bool {
	if len(s) != 40 || strings.Trim(s, "0") == "" {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

func tooLarge() *apiError {
	return &apiError{status: http.StatusRequestEntityTooLarge, code: brokerapi.CodeTooLarge, message: "the webhook body is over 5 MiB: only push events of the access repository are expected"}
}

// readSigned reads at most MaxWebhookBody bytes through the HMAC and
// reports whether signature ("sha256=<hex>") matches them. A longer body is
// an error after at most MaxWebhookBody+1 bytes were read.
func readSigned(body io.Reader, signature string, secret []byte) ([]byte, bool, error) {
	mac := hmac.New(sha256.New, secret)
	var buf bytes.Buffer
	n, err := io.Copy(io.MultiWriter(mac, &buf), io.LimitReader(body, MaxWebhookBody+1))
	switch {
	case err != nil:
		return nil, false, err
	case n > MaxWebhookBody:
		return nil, false, errBodyTooLarge
	}
	want, err := hex.DecodeString(strings.TrimPrefix(signature, "sha256="))
	if err != nil || !strings.HasPrefix(signature, "sha256=") {
		return nil, false, nil
	}
	return buf.Bytes(), hmac.Equal(mac.Sum(nil), want), nil
}

var errBodyTooLarge = errors.New("webhook body over the limit")
