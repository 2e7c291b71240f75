package broker

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/elevate-gitops/elevate/internal/brokerapi"
)

// LambdaHandler serves two kinds of event. API Gateway HTTP API and Lambda
// function URL events (payload format 2.0) go to the broker's HTTP handler,
// through aws-lambda-go-api-proxy; a body that is not the base64 it claims
// to be is answered 400 here: the adapter would report it as a function
// error. fresh, when set, runs before each of them: Lambda froze the
// background loops while the function was idle (Syncer.Fresh). When it
// could not catch up in time, every request but /healthz and /metrics is
// answered 503 not_synced: the index may be older than a revocation.
//
// EventBridge's Scheduled Events (the broker stack invokes the function
// every minute) run tick instead: nothing runs between requests on Lambda,
// so window ends, ended sessions, Identity Center deletions and notices
// happen on that schedule. A function URL cannot forge one: it wraps every
// HTTP request in its own event.
func LambdaHandler(h http.Handler, fresh func(context.Context) bool, tick func(context.Context) string) func(context.Context, json.RawMessage) (any, error) {
	adapter := httpadapter.NewV2(h)
	return func(ctx context.Context, raw json.RawMessage) (any, error) {
		var kind struct {
			Source     string `json:"source"`
			DetailType string `json:"detail-type"`
		}
		if err := json.Unmarshal(raw, &kind); err != nil {
			return nil, fmt.Errorf("the event is not a JSON object: %w", err)
		}
		if kind.Source == "aws.events" && kind.DetailType == "Scheduled Event" {
			if tick == nil {
				return nil, fmt.Errorf("a scheduled event reached a broker without a schedule handler")
			}
			return map[string]string{"checked": tick(ctx)}, nil
		}
		var ev events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, fmt.Errorf("the event is neither a function URL request nor a scheduled event: %w", err)
		}
		// Any path but the health and metrics pages: the router decodes
		// the path (/v1/%63redentials is /v1/credentials), so a list of
		// what to refuse could be walked around.
		if fresh != nil && !fresh(ctx) && ev.RawPath != brokerapi.PathHealth && ev.RawPath != brokerapi.PathMetrics {
			return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusServiceUnavailable, Headers: map[string]string{"Content-Type": "application/json", "Retry-After": "5"},
				Body: `{"error":"` + brokerapi.CodeNotSynced + `","message":"the broker is catching up with the branch after a pause and GitHub is slow to answer; try again in a few seconds"}`}, nil
		}
		if ev.IsBase64Encoded {
			if _, err := base64.StdEncoding.DecodeString(ev.Body); err != nil {
				return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusBadRequest, Headers: map[string]string{"Content-Type": "application/json"},
					Body: `{"error":"` + brokerapi.CodeBadRequest + `","message":"the event body is not valid base64"}`}, nil
			}
		}
		return adapter.ProxyWithContext(ctx, ev)
	}
}
