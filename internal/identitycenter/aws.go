package identitycenter

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/identitystore"
	istypes "github.com/aws/aws-sdk-go-v2/service/identitystore/document"
	idtypes "github.com/aws/aws-sdk-go-v2/service/identitystore/types"
	"github.com/aws/aws-sdk-go-v2/service/ssoadmin"
	"github.com/aws/aws-sdk-go-v2/service/ssoadmin/types"
	"github.com/aws/smithy-go"
)

// retryable reports whether err means "try again": ConflictException
// (another write to the same permission set is under way) or throttling.
func retryable(err error) bool {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.ErrorCode() {
	case "ConflictException", "ThrottlingException", "Throttling", "TooManyRequestsException":
		return true
	}
	return false
}

// notFound reports whether err is AWS's ResourceNotFoundException.
func notFound(err error) bool {
	var apiErr smithy.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode() == "ResourceNotFoundException"
}

// wait is the jittered wait before try or poll n+1: Backoff doubled n
// times, at most maxWait, jittered into [w/2, w).
func (r *Reconciler) wait(n int) time.Duration {
	w := r.opts.Backoff
	for range n {
		if w >= maxWait/2 {
			w = maxWait
			break
		}
		w *= 2
	}
	w = min(w, maxWait)
	return w/2 + time.Duration(r.opts.Rand()*float64(w/2))
}

// call makes one AWS call, again while AWS answers ConflictException or
// throttling, up to Attempts tries with jittered backoff. Each try counts
// in Calls and has its own timeout.
func (r *Reconciler) call(ctx context.Context, op string, fn func(ctx context.Context) error) error {
	for n := 0; ; n++ {
		r.calls.Add(1)
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		err := fn(cctx)
		cancel()
		if err == nil {
			return nil
		}
		if !retryable(err) || n+1 >= r.opts.Attempts {
			if n > 0 {
				return fmt.Errorf("%s (%d tries): %w", op, n+1, err)
			}
			return fmt.Errorf("%s: %w", op, err)
		}
		d := r.wait(n)
		r.log.Debug("identity center call retried", "op", op, "try", n+1, "wait", d, "error", err)
		if err := r.opts.Sleep(ctx, d); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
	}
}

// invoke is call for an operation with an output: an answer without one
// is an error, never a nil to follow.
func invoke[T any](ctx context.Context, r *Reconciler, op string, fn func(ctx context.Context) (*T, error)) (*T, error) {
	var out *T
	err := r.call(ctx, op, func(ctx context.Context) (err error) {
		out, err = fn(ctx)
		if err == nil && out == nil {
			err = errors.New("AWS answered nothing")
		}
		return err
	})
	return out, err
}

// outcome is where an asynchronous write stands.
type outcome struct {
	status    types.StatusValues
	reason    string // FailureReason of a FAILED write
	requestID string
}

// statusOf reads an operation status AWS answered, refusing a missing one.
func statusOf(s *types.AccountAssignmentOperationStatus) (outcome, error) {
	if s == nil {
		return outcome{}, errors.New("AWS answered no status")
	}
	o := outcome{status: s.Status, reason: aws.ToString(s.FailureReason), requestID: aws.ToString(s.RequestId)}
	return o, o.check()
}

func provisioningOf(s *types.PermissionSetProvisioningStatus) (outcome, error) {
	if s == nil {
		return outcome{}, errors.New("AWS answered no status")
	}
	o := outcome{status: s.Status, reason: aws.ToString(s.FailureReason), requestID: aws.ToString(s.RequestId)}
	return o, o.check()
}

func (o outcome) check() error {
	switch o.status {
	case types.StatusValuesSucceeded, types.StatusValuesFailed:
		return nil
	case types.StatusValuesInProgress:
		if o.requestID == "" {
			return errors.New("AWS answered IN_PROGRESS without a request id to poll")
		}
		return nil
	}
	return fmt.Errorf("AWS answered the unknown status %q", o.status)
}

