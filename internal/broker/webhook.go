package broker

import (
	"context"
	"net/http"
	"time"

	"github.com/google/go-github/v60/github"
)

// Webhook turns GitHub push events on the ledger's branch into syncs.
type Webhook struct {
	Secret []byte // HMAC key of X-Hub-Signature-256; required
	Branch string
	Sync   func(ctx context.Context) error
}

func (s *Server) webhook(w http.ResponseWriter, r *http.Request) (string, *apiError) {
	if s.Webhook == nil || len(s.Webhook.Secret) == 0 {
		return "", &apiError{status: http.StatusNotFound, code: "not_found", message: "webhooks are not enabled: start the broker with --webhook-secret"}
	}
	if r.Header.Get(github.SHA256SignatureHeader) == "" {
		return "", &apiError{status: http.StatusUnauthorized, code: "unauthenticated", message: "the webhook must be signed with X-Hub-Signature-256"}
	}
	r.Body = http.MaxBytesReader(w, r.Body, 25<<20) // GitHub caps payloads at 25 MB
	payload, err := github.ValidatePayload(r, s.Webhook.Secret)
	if err != nil {
		return "", &apiError{status: http.StatusUnauthorized, code: "unauthenticated", message: "the webhook signature (X-Hub-Signature-256) does not match the configured secret", cause: err}
	}
	event, err := github.ParseWebHook(github.WebHookType(r), payload)
	if err != nil {
		return "", badRequest("unreadable webhook payload: %v", err)
	}
	switch e := event.(type) {
	case *github.PingEvent:
		writeJSON(w, http.StatusOK, map[string]string{"status": "pong"})
		return "", nil
	case *github.PushEvent:
		if e.GetRef() != "refs/heads/"+s.Webhook.Branch {
			writeJSON(w, http.StatusAccepted, map[string]string{"status": "ignored", "reason": "not the ledger branch"})
			return "", nil
		}
	default:
		writeJSON(w, http.StatusAccepted, map[string]string{"status": "ignored", "reason": "not a push"})
		return "", nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), 8*time.Second) // GitHub waits 10 s
	defer cancel()
	if err := s.Webhook.Sync(ctx); err != nil {
		return "", &apiError{status: http.StatusBadGateway, code: "upstream", message: "the ledger sync failed; the last good index is still served", cause: err}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "synced"})
	return "", nil
}
