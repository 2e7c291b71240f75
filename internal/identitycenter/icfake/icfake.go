// Package icfake is an httptest fake of IAM Identity Center: the
// operations of sso-admin and identitystore that package identitycenter
// calls, spoken in their real wire protocol (awsJson1_1: POST /, the
// operation in X-Amz-Target as SWBExternalService.<Operation> or
// AWSIdentityStore.<Operation>, Content-Type application/x-amz-json-1.1,
// the input and output shapes of the Smithy models, errors as
// {"__type": code, "Message": text} with the status each error's
// httpError trait gives: ConflictException 409, ThrottlingException 429,
// ResourceNotFoundException 404, ValidationException 400,
// AccessDeniedException 403, as the SDK's own response snapshots do).
// Every request must carry a SigV4 signature the fake verifies with the
// credentials its clients use; a request it does not expect fails the
// test.
//
// It models what the reconciler depends on: assignment creations and
// deletions, and provisionings, answer IN_PROGRESS and take effect when
// polled (Outcome scripts how many polls and whether they fail); an
// inline policy over 10,240 characters is refused; an assignment is
// listed only after it exists, and with SetListLag only some lists
// later; Fail makes the next calls of an operation answer an error.
package icfake

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/identitystore"
	"github.com/aws/aws-sdk-go-v2/service/ssoadmin"
)

// The credentials and region of the fake's clients; the fake verifies
// each request's signature with them.
const (
	AccessKeyID     = "AKIDICFAKE00000000"
	SecretAccessKey = "icfake/secret/key"
	Region          = "us-east-1"
)

// MaxInlinePolicy is the size limit of a permission set's inline policy,
// in characters.
const MaxInlinePolicy = 10240

// Outcome scripts one asynchronous write (an assignment's creation or
// deletion, a provisioning): the call answers IN_PROGRESS, and so do the
// first Pending polls of its status; the next poll answers FAILED with
// Fail as the FailureReason, or, with Fail empty, SUCCEEDED, and the write
// takes effect then.
type Outcome struct {
	Pending int
	Fail    string
}

// Assignment is one account assignment.
type Assignment struct {
	PermissionSetARN, AccountID, PrincipalType, PrincipalID string
}

// Call is one operation the fake answered (or refused), in order.
type Call struct {
	Op                                     string
	PermissionSetARN, AccountID, Principal string
	Err                                    string // the error code answered, "" for success
}

// Server is the fake. Its methods are safe for concurrent use.
type Server struct {
	URL             string
	InstanceARN     string
	IdentityStoreID string

	t   testing.TB
	srv *httptest.Server

	mu       sync.Mutex
	users    map[string]string // UserName -> UserId
	sets     map[string]*permissionSet
	live     []*assignment
	ghosts   []*assignment // deleted, still listed (SetListLag)
	requests map[string]*request
	failures map[string][]string // op -> the codes of its next calls
	outcomes map[string][]Outcome
	listLag  int
	lists    map[pair]int // ListAccountAssignments calls of each pair
	pageSize int
	seq      int
	calls    []Call
}

type pair struct{ ps, account string }

type permissionSet struct {
	name, arn   string
	policy      string
	provisioned map[string]string // account -> the policy provisioned there
}

type assignment struct {
	Assignment
	// shown is the pair's list count after which lists show it (live),
	// or until which they still do (ghosts).
	shown int
}

type request struct {
	kind   string // "create", "delete", "provision"
	a      Assignment
	policy string // a provisioning's policy, as at its request
	out    Outcome
	polls  int
	status string
	reason string
	at     time.Time
}

// New starts a fake with one instance and identity store; t's cleanup
// stops it.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{
		InstanceARN:     "arn:aws:sso:::instance/ssoins-icfake0000000001",
		IdentityStoreID: "d-icfake0001",
		t:               t,
		users:           map[string]string{},
		sets:            map[string]*permissionSet{},
		requests:        map[string]*request{},
		failures:        map[string][]string{},
		outcomes:        map[string][]Outcome{},
		lists:           map[pair]int{},
		pageSize:        100,
	}
	s.srv = httptest.NewServer(s)
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