// poll describes o while it is IN_PROGRESS, at most PollLimit times.
func (r *Reconciler) poll(ctx context.Context, o outcome, describe func(ctx context.Context, requestID string) (outcome, error)) (outcome, error) {
	for n := 0; o.status == types.StatusValuesInProgress && n < r.opts.PollLimit; n++ {
		if err := r.opts.Sleep(ctx, r.wait(n)); err != nil {
			return o, err
		}
		next, err := describe(ctx, o.requestID)
		if err != nil {
			return o, err
		}
		if next.requestID == "" {
			next.requestID = o.requestID
		}
		o = next
	}
	return o, nil
}

func (r *Reconciler) describeCreation(ctx context.Context, requestID string) (outcome, error) {
	out, err := invoke(ctx, r, "DescribeAccountAssignmentCreationStatus", func(ctx context.Context) (*ssoadmin.DescribeAccountAssignmentCreationStatusOutput, error) {
		return r.admin.DescribeAccountAssignmentCreationStatus(ctx, &ssoadmin.DescribeAccountAssignmentCreationStatusInput{
			InstanceArn:                        aws.String(r.cfg.InstanceARN),
			AccountAssignmentCreationRequestId: aws.String(requestID),
		})
	})
	if err != nil {
		return outcome{}, err
	}
	return statusOf(out.AccountAssignmentCreationStatus)
}

func (r *Reconciler) describeDeletion(ctx context.Context, requestID string) (outcome, error) {
	out, err := invoke(ctx, r, "DescribeAccountAssignmentDeletionStatus", func(ctx context.Context) (*ssoadmin.DescribeAccountAssignmentDeletionStatusOutput, error) {
		return r.admin.DescribeAccountAssignmentDeletionStatus(ctx, &ssoadmin.DescribeAccountAssignmentDeletionStatusInput{
			InstanceArn:                        aws.String(r.cfg.InstanceARN),
			AccountAssignmentDeletionRequestId: aws.String(requestID),
		})
	})
	if err != nil {
		return outcome{}, err
	}
	return statusOf(out.AccountAssignmentDeletionStatus)
}

// create creates a USER assignment, or looks again at one still in
// flight, and polls it.
func (r *Reconciler) create(ctx context.Context, k assignKey, now time.Time) (outcome, error) {
	var o outcome
	if w, ok := r.inflight[k]; ok && w.create {
		delete(r.inflight, k)
		var err error
		o, err = r.describeCreation(ctx, w.requestID)
		if err != nil && !notFound(err) {
			r.inflight[k] = w
			return outcome{}, err
		}
		if err != nil {
			o = outcome{} // AWS forgot the request: create anew
		}
	}
	if o.status == "" {
		out, err := invoke(ctx, r, "CreateAccountAssignment", func(ctx context.Context) (*ssoadmin.CreateAccountAssignmentOutput, error) {
			return r.admin.CreateAccountAssignment(ctx, &ssoadmin.CreateAccountAssignmentInput{
				InstanceArn:      aws.String(r.cfg.InstanceARN),
				PermissionSetArn: aws.String(k.ps),
				PrincipalId:      aws.String(k.user),
				PrincipalType:    types.PrincipalTypeUser,
				TargetId:         aws.String(k.account),
				TargetType:       types.TargetTypeAwsAccount,
			})
		})
		if err != nil {
			return outcome{}, err
		}
		if o, err = statusOf(out.AccountAssignmentCreationStatus); err != nil {
			return outcome{}, fmt.Errorf("CreateAccountAssignment: %w", err)
		}
	}
	o, err := r.poll(ctx, o, r.describeCreation)
	if o.status == types.StatusValuesInProgress {
		r.inflight[k] = inflightWrite{create: true, requestID: o.requestID, at: now}
	}
	return o, err
}

