package broker

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

// LambdaHandler serves API Gateway HTTP API and Lambda function URL events
// (payload format 2.0) with the broker's HTTP handler.
func LambdaHandler(h http.Handler) func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		body := ev.Body
		if ev.IsBase64Encoded {
			raw, err := base64.StdEncoding.DecodeString(body)
			if err != nil {
				return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusBadRequest, Body: `{"error":"bad_request","message":"invalid base64 body"}`}, nil
			}
			body = string(raw)
		}
		target := ev.RawPath
		if target == "" {
			target = "/"
		}
		if ev.RawQueryString != "" {
			target += "?" + ev.RawQueryString
		}
		req := httptest.NewRequestWithContext(ctx, ev.RequestContext.HTTP.Method, target, strings.NewReader(body))
		for k, v := range ev.Headers {
			req.Header.Set(k, v)
		}
		if len(ev.Cookies) > 0 {
			req.Header.Set("Cookie", strings.Join(ev.Cookies, "; "))
		}
		req.RemoteAddr = ev.RequestContext.HTTP.SourceIP + ":0"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		headers := map[string]string{}
		for k, v := range rec.Header() {
			headers[k] = strings.Join(v, ", ")
		}
		return events.APIGatewayV2HTTPResponse{StatusCode: rec.Code, Headers: headers, Body: rec.Body.String()}, nil
	}
}
