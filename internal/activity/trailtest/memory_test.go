package trailtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/elevate-gitops/elevate/internal/testenv"
)

// memoryKeys exercise prefixes, delimiters and byte order ("a/b" before
// "a/b/", "a-" before "a/").
var memoryKeys = []string{
	"a-x", "a/", "a/b", "a/b/1", "a/b/2", "a/b/3", "a/c/1", "a/c/2/deep", "a/d", "a/e/1", "a/f/1",
	"b/1", "b/2", "c",
}

// lister is what page reads of a bucket.
type lister interface {
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
}

// pages lists prefix with delimiter in pages of limit, as "k:key" and
// "p:prefix" per page.
func pages(t *testing.T, b lister, bucket, prefix, delim string, limit int32) [][]string {
	t.Helper()
	in := &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)}
	if delim != "" {
		in.Delimiter = aws.String(delim)
	}
	p := s3.NewListObjectsV2Paginator(b, in, func(o *s3.ListObjectsV2PaginatorOptions) { o.Limit = limit })
	var out [][]string
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		// S3 sorts keys and prefixes together; a page lists each apart.
		var items []string
		for _, o := range page.Contents {
			items = append(items, "k:"+aws.ToString(o.Key))
		}
		for _, cp := range page.CommonPrefixes {
			items = append(items, "p:"+aws.ToString(cp.Prefix))
		}
		if int(aws.ToInt32(page.KeyCount)) != len(items) {
			t.Errorf("page of %q: KeyCount %d, %d items", prefix, aws.ToInt32(page.KeyCount), len(items))
		}
		out = append(out, items)
		if len(out) > 100 {
			t.Fatalf("listing %q does not end", prefix)
		}
	}
	return out
}

const bucket = "memory-bucket"

var listings = []struct {
	prefix, delim string
	limit         int32
}{
	{"", "", 0}, {"", "/", 0}, {"a/", "/", 0}, {"a/", "/", 2}, {"a/", "/", 1}, {"a/", "", 3},
	{"a/b", "/", 0}, {"a/b/", "", 2}, {"", "/", 1}, {"zz", "/", 0}, {"a/c/", "/", 1},
}

// TestMemoryListsAsS3 lists the same keys in Memory and in moto's S3,
// page by page.
func TestMemoryListsAsS3(t *testing.T) {
	endpoint := testenv.StartMoto(t, -1)
	ctx := context.Background()
	real := Client(endpoint, "test", "test")
	if _, err := real.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	mem := NewMemory(bucket)
	for _, k := range memoryKeys {
		if _, err := real.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(k), Body: bytes.NewReader([]byte(k))}); err != nil {
			t.Fatal(err)
		}
		mem.Put(k, []byte(k))
	}
	for _, l := range listings {
		t.Run(fmt.Sprintf("%q %q %d", l.prefix, l.delim, l.limit), func(t *testing.T) {
			want := pages(t, real, bucket, l.prefix, l.delim, l.limit)
			got := pages(t, mem, bucket, l.prefix, l.delim, l.limit)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("pages (-moto +memory):\n%s", diff)
			}
		})
	}
}

func TestMemory(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	mem := NewMemory(bucket)
	for _, k := range memoryKeys {
		mem.Put(k, []byte(k))
	}
	made := 0
	mem.PutFunc("lazy", func() []byte { made++; return []byte("made") })

	t.Run("pages", func(t *testing.T) {
		got := pages(t, mem, bucket, "a/", "/", 2)
		want := [][]string{{"k:a/", "k:a/b"}, {"p:a/b/", "p:a/c/"}, {"k:a/d", "p:a/e/"}, {"p:a/f/"}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("pages (-want +got):\n%s", diff)
		}
	})

	t.Run("page size", func(t *testing.T) {
		small := NewMemory("")
		small.PageSize = 1
		small.Put("x/1", nil)
		small.Put("x/2", nil)
		if got := pages(t, small, "any", "x/", "", 0); len(got) != 2 {
			t.Errorf("pages %v, want one key a page", got)
		}
	})

	t.Run("get", func(t *testing.T) {
		for range 2 {
			out, err := mem.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("lazy")})
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(out.Body)
			if string(body) != "made" {
				t.Errorf("body %q", body)
			}
		}
		if made != 2 {
			t.Errorf("made %d times, want at each read", made)
		}
	})

	t.Run("no such key", func(t *testing.T) {
		_, err := mem.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("nope")})
		var nsk *types.NoSuchKey
		var api smithy.APIError
		if !errors.As(err, &nsk) || !errors.As(err, &api) || api.ErrorCode() != "NoSuchKey" {
			t.Errorf("error %v, want NoSuchKey", err)
		}
	})

	t.Run("no such bucket", func(t *testing.T) {
		_, err := mem.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("other")})
		var nsb *types.NoSuchBucket
		if !errors.As(err, &nsb) {
			t.Errorf("error %v, want NoSuchBucket", err)
		}
	})

	t.Run("records", func(t *testing.T) {
		m := NewMemory("")
		m.Put("k", nil)
		m.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Prefix: aws.String("p/"), Delimiter: aws.String("/")})
		m.GetObject(ctx, &s3.GetObjectInput{Key: aws.String("k")})
		m.GetObject(ctx, &s3.GetObjectInput{Key: aws.String("missing")})
		if diff := cmp.Diff([]Listing{{Prefix: "p/", Delimiter: "/"}}, m.Lists()); diff != "" {
			t.Errorf("lists (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"k", "missing"}, m.Gets()); diff != "" {
			t.Errorf("gets (-want +got):\n%s", diff)
		}
		m.Reset()
		if len(m.Lists())+len(m.Gets()) != 0 {
			t.Error("Reset kept records")
		}
	})
}