// remove deletes an assignment, or looks again at a deletion still in
// flight, and polls it. An assignment AWS does not know counts as deleted.
func (r *Reconciler) remove(ctx context.Context, k assignKey, principalType types.PrincipalType, now time.Time) (outcome, error) {
	var o outcome
	if w, ok := r.inflight[k]; ok && !w.create && principalType == types.PrincipalTypeUser {
		delete(r.inflight, k)
		var err error
		o, err = r.describeDeletion(ctx, w.requestID)
		if err != nil && !notFound(err) {
			r.inflight[k] = w
			return outcome{}, err
		}
		if err != nil {
			o = outcome{}
		}
	}
	if o.status == "" {
		out, err := invoke(ctx, r, "DeleteAccountAssignment", func(ctx context.Context) (*ssoadmin.DeleteAccountAssignmentOutput, error) {
			return r.admin.DeleteAccountAssignment(ctx, &ssoadmin.DeleteAccountAssignmentInput{
				InstanceArn:      aws.String(r.cfg.InstanceARN),
				PermissionSetArn: aws.String(k.ps),
				PrincipalId:      aws.String(k.user),
				PrincipalType:    principalType,
				TargetId:         aws.String(k.account),
				TargetType:       types.TargetTypeAwsAccount,
			})
		})
		if notFound(err) {
			return outcome{status: types.StatusValuesSucceeded}, nil
		}
		if err != nil {
			return outcome{}, err
		}
		if o, err = statusOf(out.AccountAssignmentDeletionStatus); err != nil {
			return outcome{}, fmt.Errorf("DeleteAccountAssignment: %w", err)
		}
	}
	o, err := r.poll(ctx, o, r.describeDeletion)
	if o.status == types.StatusValuesInProgress && principalType == types.PrincipalTypeUser {
		r.inflight[k] = inflightWrite{requestID: o.requestID, at: now}
	}
	return o, err
}

// provision provisions the permission set to account and polls it.
func (r *Reconciler) provision(ctx context.Context, psARN, account string) (outcome, error) {
	out, err := invoke(ctx, r, "ProvisionPermissionSet", func(ctx context.Context) (*ssoadmin.ProvisionPermissionSetOutput, error) {
		return r.admin.ProvisionPermissionSet(ctx, &ssoadmin.ProvisionPermissionSetInput{
			InstanceArn:      aws.String(r.cfg.InstanceARN),
			PermissionSetArn: aws.String(psARN),
			TargetType:       types.ProvisionTargetTypeAwsAccount,
			TargetId:         aws.String(account),
		})
	})
	if err != nil {
		return outcome{}, err
	}
	o, err := provisioningOf(out.PermissionSetProvisioningStatus)
	if err != nil {
		return outcome{}, fmt.Errorf("ProvisionPermissionSet: %w", err)
	}
	return r.poll(ctx, o, func(ctx context.Context, requestID string) (outcome, error) {
		out, err := invoke(ctx, r, "DescribePermissionSetProvisioningStatus", func(ctx context.Context) (*ssoadmin.DescribePermissionSetProvisioningStatusOutput, error) {
			return r.admin.DescribePermissionSetProvisioningStatus(ctx, &ssoadmin.DescribePermissionSetProvisioningStatusInput{
				InstanceArn:                     aws.String(r.cfg.InstanceARN),
				ProvisionPermissionSetRequestId: aws.String(requestID),
			})
		})
		if err != nil {
			return outcome{}, err
		}
		return provisioningOf(out.PermissionSetProvisioningStatus)
	})
}

// maxPages bounds a listing, against a NextToken that never ends.
const maxPages = 1000

// provisionedAccounts lists the accounts the permission set is provisioned
// to; with status LATEST_PERMISSION_SET_NOT_PROVISIONED, those whose role
// does not have its latest version.
func (r *Reconciler) provisionedAccounts(ctx context.Context, psARN string, status types.ProvisioningStatus) ([]string, error) {
	var accounts []string
	var token *string
	for range maxPages {
		out, err := invoke(ctx, r, "ListAccountsForProvisionedPermissionSet", func(ctx context.Context) (*ssoadmin.ListAccountsForProvisionedPermissionSetOutput, error) {
			return r.admin.ListAccountsForProvisionedPermissionSet(ctx, &ssoadmin.ListAccountsForProvisionedPermissionSetInput{
				InstanceArn:        aws.String(r.cfg.InstanceARN),
				PermissionSetArn:   aws.String(psARN),
				ProvisioningStatus: status,
				NextToken:          token,
			})
		})
		if err != nil {
			return nil, err
		}
		accounts = append(accounts, out.AccountIds...)
		if aws.ToString(out.NextToken) == "" || aws.ToString(out.NextToken) == aws.ToString(token) {
			return accounts, nil
		}
		token = out.NextToken
	}
	return nil, fmt.Errorf("ListAccountsForProvisionedPermissionSet: more than %d pages", maxPages)
}

// principal is the subject of an assignment.
type principal struct {
	typ types.PrincipalType
	id  string
}

