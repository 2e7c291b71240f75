package endsession

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
)

// lateWriter is one role's inline policy in IAM, where another replica that
// read the policy before our write puts its stale copy back right after our
// read-back: the write is lost unless the writer looks again.
type lateWriter struct {
	mu     sync.Mutex
	doc    *string
	stale  *string // what the other replica read, written after our read-back
	reads  int
	writes int
}

func (f *lateWriter) GetRole(context.Context, *iam.GetRoleInput, ...func(*iam.Options)) (*iam.GetRoleOutput, error) {
	return &iam.GetRoleOutput{Role: &types.Role{MaxSessionDuration: aws.Int32(3600)}}, nil
}

func (f *lateWriter) GetRolePolicy(context.Context, *iam.GetRolePolicyInput, ...func(*iam.Options)) (*iam.GetRolePolicyOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	out := &iam.GetRolePolicyOutput{PolicyDocument: f.doc}
	if f.reads == 2 && f.stale != nil { // our read-back: the other replica's write lands just after it
		f.doc, f.stale = f.stale, nil
	}
	if out.PolicyDocument == nil {
		return nil, &types.NoSuchEntityException{Message: aws.String("no such policy")}
	}
	return out, nil
}

func (f *lateWriter) PutRolePolicy(_ context.Context, in *iam.PutRolePolicyInput, _ ...func(*iam.Options)) (*iam.PutRolePolicyOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes++
	f.doc = in.PolicyDocument
	return &iam.PutRolePolicyOutput{}, nil
}

// A replica's write that lands after our read-back is seen at the settle
// read, and our statement is merged again, beside the other's.
func TestAWriteLostAfterTheReadBackIsMergedAgain(t *testing.T) {
	now := time.Date(2026, 12, 2, 14, 0, 0, 0, time.UTC)
	bob := StatementFor(Ended{Login: "bob", Before: now})
	stale := JSON(&Document{Version: "2012-10-17", Statement: []Statement{bob}})
	f := &lateWriter{stale: &stale}
	e := &Ender{IAMFor: func(context.Context, string) (IAM, error) { return f, nil }, Now: func() time.Time { return now },
		Settle: time.Millisecond, Backoff: time.Millisecond}
	alice := Ended{AccountID: "111111111111", Role: "Admin", Login: "alice", Before: now, Grant: "prod/2026-12/alice"}
	if err := e.End(context.Background(), []Ended{alice}); err != nil {
		t.Fatal(err)
	}
	doc, err := ParseDocument(*f.doc)
	if err != nil {
		t.Fatal(err)
	}
	if !Holds(doc, []Statement{StatementFor(alice), bob}) {
		t.Errorf("the policy lost a statement: %+v", doc.Statement)
	}
	if f.writes != 2 {
		t.Errorf("%d writes, want 2 (the first lost, then merged again)", f.writes)
	}
}
