package icfake

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/identitystore"
	"github.com/aws/aws-sdk-go-v2/service/identitystore/document"
	idtypes "github.com/aws/aws-sdk-go-v2/service/identitystore/types"
	"github.com/aws/aws-sdk-go-v2/service/ssoadmin"
	"github.com/aws/aws-sdk-go-v2/service/ssoadmin/types"
	"github.com/aws/smithy-go"
)

// recorder is a testing.TB that records the errors the fake reports
// instead of failing the test.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) { r.errs = append(r.errs, format) }

// The SDK's clients speak to the fake: the shapes, statuses and errors
// decode as the SDK decodes AWS's.
func TestSDKRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := New(t)
	admin, store := s.SSOAdmin(), s.IdentityStore()
	ps := s.AddPermissionSet("PaymentsAdmin")
	alice := s.AddUser("alice")

	got, err := store.GetUserId(ctx, &identitystore.GetUserIdInput{
		IdentityStoreId: aws.String(s.IdentityStoreID),
		AlternateIdentifier: &idtypes.AlternateIdentifierMemberUniqueAttribute{Value: idtypes.UniqueAttribute{
			AttributePath: aws.String("userName"), AttributeValue: document.NewLazyDocument("alice"),
		}},
	})
	if err != nil || aws.ToString(got.UserId) != alice {
		t.Fatalf("GetUserId(alice) = %v, %v; want %s", got, err, alice)
	}
	_, err = store.GetUserId(ctx, &identitystore.GetUserIdInput{
		IdentityStoreId: aws.String(s.IdentityStoreID),
		AlternateIdentifier: &idtypes.AlternateIdentifierMemberUniqueAttribute{Value: idtypes.UniqueAttribute{
			AttributePath: aws.String("userName"), AttributeValue: document.NewLazyDocument("nobody"),
		}},
	})
	var notFound *idtypes.ResourceNotFoundException
	if !errors.As(err, &notFound) || notFound.ResourceType != idtypes.ResourceTypeUser {
		t.Errorf("GetUserId(nobody): %v, want a ResourceNotFoundException of a USER", err)
	}

	s.Script("CreateAccountAssignment", Outcome{Pending: 1})
	created, err := admin.CreateAccountAssignment(ctx, &ssoadmin.CreateAccountAssignmentInput{
		InstanceArn: aws.String(s.InstanceARN), PermissionSetArn: aws.String(ps),
		PrincipalId: aws.String(alice), PrincipalType: types.PrincipalTypeUser,
		TargetId: aws.String("111111111111"), TargetType: types.TargetTypeAwsAccount,
	})
	if err != nil {
		t.Fatal(err)
	}
	st := created.AccountAssignmentCreationStatus
	if st.Status != types.StatusValuesInProgress || st.CreatedDate == nil || st.CreatedDate.IsZero() {
		t.Fatalf("CreateAccountAssignment: %+v, want IN_PROGRESS with a date", st)
	}
	for _, want := range []types.StatusValues{types.StatusValuesInProgress, types.StatusValuesSucceeded} {
		d, err := admin.DescribeAccountAssignmentCreationStatus(ctx, &ssoadmin.DescribeAccountAssignmentCreationStatusInput{
			InstanceArn: aws.String(s.InstanceARN), AccountAssignmentCreationRequestId: st.RequestId,
		})
		if err != nil || d.AccountAssignmentCreationStatus.Status != want {
			t.Fatalf("DescribeAccountAssignmentCreationStatus: %v, %v; want %s", d, err, want)
		}
	}
	list, err := admin.ListAccountAssignments(ctx, &ssoadmin.ListAccountAssignmentsInput{
		InstanceArn: aws.String(s.InstanceARN), PermissionSetArn: aws.String(ps), AccountId: aws.String("111111111111"),
	})
	if err != nil || len(list.AccountAssignments) != 1 || aws.ToString(list.AccountAssignments[0].PrincipalId) != alice ||
		list.AccountAssignments[0].PrincipalType != types.PrincipalTypeUser {
		t.Fatalf("ListAccountAssignments: %+v, %v", list, err)
	}

	for code, want := range map[string]any{
		"ConflictException":     new(*types.ConflictException),
		"ThrottlingException":   new(*types.ThrottlingException),
		"AccessDeniedException": new(*types.AccessDeniedException),
	} {
		s.Fail("GetInlinePolicyForPermissionSet", 1, code)
		_, err := admin.GetInlinePolicyForPermissionSet(ctx, &ssoadmin.GetInlinePolicyForPermissionSetInput{
			InstanceArn: aws.String(s.InstanceARN), PermissionSetArn: aws.String(ps),
		})
		var apiErr smithy.APIError
		if !errors.As(err, &apiErr) || apiErr.ErrorCode() != code || !errors.As(err, want) {
			t.Errorf("a scripted %s decoded as %v", code, err)
		}
	}

	big := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::` + strings.Repeat("x", MaxInlinePolicy) + `"}]}`
	_, err = admin.PutInlinePolicyToPermissionSet(ctx, &ssoadmin.PutInlinePolicyToPermissionSetInput{
		InstanceArn: aws.String(s.InstanceARN), PermissionSetArn: aws.String(ps), InlinePolicy: aws.String(big),
	})
	var invalid *types.ValidationException
	if !errors.As(err, &invalid) {
		t.Errorf("an inline policy over %d characters: %v, want a ValidationException", MaxInlinePolicy, err)
	}
}

// Lists lag a write by the number of lists SetListLag says, and pages
// follow NextToken.
func TestListLagAndPages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := New(t)
	admin := s.SSOAdmin()
	ps := s.AddPermissionSet("PaymentsAdmin")
	s.SetListLag(2)
	s.SetPageSize(2)
	for _, name := range []string{"a", "b", "c"} {
		s.Assign(Assignment{ps, "111111111111", "USER", s.AddUser(name)})
	}
	count := func() int {
		n := 0
		var token *string
		for {
			out, err := admin.ListAccountAssignments(ctx, &ssoadmin.ListAccountAssignmentsInput{
				InstanceArn: aws.String(s.InstanceARN), PermissionSetArn: aws.String(ps), AccountId: aws.String("111111111111"), NextToken: token,
			})
			if err != nil {
				t.Fatal(err)
			}
			n += len(out.AccountAssignments)
			if out.NextToken == nil {
				return n
			}
			token = out.NextToken
		}
	}
	for i, want := range []int{0, 0, 3, 3} {
		if got := count(); got != want {
			t.Errorf("list %d: %d assignments, want %d", i+1, got, want)
		}
	}
}

// A request that is not signed, or signed with other credentials, is
// refused and fails the test.
func TestUnsignedRequestRefused(t *testing.T) {
	t.Parallel()
	rec := &recorder{TB: t}
	s := New(rec)
	for name, auth := range map[string]string{
		"unsigned": "",
		"forged":   "AWS4-HMAC-SHA256 Credential=" + AccessKeyID + "/20260101/us-east-1/sso/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature=00",
	} {
		rec.errs = nil
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/", bytes.NewReader([]byte(`{}`)))
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		req.Header.Set("X-Amz-Target", "SWBExternalService.GetInlinePolicyForPermissionSet")
		req.Header.Set("X-Amz-Date", "20260101T000000Z")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode < 400 || !strings.Contains(string(body), "InvalidSignatureException") || len(rec.errs) == 0 {
			t.Errorf("%s: %d %s, reported %q: want a refusal that fails the test", name, resp.StatusCode, body, rec.errs)
		}
	}
	if calls := s.Calls(); len(calls) != 0 {
		t.Errorf("refused requests were answered: %+v", calls)
	}
}