// assignments lists the assignments of the permission set in account.
func (r *Reconciler) assignments(ctx context.Context, psARN, account string) (map[principal]bool, error) {
	found := map[principal]bool{}
	var token *string
	for range maxPages {
		out, err := invoke(ctx, r, "ListAccountAssignments", func(ctx context.Context) (*ssoadmin.ListAccountAssignmentsOutput, error) {
			return r.admin.ListAccountAssignments(ctx, &ssoadmin.ListAccountAssignmentsInput{
				InstanceArn:      aws.String(r.cfg.InstanceARN),
				PermissionSetArn: aws.String(psARN),
				AccountId:        aws.String(account),
				NextToken:        token,
			})
		})
		if err != nil {
			return nil, err
		}
		for _, a := range out.AccountAssignments {
			// Trust only what answers the question asked.
			if a.AccountId != nil && aws.ToString(a.AccountId) != account ||
				a.PermissionSetArn != nil && aws.ToString(a.PermissionSetArn) != psARN ||
				aws.ToString(a.PrincipalId) == "" {
				continue
			}
			found[principal{a.PrincipalType, aws.ToString(a.PrincipalId)}] = true
		}
		if aws.ToString(out.NextToken) == "" || aws.ToString(out.NextToken) == aws.ToString(token) {
			return found, nil
		}
		token = out.NextToken
	}
	return nil, fmt.Errorf("ListAccountAssignments: more than %d pages", maxPages)
}

// inlinePolicy reads the permission set's inline policy ("" for none).
func (r *Reconciler) inlinePolicy(ctx context.Context, psARN string) (string, error) {
	out, err := invoke(ctx, r, "GetInlinePolicyForPermissionSet", func(ctx context.Context) (*ssoadmin.GetInlinePolicyForPermissionSetOutput, error) {
		return r.admin.GetInlinePolicyForPermissionSet(ctx, &ssoadmin.GetInlinePolicyForPermissionSetInput{
			InstanceArn:      aws.String(r.cfg.InstanceARN),
			PermissionSetArn: aws.String(psARN),
		})
	})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.InlinePolicy), nil
}

func (r *Reconciler) putPolicy(ctx context.Context, psARN, text string) error {
	return r.call(ctx, "PutInlinePolicyToPermissionSet", func(ctx context.Context) error {
		_, err := r.admin.PutInlinePolicyToPermissionSet(ctx, &ssoadmin.PutInlinePolicyToPermissionSetInput{
			InstanceArn:      aws.String(r.cfg.InstanceARN),
			PermissionSetArn: aws.String(psARN),
			InlinePolicy:     aws.String(text),
		})
		return err
	})
}

// errNoUser says Identity Center has no user of the UserName.
var errNoUser = errors.New("no such user")

// userID resolves an Identity Center UserName to its UserId, cached.
func (r *Reconciler) userID(ctx context.Context, userName string, now time.Time) (string, error) {
	if c, ok := r.users[userName]; ok && now.Sub(c.at) < userTTL && !c.at.After(now) {
		return c.id, nil
	}
	out, err := invoke(ctx, r, "GetUserId", func(ctx context.Context) (*identitystore.GetUserIdOutput, error) {
		return r.store.GetUserId(ctx, &identitystore.GetUserIdInput{
			IdentityStoreId: aws.String(r.cfg.IdentityStoreID),
			AlternateIdentifier: &idtypes.AlternateIdentifierMemberUniqueAttribute{Value: idtypes.UniqueAttribute{
				AttributePath:  aws.String("userName"),
				AttributeValue: istypes.NewLazyDocument(userName),
			}},
		})
	})
	if notFound(err) {
		return "", errNoUser
	}
	if c, ok := r.users[userName]; err != nil && ok {
		// The identity store failing is no reason to take a person's
		// access away: the id a UserName had an hour ago still serves.
		r.log.Warn("identity center: could not resolve a user again; using the id resolved before", "user_name", userName, "error", err)
		return c.id, nil
	}
	if err != nil {
		return "", err
	}
	id := aws.ToString(out.UserId)
	if id == "" {
		return "", errors.New("GetUserId: AWS answered no UserId")
	}
	r.users[userName] = cachedUser{id: id, at: now}
	return id, nil
}