// SSOAdmin is an sso-admin client of the fake, signing as the fake
// expects, without the SDK's own retries (the reconciler's are the ones
// under test).
func (s *Server) SSOAdmin() *ssoadmin.Client {
	return ssoadmin.New(ssoadmin.Options{
		Region:       Region,
		BaseEndpoint: aws.String(s.URL),
		Credentials:  credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, ""),
		Retryer:      aws.NopRetryer{},
		HTTPClient:   s.srv.Client(),
	})
}

// IdentityStore is an identitystore client of the fake.
func (s *Server) IdentityStore() *identitystore.Client {
	return identitystore.New(identitystore.Options{
		Region:       Region,
		BaseEndpoint: aws.String(s.URL),
		Credentials:  credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, ""),
		Retryer:      aws.NopRetryer{},
		HTTPClient:   s.srv.Client(),
	})
}

// AddUser adds a user to the identity store and returns its UserId.
func (s *Server) AddUser(userName string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id, ok := s.users[userName]; ok {
		return id
	}
	s.seq++
	id := fmt.Sprintf("9067%04x-0000-4000-8000-%012x", s.seq, s.seq)
	s.users[userName] = id
	return id
}

// AddPermissionSet adds a permission set to the instance and returns its
// ARN.
func (s *Server) AddPermissionSet(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	arn := fmt.Sprintf("arn:aws:sso:::permissionSet/ssoins-icfake0000000001/ps-%016x", s.seq)
	s.sets[arn] = &permissionSet{name: name, arn: arn, provisioned: map[string]string{}}
	return arn
}

// Assign creates an assignment at once, as someone in the console would
// (provisioning the set to the account if it was not).
func (s *Server) Assign(a Assignment) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ps := s.sets[a.PermissionSetARN]
	if ps == nil {
		s.t.Fatalf("icfake: Assign: no permission set %s", a.PermissionSetARN)
	}
	s.apply(&request{kind: "create", a: a})
}

// Assignments are the assignments that exist, in creation order.
func (s *Server) Assignments() []Assignment {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Assignment, len(s.live))
	for i, a := range s.live {
		out[i] = a.Assignment
	}
	return out
}

// SetInlinePolicy sets a permission set's inline policy, as someone else
// would.
func (s *Server) SetInlinePolicy(psARN, policy string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sets[psARN].policy = policy
}

// InlinePolicy is a permission set's inline policy.
func (s *Server) InlinePolicy(psARN string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sets[psARN].policy
}

// ProvisionedPolicy is the inline policy last provisioned to account: what
// the set's role there does.
func (s *Server) ProvisionedPolicy(psARN, account string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.sets[psARN].provisioned[account]
	return p, ok
}

// Fail makes the next n calls of op answer the error code (a Smithy
// error name: ConflictException, ThrottlingException, AccessDeniedException…).
func (s *Server) Fail(op string, n int, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failures[op] = append(s.failures[op], code)
	}
}

// Script sets the outcomes of the next writes of op
// (CreateAccountAssignment, DeleteAccountAssignment or
// ProvisionPermissionSet); later ones have the zero Outcome: IN_PROGRESS,
// then SUCCEEDED on the first poll.
func (s *Server) Script(op string, outs ...Outcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.outcomes[op] = append(s.outcomes[op], outs...)
}

// SetListLag makes an assignment created (or deleted) missing from (or
// still in) the next k ListAccountAssignments calls of its permission set
// and account.
func (s *Server) SetListLag(k int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.listLag = k
}

// SetPageSize bounds the items of one page of a listing (default 100).
func (s *Server) SetPageSize(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pageSize = n
}

// Calls are the operations answered so far, in order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// Count is how many calls of op were answered successfully.
func (s *Server) Count(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		if c.Op == op && c.Err == "" {
			n++
		}
	}
	return n
}

// ResetCalls forgets the calls answered so far.
func (s *Server) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = nil
}

