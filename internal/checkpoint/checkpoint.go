// Package checkpoint keeps the ledger's verified checkpoint where the
// replicas that need it can read it: a file in the state directory (one
// machine: a restart), or an S3 object (a fleet, or Lambda: every new
// instance). It moves bytes only; what they mean, and their MAC, are the
// ledger's. Whoever can write either place can only make a new instance
// start cold or from an older checkpoint: one whose MAC does not hold is
// ignored.
package checkpoint

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/elevate-gitops/elevate/internal/privfile"
)

// MaxSize bounds a checkpoint read back.
const MaxSize = 256 << 20

// File is a checkpoint in a file, written atomically and readable by its
// owner only.
type File struct{ Path string }

// Load reads the checkpoint; nil, nil when there is none.
func (f File) Load(context.Context) ([]byte, error) {
	data, err := privfile.ReadPrivate(f.Path, MaxSize)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return data, err
}

// Save replaces the checkpoint.
func (f File) Save(_ context.Context, data []byte) error {
	dir := filepath.Dir(f.Path)
	if err := privfile.EnsureDir(dir); err != nil {
		return err
	}
	return privfile.WriteAtomic(dir, f.Path, data)
}

func (f File) String() string { return f.Path }

// S3 is a checkpoint in an S3 object.
type S3 struct {
	client      *s3.Client
	Bucket, Key string
}

// ParseURL splits s3://BUCKET/KEY.
func ParseURL(raw string) (bucket, key string, err error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "s3" || u.Host == "" || strings.Trim(u.Path, "/") == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", "", fmt.Errorf("--checkpoint-url %q: want s3://BUCKET/KEY", raw)
	}
	return u.Host, strings.TrimPrefix(u.Path, "/"), nil
}

// OpenS3 is the checkpoint at s3://BUCKET/KEY, with the default AWS
// configuration (the broker's role; AWS_ENDPOINT_URL_S3 is honoured).
func OpenS3(ctx context.Context, raw string, optFns ...func(*config.LoadOptions) error) (*S3, error) {
	bucket, key, err := ParseURL(raw)
	if err != nil {
		return nil, err
	}
	cfg, err := config.LoadDefaultConfig(ctx, optFns...)
	if err != nil {
		return nil, fmt.Errorf("load the AWS configuration for %s: %w", raw, err)
	}
	return NewS3(S3Client(cfg), bucket, key), nil
}

// S3Client is the S3 client of elevate's buckets under cfg. Path-style
// addressing works with every endpoint, S3's own and an emulator's on
// loopback alike.
func S3Client(cfg aws.Config) *s3.Client {
	return s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle, o.DisableLogOutputChecksumValidationSkipped = true, true })
}

// NewS3 is the checkpoint in bucket under key.
func NewS3(client *s3.Client, bucket, key string) *S3 {
	return &S3{client: client, Bucket: bucket, Key: key}
}

// Load reads the checkpoint; nil, nil when there is none.
func (c *S3) Load(ctx context.Context) ([]byte, error) {
	out, err := c.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(c.Bucket), Key: aws.String(c.Key)})
	var missing *types.NoSuchKey
	if errors.As(err, &missing) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", c, err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(io.LimitReader(out.Body, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", c, err)
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%s is over %d bytes", c, MaxSize)
	}
	return data, nil
}

// Save replaces the checkpoint.
func (c *S3) Save(ctx context.Context, data []byte) error {
	_, err := c.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(c.Bucket), Key: aws.String(c.Key), Body: bytes.NewReader(data),
		ContentType: aws.String("application/octet-stream")})
	if err != nil {
		return fmt.Errorf("write %s: %w", c, err)
	}
	return nil
}

func (c *S3) String() string { return "s3://" + c.Bucket + "/" + c.Key }
