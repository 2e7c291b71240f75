package broker

import (
	"context"
	"encoding/base64"
	"net/http"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/elevate-gitops/elevate/internal/brokerapi"
)

// LambdaHandler serves API Gateway HTTP API and Lambda function URL events
// (payload format 2.0) with the broker's HTTP handler, through
// aws-lambda-go-api-proxy. A body that is not the base64 it claims to be is
// answered 400 here: the adapter would report it as a function error.
// fresh, when set, runs before each event: Lambda froze the background
// loops while the function was idle (Syncer.Fresh). When it could not
// catch up in time, a request for credentials is answered 503 not_synced:
// the index may be older than a revocation.
func LambdaHandler(h http.Handler, fresh func(context.Context) bool) func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	adapter := httpadapter.NewV2(h)
	return func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		if fresh != nil && !fresh(ctx) && (ev.RawPath == brokerapi.PathCredentials || ev.RawPath == brokerapi.PathConsole) {
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