// apiError is an error answered on the wire.
type apiError struct {
	code, message string
	extra         map[string]any
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func errorf(code, format string, args ...any) *apiError {
	return &apiError{code: code, message: fmt.Sprintf(format, args...)}
}

// statusOf is the HTTP status of an error, from its httpError trait.
var statusOf = map[string]int{
	"AccessDeniedException":         http.StatusForbidden,
	"ConflictException":             http.StatusConflict,
	"InternalServerException":       http.StatusInternalServerError,
	"ResourceNotFoundException":     http.StatusNotFound,
	"ServiceQuotaExceededException": http.StatusPaymentRequired,
	"ThrottlingException":           http.StatusTooManyRequests,
	"ValidationException":           http.StatusBadRequest,
}

// op is one operation: its input decoded into in, its output or error.
type op struct {
	in     func() any
	handle func(s *Server, in any) (any, *apiError)
}

var services = map[string]string{
	"SWBExternalService": "sso",           // sso-admin signs as "sso"
	"AWSIdentityStore":   "identitystore", // identitystore as itself
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		s.t.Errorf("icfake: read the request: %v", err)
		writeError(w, errorf("ValidationException", "read the request: %v", err))
		return
	}
	target := r.Header.Get("X-Amz-Target")
	service, name, _ := strings.Cut(target, ".")
	signingName, known := services[service]
	o, ok := ops[target]
	switch {
	case r.Method != http.MethodPost || r.URL.Path != "/":
		s.t.Errorf("icfake: %s %s: awsJson1_1 is POST /", r.Method, r.URL.Path)
		writeError(w, errorf("UnknownOperationException", "%s %s", r.Method, r.URL.Path))
		return
	case !known || !ok:
		s.t.Errorf("icfake: unexpected operation %q", target)
		writeError(w, errorf("UnknownOperationException", "unknown operation %s", target))
		return
	case r.Header.Get("Content-Type") != "application/x-amz-json-1.1":
		s.t.Errorf("icfake: %s: Content-Type %q, want application/x-amz-json-1.1", target, r.Header.Get("Content-Type"))
		writeError(w, errorf("ValidationException", "bad Content-Type"))
		return
	}
	if err := verifySignature(r, body, signingName); err != nil {
		s.t.Errorf("icfake: %s: %v", target, err)
		writeError(w, errorf("InvalidSignatureException", "%v", err))
		return
	}
	in := o.in()
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(in); err != nil {
		s.t.Errorf("icfake: %s: the input does not have the model's shape: %v\n%s", target, err, body)
		writeError(w, errorf("SerializationException", "%v", err))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	call := describe(name, in)
	if codes := s.failures[name]; len(codes) > 0 {
		s.failures[name] = codes[1:]
		call.Err = codes[0]
		s.calls = append(s.calls, call)
		writeError(w, errorf(codes[0], "icfake: %s answered %s as scripted", name, codes[0]))
		return
	}
	out, apiErr := o.handle(s, in)
	if apiErr != nil {
		call.Err = apiErr.code
		s.calls = append(s.calls, call)
		writeError(w, apiErr)
		return
	}
	s.calls = append(s.calls, call)
	b, err := json.Marshal(out)
	if err != nil {
		s.t.Errorf("icfake: %s: encode the output: %v", target, err)
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Requestid", fmt.Sprintf("icfake-%d", len(s.calls)))
	w.Write(b)
}

func writeError(w http.ResponseWriter, e *apiError) {
	body := map[string]any{"__type": e.code, "Message": e.message}
	for k, v := range e.extra {
		body[k] = v
	}
	b, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	status, ok := statusOf[e.code]
	if !ok {
		status = http.StatusBadRequest
	}
	w.WriteHeader(status)
	w.Write(b)
}

// verifySignature checks the request's SigV4 signature: the credential
// scope, and the signature itself recomputed over the headers it names.
func verifySignature(r *http.Request, body []byte, service string) error {
	const algorithm = "AWS4-HMAC-SHA256 "
	auth := r.Header.Get("Authorization")
	if !strings.HasPrefix(auth, algorithm) {
		return fmt.Errorf("the request is not signed with SigV4 (Authorization %q)", auth)
	}
	fields := map[string]string{}
	for _, f := range strings.Split(strings.TrimPrefix(auth, algorithm), ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
		fields[k] = v
	}
	scope := strings.Split(fields["Credential"], "/")
	if len(scope) != 5 || scope[0] != AccessKeyID || scope[2] != Region || scope[3] != service || scope[4] != "aws4_request" {
		return fmt.Errorf("credential scope %q, want %s/DATE/%s/%s/aws4_request", fields["Credential"], AccessKeyID, Region, service)
	}
	at, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return fmt.Errorf("X-Amz-Date: %v", err)
	}
	req, err := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), nil)
	if err != nil {
		return err
	}
	signed := strings.Split(fields["SignedHeaders"], ";")
	for _, h := range signed {
		if h != "host" && h != "content-length" {
			req.Header[textproto.CanonicalMIMEHeaderKey(h)] = r.Header.Values(h)
		}
	}
	if slices.Contains(signed, "content-length") {
		req.ContentLength = int64(len(body))
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: AccessKeyID, SecretAccessKey: SecretAccessKey}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), service, Region, at); err != nil {
		return err
	}
	_, want, _ := strings.Cut(req.Header.Get("Authorization"), "Signature=")
	if !hmac.Equal([]byte(want), []byte(fields["Signature"])) {
		return errors.New("the SigV4 signature does not match the request")
	}
	return nil
}

