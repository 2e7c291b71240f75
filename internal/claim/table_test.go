package claim

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// fakeTable is a PutItemAPI answering each call with put, and failing the
// test on a call when put is nil.
type fakeTable struct {
	t     *testing.T
	put   func(ctx context.Context, in *dynamodb.PutItemInput) error
	calls int
}

func (f *fakeTable) PutItem(ctx context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	f.calls++
	if f.put == nil {
		f.t.Errorf("unexpected PutItem of %v", in.Item["id"])
		return nil, errors.New("unexpected call")
	}
	if err := f.put(ctx, in); err != nil {
		return nil, err
	}
	return &dynamodb.PutItemOutput{}, nil
}

// The PutItem writes id, ttl and claimed_at, and succeeds only when no
// unexpired item holds the id, within its own 5 s.
func TestTablePutsAConditionalItem(t *testing.T) {
	t.Parallel()
	at := time.Date(2030, 1, 2, 3, 4, 5, 500_000_000, time.UTC)
	var got *dynamodb.PutItemInput
	fake := &fakeTable{t: t, put: func(ctx context.Context, in *dynamodb.PutItemInput) error {
		deadline, ok := ctx.Deadline()
		if !ok || time.Until(deadline) > claimTimeout {
			t.Errorf("PutItem's context: deadline %v (%v): want at most %s away", deadline, ok, claimTimeout)
		}
		got = in
		return nil
	}}
	tbl := NewTable(fake, "elevate-claims", func() time.Time { return at })
	if won, err := tbl.Claim(t.Context(), "notice/42", time.Hour); !won || err != nil {
		t.Fatalf("Claim = %v, %v; want true, nil", won, err)
	}
	want := &dynamodb.PutItemInput{
		TableName: new("elevate-claims"),
		Item: map[string]types.AttributeValue{
			"id":         &types.AttributeValueMemberS{Value: "notice/42"},
			"ttl":        &types.AttributeValueMemberN{Value: fmt.Sprint(at.Add(time.Hour).Unix() + 1)}, // rounded up
			"claimed_at": &types.AttributeValueMemberS{Value: "2030-01-02T03:04:05Z"},
		},
		ConditionExpression:       new("attribute_not_exists(id) OR #ttl < :now"),
		ExpressionAttributeNames:  map[string]string{"#ttl": "ttl"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": &types.AttributeValueMemberN{Value: fmt.Sprint(at.Unix())}},
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreUnexported(dynamodb.PutItemInput{}, types.AttributeValueMemberS{}, types.AttributeValueMemberN{})); diff != "" {
		t.Errorf("PutItemInput (-want +got):\n%s", diff)
	}
}

// A claim that cannot be made is an error, never a grant: the caller does
// not send.
func TestTableFailsClosed(t *testing.T) {
	t.Parallel()
	held := &types.ConditionalCheckFailedException{Message: new("The conditional request failed")}
	for _, tt := range []struct {
		name    string
		err     error
		wantErr bool
	}{
		{"held by another", held, false},
		{"held by another, as the SDK wraps it", &smithy.OperationError{ServiceID: "DynamoDB", OperationName: "PutItem", Err: held}, false},
		{"a generic error", errors.New("connection reset by peer"), true},
		{"a missing table", &types.ResourceNotFoundException{Message: new("Requested resource not found")}, true},
		{"throttled", &types.ProvisionedThroughputExceededException{}, true},
		{"timed out", context.DeadlineExceeded, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tbl := NewTable(&fakeTable{t: t, put: func(context.Context, *dynamodb.PutItemInput) error { return tt.err }}, "elevate-claims", nil)
			won, err := tbl.Claim(t.Context(), "notice/42", time.Hour)
			if won {
				t.Fatalf("Claim = true, %v; want false", err)
			}
			if (err != nil) != tt.wantErr {
				t.Fatalf("Claim error %v; want an error: %v", err, tt.wantErr)
			}
			if err != nil && (!strings.Contains(err.Error(), "elevate-claims") || !errors.Is(err, tt.err)) {
				t.Errorf("error %q: want it to name the table and wrap %v", err, tt.err)
			}
		})
	}
}

// Bad input is an error before any call.
func TestTableRejectsBadInput(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		id   string
		ttl  time.Duration
	}{
		{"empty id", "", time.Hour},
		{"zero ttl", "a", 0},
		{"negative ttl", "a", -time.Hour},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := &fakeTable{t: t}
			if won, err := NewTable(fake, "elevate-claims", nil).Claim(t.Context(), tt.id, tt.ttl); won || err == nil {
				t.Fatalf("Claim = %v, %v; want false and an error", won, err)
			}
			if fake.calls != 0 {
				t.Errorf("%d PutItem calls, want none", fake.calls)
			}
		})
	}
}

func TestOpenTableRejectsAnEmptyName(t *testing.T) {
	t.Parallel()
	if _, err := OpenTable(t.Context(), ""); err == nil {
		t.Fatal("OpenTable(\"\") succeeded")
	}
}
