package awscreds

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

const (
	// DefaultRegion is the STS region used when neither the caller nor the
	// SDK's configuration (AWS_REGION, the shared config) names one.
	DefaultRegion = "us-east-1"

	// stsMaxAttempts is the SDK standard retryer's attempt limit: one retry
	// of a throttled or failed call, so a person is not kept waiting.
	stsMaxAttempts = 2

	// defaultSTSTimeout bounds each STS HTTP attempt when the caller gives
	// no client.
	defaultSTSTimeout = 10 * time.Second
)

// NewSTSClient builds an STS client that signs with the broker's own
// credentials from the SDK's default chain (config.LoadDefaultConfig).
//
// region names the STS region; empty means the SDK's configured region, or
// DefaultRegion if there is none. endpoint, if not empty, overrides the STS
// endpoint (BaseEndpoint), for tests, moto or a VPC endpoint; it must be an
// absolute http or https URL. httpClient, if not nil, carries every call
// (set its timeouts); nil means the SDK's client with a 10 s timeout. Calls
// are retried by the SDK's standard retryer, at most 2 attempts. optFns are
// applied last, so they can override any of this (tests pass
// config.WithCredentialsProvider).
func NewSTSClient(ctx context.Context, region, endpoint string, httpClient *http.Client, optFns ...func(*config.LoadOptions) error) (*sts.Client, error) {
	if endpoint != "" {
		u, err := url.Parse(endpoint)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("new sts client: endpoint %q is not an absolute http(s) url", endpoint)
		}
	}
	opts := []func(*config.LoadOptions) error{
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = stsMaxAttempts })
		}),
	}
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	if httpClient != nil {
		opts = append(opts, config.WithHTTPClient(httpClient))
	} else {
		opts = append(opts, config.WithHTTPClient(awshttp.NewBuildableClient().WithTimeout(defaultSTSTimeout)))
	}
	opts = append(opts, optFns...)
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("new sts client: load aws config: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	return sts.NewFromConfig(cfg, func(o *sts.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	}), nil
}