// The inputs, as the Smithy models name their members.
type (
	listAccountAssignmentsIn struct {
		InstanceArn, AccountId, PermissionSetArn string
		MaxResults                               *int
		NextToken                                *string
	}
	assignmentIn struct {
		InstanceArn, PermissionSetArn, PrincipalId, PrincipalType, TargetId, TargetType string
	}
	creationStatusIn struct {
		InstanceArn, AccountAssignmentCreationRequestId string
	}
	deletionStatusIn struct {
		InstanceArn, AccountAssignmentDeletionRequestId string
	}
	permissionSetIn struct {
		InstanceArn, PermissionSetArn string
	}
	putInlinePolicyIn struct {
		InstanceArn, PermissionSetArn, InlinePolicy string
	}
	provisionIn struct {
		InstanceArn, PermissionSetArn, TargetType string
		TargetId                                  *string
	}
	provisioningStatusIn struct {
		InstanceArn, ProvisionPermissionSetRequestId string
	}
	listAccountsIn struct {
		InstanceArn, PermissionSetArn string
		MaxResults                    *int
		NextToken                     *string
		ProvisioningStatus            *string
	}
	getUserIDIn struct {
		IdentityStoreId     string
		AlternateIdentifier struct {
			UniqueAttribute *struct {
				AttributePath  string
				AttributeValue any
			} `json:",omitempty"`
			ExternalId *struct{ Issuer, Id string } `json:",omitempty"`
		}
	}
)

func newOf[T any]() func() any { return func() any { return new(T) } }

var ops = map[string]op{
	"SWBExternalService.ListAccountAssignments":                  {newOf[listAccountAssignmentsIn](), (*Server).listAccountAssignments},
	"SWBExternalService.CreateAccountAssignment":                 {newOf[assignmentIn](), (*Server).createAccountAssignment},
	"SWBExternalService.DeleteAccountAssignment":                 {newOf[assignmentIn](), (*Server).deleteAccountAssignment},
	"SWBExternalService.DescribeAccountAssignmentCreationStatus": {newOf[creationStatusIn](), (*Server).describeCreation},
	"SWBExternalService.DescribeAccountAssignmentDeletionStatus": {newOf[deletionStatusIn](), (*Server).describeDeletion},
	"SWBExternalService.GetInlinePolicyForPermissionSet":         {newOf[permissionSetIn](), (*Server).getInlinePolicy},
	"SWBExternalService.PutInlinePolicyToPermissionSet":          {newOf[putInlinePolicyIn](), (*Server).putInlinePolicy},
	"SWBExternalService.ProvisionPermissionSet":                  {newOf[provisionIn](), (*Server).provisionPermissionSet},
	"SWBExternalService.DescribePermissionSetProvisioningStatus": {newOf[provisioningStatusIn](), (*Server).describeProvisioning},
	"SWBExternalService.ListAccountsForProvisionedPermissionSet": {newOf[listAccountsIn](), (*Server).listAccountsForProvisioned},
	"AWSIdentityStore.GetUserId":                                 {newOf[getUserIDIn](), (*Server).getUserID},
}

