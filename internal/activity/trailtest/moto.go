package trailtest

import (
	"bytes"
	"context"
	"maps"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/elevate-gitops/elevate/internal/testenv"
)

// TrailBucket is the bucket the story's trail writes to in moto.
const TrailBucket = "org-trail-logs"

// Trail is a moto holding a trail's bucket, a reader who may read it and
// a stranger who may not.
type Trail struct {
	Endpoint                string
	ReaderKey, ReaderSecret string
	// StrangerKey may do nothing with the bucket.
	StrangerKey, StrangerSecret string
}

// readPolicy lets its holder list and read the trail's bucket.
const readPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:ListBucket","s3:GetObject"],"Resource":["arn:aws:s3:::org-trail-logs","arn:aws:s3:::org-trail-logs/*"]}]}`

// StartMoto starts moto with files in TrailBucket and two IAM users, then
// lets moto check every later call's signature and IAM policy.
func StartMoto(t testing.TB, files map[string][]byte) Trail {
	t.Helper()
	// The setup's calls, each answered without authentication.
	setup := 1 + len(files) + 2*2 + 1
	endpoint := testenv.StartMoto(t, setup)
	ctx := context.Background()
	Upload(t, endpoint, true, files)
	iamc := iam.NewFromConfig(Config(endpoint, "setup", "setup"))
	user := func(name string) (string, string) {
		if _, err := iamc.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(name)}); err != nil {
			t.Fatal(err)
		}
		out, err := iamc.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.AccessKey.AccessKeyId), aws.ToString(out.AccessKey.SecretAccessKey)
	}
	tr := Trail{Endpoint: endpoint}
	tr.ReaderKey, tr.ReaderSecret = user("trail-reader")
	tr.StrangerKey, tr.StrangerSecret = user("stranger")
	if _, err := iamc.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("trail-reader"), PolicyName: aws.String("read-trail"), PolicyDocument: aws.String(readPolicy)}); err != nil {
		t.Fatal(err)
	}
	return tr
}

// Upload puts files in TrailBucket at endpoint, creating the bucket first
// when create is set.
func Upload(t testing.TB, endpoint string, create bool, files map[string][]byte) {
	t.Helper()
	ctx := context.Background()
	s3c := Client(endpoint, "setup", "setup")
	if create {
		if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(TrailBucket)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(files)) {
		if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(TrailBucket), Key: aws.String(k), Body: bytes.NewReader(files[k])}); err != nil {
			t.Fatal(err)
		}
	}
}

// Config is an AWS configuration for endpoint with a static key.
func Config(endpoint, key, secret string) aws.Config {
	return aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider(key, secret, "")}
}

// Client is an S3 client of endpoint with a static key.
func Client(endpoint, key, secret string) *s3.Client {
	return s3.NewFromConfig(Config(endpoint, key, secret), func(o *s3.Options) { o.UsePathStyle = true })
}
