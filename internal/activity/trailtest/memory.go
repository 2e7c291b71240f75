package trailtest

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// Memory is a bucket in memory that answers ListObjectsV2 and GetObject as
// S3 does (keys in byte order, prefixes, a delimiter's common prefixes,
// pages of MaxKeys with continuation tokens, NoSuchKey), for the scans of
// tests and benchmarks. Its objects are bytes, or functions that make
// them when they are read, so that a large trail costs little memory. It
// records every listing and read it was asked for. It is safe for
// concurrent use.
type Memory struct {
	// PageSize caps a page below S3's 1,000 keys, to make listings
	// paginate (0: 1,000).
	PageSize int

	bucket  string
	mu      sync.Mutex
	objects map[string]object
	keys    []string // sorted; nil when it must be sorted again
	lists   []Listing
	gets    []string
}

type object struct {
	data []byte
	make func() []byte
}

// Listing is one ListObjectsV2 call Memory answered.
type Listing struct {
	Prefix, Delimiter string
	// Token is the continuation token it was asked to continue from ("" on
	// a listing's first page).
	Token string
}

// NewMemory is an empty bucket named bucket; a call naming another
// bucket fails with NoSuchBucket. The zero Memory answers any name.
func NewMemory(bucket string) *Memory {
	return &Memory{bucket: bucket, objects: map[string]object{}}
}

// Put stores data at key. Memory keeps data itself, not a copy: one slice
// may be served under many keys.
func (m *Memory) Put(key string, data []byte) { m.put(key, object{data: data}) }

// PutFunc stores at key an object that fn makes each time it is read.
// Its listings carry no size.
func (m *Memory) PutFunc(key string, fn func() []byte) { m.put(key, object{make: fn}) }

// PutAll stores every file of files at its key.
func (m *Memory) PutAll(files map[string][]byte) {
	for k, v := range files {
		m.Put(k, v)
	}
}

func (m *Memory) put(key string, o object) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.objects == nil {
		m.objects = map[string]object{}
	}
	if _, ok := m.objects[key]; !ok {
		m.keys = nil
	}
	m.objects[key] = o
}

// Lists are the listings asked for, in order.
func (m *Memory) Lists() []Listing {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.lists)
}

// Gets are the keys read (found or not), in order.
func (m *Memory) Gets() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.gets)
}

// Reset forgets the listings and reads recorded so far.
func (m *Memory) Reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lists, m.gets = nil, nil
}

func (m *Memory) checkBucket(op string, name *string) error {
	if m.bucket == "" || aws.ToString(name) == m.bucket {
		return nil
	}
	return opError(op, &types.NoSuchBucket{Message: aws.String("The specified bucket does not exist")})
}

// opError wraps err as the SDK's clients do.
func opError(op string, err error) error {
	return &smithy.OperationError{ServiceID: "S3", OperationName: op, Err: err}
}

// ListObjectsV2 lists the keys under in.Prefix in byte order, rolling
// those with in.Delimiter past the prefix up into CommonPrefixes, at most
// in.MaxKeys (1,000, and PageSize) keys and prefixes to a page.
func (m *Memory) ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, _ ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	if err := ctx.Err(); err != nil {
		return nil, opError("ListObjectsV2", err)
	}
	prefix, delim := aws.ToString(in.Prefix), aws.ToString(in.Delimiter)
	token := aws.ToString(in.ContinuationToken)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lists = append(m.lists, Listing{Prefix: prefix, Delimiter: delim, Token: token})
	if err := m.checkBucket("ListObjectsV2", in.Bucket); err != nil {
		return nil, err
	}
	limit := 1000
	if in.MaxKeys != nil {
		if *in.MaxKeys < 0 {
			return nil, opError("ListObjectsV2", &smithy.GenericAPIError{Code: "InvalidArgument", Message: "max-keys must not be negative"})
		}
		limit = min(limit, int(*in.MaxKeys))
	}
	if m.PageSize > 0 {
		limit = min(limit, m.PageSize)
	}
	// after is the last key or common prefix the previous page returned:
	// this page begins past it (and past every key under it, when it is a
	// common prefix).
	after, afterCommon := aws.ToString(in.StartAfter), false
	if token != "" {
		raw, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil || len(raw) == 0 {
			return nil, opError("ListObjectsV2", &smithy.GenericAPIError{Code: "InvalidArgument", Message: "The continuation token provided is incorrect"})
		}
		after, afterCommon = string(raw[1:]), raw[0] == 'p'
	}
	if m.keys == nil {
		m.keys = make([]string, 0, len(m.objects))
		for k := range m.objects {
			m.keys = append(m.keys, k)
		}
		slices.Sort(m.keys)
	}
	out := &s3.ListObjectsV2Output{
		Name: in.Bucket, Prefix: in.Prefix, Delimiter: in.Delimiter, StartAfter: in.StartAfter,
		ContinuationToken: in.ContinuationToken, MaxKeys: aws.Int32(int32(limit)), IsTruncated: aws.Bool(false),
	}
	i, _ := slices.BinarySearch(m.keys, prefix)
	if after > prefix {
		i, _ = slices.BinarySearch(m.keys, after)
	}
	if limit == 0 {
		out.KeyCount = aws.Int32(0)
		return out, nil
	}
	// last is the last key or common prefix of this page, marked 'k' or
	// 'p': the next page's token.
	var last string
	lastCommon := false
	n := 0
	for ; i < len(m.keys); i++ {
		key := m.keys[i]
		if !strings.HasPrefix(key, prefix) {
			break
		}
		if key <= after {
			continue
		}
		if afterCommon && strings.HasPrefix(key, after) {
			continue // under the common prefix the last page ended with
		}
		common := ""
		if delim != "" {
			if j := strings.Index(key[len(prefix):], delim); j >= 0 {
				common = key[:len(prefix)+j+len(delim)]
			}
		}
		if common != "" && common == last {
			continue
		}
		if n == limit {
			out.IsTruncated = aws.Bool(true)
			mark := "k"
			if lastCommon {
				mark = "p"
			}
			out.NextContinuationToken = aws.String(base64.RawURLEncoding.EncodeToString([]byte(mark + last)))
			break
		}
		n++
		if common != "" {
			out.CommonPrefixes = append(out.CommonPrefixes, types.CommonPrefix{Prefix: aws.String(common)})
			last, lastCommon = common, true
			continue
		}
		obj := types.Object{Key: aws.String(key), StorageClass: types.ObjectStorageClassStandard}
		if o := m.objects[key]; o.make == nil {
			obj.Size = aws.Int64(int64(len(o.data)))
		}
		out.Contents = append(out.Contents, obj)
		last, lastCommon = key, false
	}
	out.KeyCount = aws.Int32(int32(n))
	return out, nil
}

// GetObject returns the object at in.Key as its Body; a key that holds
// none is NoSuchKey.
func (m *Memory) GetObject(ctx context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	if err := ctx.Err(); err != nil {
		return nil, opError("GetObject", err)
	}
	key := aws.ToString(in.Key)
	m.mu.Lock()
	m.gets = append(m.gets, key)
	err := m.checkBucket("GetObject", in.Bucket)
	o, ok := m.objects[key]
	m.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, opError("GetObject", &types.NoSuchKey{Message: aws.String(fmt.Sprintf("The specified key does not exist: %q", key))})
	}
	data := o.data
	if o.make != nil {
		data = o.make()
	}
	return &s3.GetObjectOutput{Body: io.NopCloser(bytes.NewReader(data)), ContentLength: aws.Int64(int64(len(data)))}, nil
}