// describe is the call's record: what it was about.
func describe(name string, in any) Call {
	c := Call{Op: name}
	switch in := in.(type) {
	case *listAccountAssignmentsIn:
		c.PermissionSetARN, c.AccountID = in.PermissionSetArn, in.AccountId
	case *assignmentIn:
		c.PermissionSetARN, c.AccountID, c.Principal = in.PermissionSetArn, in.TargetId, in.PrincipalType+":"+in.PrincipalId
	case *permissionSetIn:
		c.PermissionSetARN = in.PermissionSetArn
	case *putInlinePolicyIn:
		c.PermissionSetARN = in.PermissionSetArn
	case *provisionIn:
		c.PermissionSetARN, c.AccountID = in.PermissionSetArn, aws.ToString(in.TargetId)
	case *listAccountsIn:
		c.PermissionSetARN = in.PermissionSetArn
	}
	return c
}

func (s *Server) permissionSet(instance, arn string) (*permissionSet, *apiError) {
	if instance != s.InstanceARN {
		return nil, errorf("ValidationException", "The instance ARN %q is not valid", instance)
	}
	ps := s.sets[arn]
	if ps == nil {
		return nil, errorf("ResourceNotFoundException", "Could not find PermissionSet with arn %s", arn)
	}
	return ps, nil
}

func validAccount(id string) bool {
	if len(id) != 12 {
		return false
	}
	for _, c := range id {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// page cuts one page of items at the token.
func page[T any](items []T, max *int, token *string, size int) ([]T, *string, *apiError) {
	if max != nil {
		if *max < 1 || *max > 100 {
			return nil, nil, errorf("ValidationException", "MaxResults must be between 1 and 100")
		}
		size = min(size, *max)
	}
	start := 0
	if token != nil {
		n, err := strconv.Atoi(strings.TrimPrefix(*token, "icfake-"))
		if err != nil || !strings.HasPrefix(*token, "icfake-") || n < 0 || n > len(items) {
			return nil, nil, errorf("ValidationException", "The NextToken is not valid")
		}
		start = n
	}
	end := min(start+size, len(items))
	if end < len(items) {
		next := fmt.Sprintf("icfake-%d", end)
		return items[start:end], &next, nil
	}
	return items[start:end], nil, nil
}

type assignmentOut struct {
	AccountId, PermissionSetArn, PrincipalId, PrincipalType string
}

func (s *Server) listAccountAssignments(in any) (any, *apiError) {
	req := in.(*listAccountAssignmentsIn)
	if _, err := s.permissionSet(req.InstanceArn, req.PermissionSetArn); err != nil {
		return nil, err
	}
	if !validAccount(req.AccountId) {
		return nil, errorf("ValidationException", "AccountId must be 12 digits")
	}
	p := pair{req.PermissionSetArn, req.AccountId}
	if req.NextToken == nil {
		s.lists[p]++ // a listing's pages are one look
	}
	n := s.lists[p]
	var found []assignmentOut
	for _, a := range s.live {
		if a.PermissionSetARN == p.ps && a.AccountID == p.account && n > a.shown {
			found = append(found, assignmentOut{a.AccountID, a.PermissionSetARN, a.PrincipalID, a.PrincipalType})
		}
	}
	for _, a := range s.ghosts {
		if a.PermissionSetARN == p.ps && a.AccountID == p.account && n <= a.shown {
			found = append(found, assignmentOut{a.AccountID, a.PermissionSetARN, a.PrincipalID, a.PrincipalType})
		}
	}
	items, next, err := page(found, req.MaxResults, req.NextToken, s.pageSize)
	if err != nil {
		return nil, err
	}
	return struct {
		AccountAssignments []assignmentOut
		NextToken          *string `json:",omitempty"`
	}{AccountAssignments: items, NextToken: next}, nil
}

// statusOut is AccountAssignmentOperationStatus.
type statusOut struct {
	Status           string
	RequestId        string
	FailureReason    string `json:",omitempty"`
	TargetId         string
	TargetType       string
	PermissionSetArn string
	PrincipalType    string
	PrincipalId      string
	CreatedDate      float64
}

func (rq *request) statusOut(id string) statusOut {
	return statusOut{Status: rq.status, RequestId: id, FailureReason: rq.reason, TargetId: rq.a.AccountID, TargetType: "AWS_ACCOUNT",
		PermissionSetArn: rq.a.PermissionSetARN, PrincipalType: rq.a.PrincipalType, PrincipalId: rq.a.PrincipalID,
		CreatedDate: float64(rq.at.UnixMilli()) / 1000}
}

func (s *Server) checkAssignment(in *assignmentIn) *apiError {
	if _, err := s.permissionSet(in.InstanceArn, in.PermissionSetArn); err != nil {
		return err
	}
	switch {
	case in.TargetType != "AWS_ACCOUNT":
		return errorf("ValidationException", "TargetType must be AWS_ACCOUNT")
	case !validAccount(in.TargetId):
		return errorf("ValidationException", "TargetId must be a 12-digit account id")
	case in.PrincipalType != "USER" && in.PrincipalType != "GROUP":
		return errorf("ValidationException", "PrincipalType must be USER or GROUP")
	case in.PrincipalId == "":
		return errorf("ValidationException", "PrincipalId is required")
	}
	return nil
}

// newRequest starts an asynchronous write with the next scripted outcome.
func (s *Server) newRequest(op string, rq *request) string {
	if outs := s.outcomes[op]; len(outs) > 0 {
		rq.out, s.outcomes[op] = outs[0], outs[1:]
	}
	rq.status, rq.at = "IN_PROGRESS", time.Now()
	s.seq++
	id := fmt.Sprintf("%08x-icfa-4e00-8000-%012x", s.seq, s.seq)
	s.requests[id] = rq
	return id
}

// poll advances a write by one poll of its status.
func (s *Server) poll(rq *request) {
	if rq.status != "IN_PROGRESS" {
		return
	}
	rq.polls++
	if rq.polls <= rq.out.Pending {
		return
	}
	if rq.out.Fail != "" {
		rq.status, rq.reason = "FAILED", rq.out.Fail
		return
	}
	rq.status = "SUCCEEDED"
	s.apply(rq)
}

// apply makes a write take effect.
func (s *Server) apply(rq *request) {
	a := rq.a
	p := pair{a.PermissionSetARN, a.AccountID}
	ps := s.sets[a.PermissionSetARN]
	switch rq.kind {
	case "create":
		if slices.ContainsFunc(s.live, func(x *assignment) bool { return x.Assignment == a }) {
			return // creating what exists succeeds and changes nothing
		}
		s.live = append(s.live, &assignment{Assignment: a, shown: s.lists[p] + s.listLag})
		if _, ok := ps.provisioned[a.AccountID]; !ok {
			ps.provisioned[a.AccountID] = ps.policy // an assignment provisions its set
		}
	case "delete":
		s.live = slices.DeleteFunc(s.live, func(x *assignment) bool {
			if x.Assignment == a {
				if s.listLag > 0 {
					s.ghosts = append(s.ghosts, &assignment{Assignment: a, shown: s.lists[p] + s.listLag})
				}
				return true
			}
			return false
		})
	case "provision":
		ps.provisioned[a.AccountID] = rq.policy
	}
}

func (s *Server) createAccountAssignment(in any) (any, *apiError) {
	req := in.(*assignmentIn)
	if err := s.checkAssignment(req); err != nil {
		return nil, err
	}
	if req.PrincipalType == "USER" && !slices.Contains(slices.Collect(maps.Values(s.users)), req.PrincipalId) {
		return nil, errorf("ValidationException", "The principal %s does not exist in the identity store", req.PrincipalId)
	}
	rq := &request{kind: "create", a: Assignment{req.PermissionSetArn, req.TargetId, req.PrincipalType, req.PrincipalId}}
	id := s.newRequest("CreateAccountAssignment", rq)
	return struct{ AccountAssignmentCreationStatus statusOut }{rq.statusOut(id)}, nil
}

func (s *Server) deleteAccountAssignment(in any) (any, *apiError) {
	req := in.(*assignmentIn)
	if err := s.checkAssignment(req); err != nil {
		return nil, err
	}
	a := Assignment{req.PermissionSetArn, req.TargetId, req.PrincipalType, req.PrincipalId}
	if !slices.ContainsFunc(s.live, func(x *assignment) bool { return x.Assignment == a }) {
		return nil, errorf("ResourceNotFoundException", "Could not find the account assignment")
	}
	rq := &request{kind: "delete", a: a}
	id := s.newRequest("DeleteAccountAssignment", rq)
	return struct{ AccountAssignmentDeletionStatus statusOut }{rq.statusOut(id)}, nil
}

func (s *Server) request(instance, id, kind string) (*request, *apiError) {
	if instance != s.InstanceARN {
		return nil, errorf("ValidationException", "The instance ARN %q is not valid", instance)
	}
	rq := s.requests[id]
	if rq == nil || rq.kind != kind {
		return nil, errorf("ResourceNotFoundException", "Could not find the request %s", id)
	}
	s.poll(rq)
	return rq, nil
}

func (s *Server) describeCreation(in any) (any, *apiError) {
	req := in.(*creationStatusIn)
	rq, err := s.request(req.InstanceArn, req.AccountAssignmentCreationRequestId, "create")
	if err != nil {
		return nil, err
	}
	return struct{ AccountAssignmentCreationStatus statusOut }{rq.statusOut(req.AccountAssignmentCreationRequestId)}, nil
}

func (s *Server) describeDeletion(in any) (any, *apiError) {
	req := in.(*deletionStatusIn)
	rq, err := s.request(req.InstanceArn, req.AccountAssignmentDeletionRequestId, "delete")
	if err != nil {
		return nil, err
	}
	return struct{ AccountAssignmentDeletionStatus statusOut }{rq.statusOut(req.AccountAssignmentDeletionRequestId)}, nil
}

func (s *Server) getInlinePolicy(in any) (any, *apiError) {
	req := in.(*permissionSetIn)
	ps, err := s.permissionSet(req.InstanceArn, req.PermissionSetArn)
	if err != nil {
		return nil, err
	}
	return struct {
		InlinePolicy string `json:",omitempty"`
	}{ps.policy}, nil
}

func (s *Server) putInlinePolicy(in any) (any, *apiError) {
	req := in.(*putInlinePolicyIn)
	ps, err := s.permissionSet(req.InstanceArn, req.PermissionSetArn)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Version   string
		Statement []map[string]any
	}
	if n := utf8.RuneCountInString(req.InlinePolicy); n < 1 || n > MaxInlinePolicy {
		return nil, errorf("ValidationException", "The inline policy has %d characters; it must have 1 to %d", n, MaxInlinePolicy)
	}
	if json.Unmarshal([]byte(req.InlinePolicy), &doc) != nil || doc.Version == "" || len(doc.Statement) == 0 {
		return nil, errorf("ValidationException", "The inline policy is not a valid IAM policy")
	}
	sids := map[string]bool{}
	for _, st := range doc.Statement {
		if sid, _ := st["Sid"].(string); sid != "" {
			if sids[sid] {
				return nil, errorf("ValidationException", "Statement IDs (SID) in a single policy must be unique: %s", sid)
			}
			sids[sid] = true
		}
	}
	ps.policy = req.InlinePolicy
	return struct{}{}, nil
}

type provisioningOut struct {
	Status           string
	RequestId        string
	FailureReason    string `json:",omitempty"`
	AccountId        string `json:",omitempty"`
	PermissionSetArn string
	CreatedDate      float64
}

func (rq *request) provisioningOut(id string) provisioningOut {
	return provisioningOut{Status: rq.status, RequestId: id, FailureReason: rq.reason, AccountId: rq.a.AccountID,
		PermissionSetArn: rq.a.PermissionSetARN, CreatedDate: float64(rq.at.UnixMilli()) / 1000}
}

func (s *Server) provisionPermissionSet(in any) (any, *apiError) {
	req := in.(*provisionIn)
	ps, err := s.permissionSet(req.InstanceArn, req.PermissionSetArn)
	if err != nil {
		return nil, err
	}
	if req.TargetType != "AWS_ACCOUNT" || !validAccount(aws.ToString(req.TargetId)) {
		// ALL_PROVISIONED_ACCOUNTS exists too; the reconciler never uses it.
		return nil, errorf("ValidationException", "TargetType AWS_ACCOUNT with a 12-digit TargetId is required")
	}
	rq := &request{kind: "provision", a: Assignment{PermissionSetARN: ps.arn, AccountID: *req.TargetId}, policy: ps.policy}
	id := s.newRequest("ProvisionPermissionSet", rq)
	return struct{ PermissionSetProvisioningStatus provisioningOut }{rq.provisioningOut(id)}, nil
}

func (s *Server) describeProvisioning(in any) (any, *apiError) {
	req := in.(*provisioningStatusIn)
	rq, err := s.request(req.InstanceArn, req.ProvisionPermissionSetRequestId, "provision")
	if err != nil {
		return nil, err
	}
	return struct{ PermissionSetProvisioningStatus provisioningOut }{rq.provisioningOut(req.ProvisionPermissionSetRequestId)}, nil
}

func (s *Server) listAccountsForProvisioned(in any) (any, *apiError) {
	req := in.(*listAccountsIn)
	ps, err := s.permissionSet(req.InstanceArn, req.PermissionSetArn)
	if err != nil {
		return nil, err
	}
	var accounts []string
	for account, policy := range ps.provisioned {
		switch aws.ToString(req.ProvisioningStatus) {
		case "LATEST_PERMISSION_SET_PROVISIONED":
			if policy != ps.policy {
				continue
			}
		case "LATEST_PERMISSION_SET_NOT_PROVISIONED":
			if policy == ps.policy {
				continue
			}
		}
		accounts = append(accounts, account)
	}
	slices.Sort(accounts)
	items, next, apiErr := page(accounts, req.MaxResults, req.NextToken, s.pageSize)
	if apiErr != nil {
		return nil, apiErr
	}
	return struct {
		AccountIds []string
		NextToken  *string `json:",omitempty"`
	}{items, next}, nil
}

func (s *Server) getUserID(in any) (any, *apiError) {
	req := in.(*getUserIDIn)
	if req.IdentityStoreId != s.IdentityStoreID {
		return nil, errorf("ValidationException", "The identity store %q is not valid", req.IdentityStoreId)
	}
	u := req.AlternateIdentifier.UniqueAttribute
	if u == nil || !strings.EqualFold(u.AttributePath, "userName") {
		return nil, errorf("ValidationException", "icfake resolves users by the unique attribute userName only")
	}
	name, ok := u.AttributeValue.(string)
	if !ok || name == "" {
		return nil, errorf("ValidationException", "attribute value cannot be empty or null for attribute path")
	}
	id, ok := s.users[name]
	if !ok {
		e := errorf("ResourceNotFoundException", "USER not found.")
		e.extra = map[string]any{"ResourceType": "USER"}
		return nil, e
	}
	return struct{ IdentityStoreId, UserId string }{s.IdentityStoreID, id}, nil
}
