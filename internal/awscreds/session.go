package awscreds

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/aws-sdk-go-v2/service/sts/types"
)

// STS limits on AssumeRole.
const (
	// MinDuration is the shortest session STS issues (DurationSeconds 900).
	MinDuration = 900 * time.Second
	// MaxDuration is the longest session elevate asks for; STS allows up to
	// 43200 s when the role's MaxSessionDuration permits it.
	MaxDuration = 12 * time.Hour
	// MaxChainedDuration is AWS's cap on a role session requested with a
	// role's own temporary credentials (role chaining).
	MaxChainedDuration = time.Hour
	// DefaultSessionDuration is used when a Session carries no
	// SessionDuration; it is STS's own default.
	DefaultSessionDuration = time.Hour

	maxSessionNameLen    = 64
	maxSourceIdentityLen = 64
	maxTagValueLen       = 256
	maxPolicyLen         = 2048
)

// Session tag keys set on every issuance.
const (
	TagRequest  = "elevate-request"
	TagPR       = "elevate-pr"
	TagGitHubID = "elevate-github-id"
)

// Session is one issuance: who gets which role, under which grant, when.
type Session struct {
	AccountID       string        // 12 digits
	Role            string        // IAM role name (not an ARN)
	Login           string        // GitHub login (display, session name)
	UserID          int64         // GitHub numeric id
	RequestID       string        // e.g. "prod/2026-11/alice-admin-inc4821"
	PR              int           // PR number that granted it
	WindowEnd       time.Time     // the grant's window end
	SessionDuration time.Duration // policy's session_duration
	// Chained is set when the broker's own credentials are a role's
	// temporary ones: AWS caps a chained role session at 1 h.
	Chained bool
	Now     time.Time
}

// WindowClosedError reports that a grant's window ended before the session
// could be issued.
type WindowClosedError struct {
	End time.Time
}

func (e *WindowClosedError) Error() string {
	return "grant window closed at " + e.End.UTC().Format(time.RFC3339)
}

var (
	accountIDRe = regexp.MustCompile(`^[0-9]{12}$`)
	roleNameRe  = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
)

// RoleARN is the ARN of role in accountID: arn:aws:iam::<id>:role/<role>.
// It does not validate its arguments; AssumeRoleInput does.
func RoleARN(accountID, role string) string {
	return "arn:aws:iam::" + accountID + ":role/" + role
}

// SessionName is the RoleSessionName for login's session under requestID:
// "gh-<login>-<request id>", with every character outside STS's set
// [\w+=,.@-] replaced by '-' (so "prod/2026-11/x" reads "prod-2026-11-x").
// The "gh-" prefix keeps it at least 2 characters long. A name over STS's
// 64 characters keeps its first 55 and ends in "-" and 8 hex digits of a
// hash of the login and the id: two grants whose names would cut alike
// still get sessions of different ARNs. The full request id travels in
// the elevate-request tag.
func SessionName(login, requestID string) string {
	name := sanitize("gh-"+login+"-"+requestID, isSessionNameRune, '-')
	if len(name) <= maxSessionNameLen { // ASCII only after sanitize
		return name
	}
	sum := sha256.Sum256([]byte(login + "\x00" + requestID))
	return name[:maxSessionNameLen-9] + "-" + hex.EncodeToString(sum[:4])
}

// SourceIdentity is the SourceIdentity for login: "gh-<login>", in STS's
// character set and at most 64 characters. AWS keeps it across role
// chaining and logs it in CloudTrail.
func SourceIdentity(login string) string {
	return truncate(sanitize("gh-"+login, isSessionNameRune, '-'), maxSourceIdentityLen)
}

// sessionPolicy mirrors the IAM policy grammar, in the order AWS documents it.
type sessionPolicy struct {
	Version   string
	Statement []policyStatement
}

type policyStatement struct {
	Effect    string
	Action    string
	Resource  string
	Condition map[string]map[string]string
}

// SessionPolicy is the inline session policy that allows "*" only while
// aws:CurrentTime is before windowEnd (ISO 8601, UTC, whole seconds). AWS
// grants a session the intersection of the role's permissions and this
// policy, so it adds nothing the role lacks and takes everything away at the
// window end.
func SessionPolicy(windowEnd time.Time) string {
	p := sessionPolicy{
		Version: "2012-10-17",
		Statement: []policyStatement{{
			Effect:   "Allow",
			Action:   "*",
			Resource: "*",
			Condition: map[string]map[string]string{
				"DateLessThan": {"aws:CurrentTime": windowEnd.UTC().Format(time.RFC3339)},
			},
		}},
	}
	b, err := json.Marshal(p)
	if err != nil {
		// Only strings and maps of strings: Marshal cannot fail.
		panic("awscreds: marshal session policy: " + err.Error())
	}
	return string(b)
}

// Duration is the session length for s: min(SessionDuration, WindowEnd-Now),
// in whole seconds, floored at STS's 900 s minimum and capped at 12 h. A
// SessionDuration of zero means DefaultSessionDuration. The floor can make a
// session outlive its window by up to 15 minutes; SessionPolicy denies
// everything from the window end on. It returns a *WindowClosedError if the
// window has ended (WindowEnd <= Now).
func Duration(s Session) (time.Duration, error) {
	left := s.WindowEnd.Sub(s.Now)
	if left <= 0 {
		return 0, &WindowClosedError{End: s.WindowEnd}
	}
	d := s.SessionDuration
	if d <= 0 {
		d = DefaultSessionDuration
	}
	d = min(d, left).Truncate(time.Second)
	limit := MaxDuration
	if s.Chained {
		limit = MaxChainedDuration
	}
	return min(max(d, MinDuration), limit), nil
}

// AssumeRoleInput builds the sts:AssumeRole request for s. It validates the
// account id (12 digits), the role name (1-64 characters of [\w+=,.@-]), the
// login, user id, request id and PR number, and returns a *WindowClosedError
// (wrapped) when the window is over.
func AssumeRoleInput(s Session) (*sts.AssumeRoleInput, error) {
	var errs []error
	if !accountIDRe.MatchString(s.AccountID) {
		errs = append(errs, fmt.Errorf("account id %q is not 12 digits", s.AccountID))
	}
	if !roleNameRe.MatchString(s.Role) {
		errs = append(errs, fmt.Errorf("role name %q is not 1-64 characters of [A-Za-z0-9_+=,.@-]", s.Role))
	}
	if strings.TrimSpace(s.Login) == "" {
		errs = append(errs, errors.New("github login is empty"))
	}
	if s.UserID <= 0 {
		errs = append(errs, fmt.Errorf("github user id %d is not positive", s.UserID))
	}
	if strings.TrimSpace(s.RequestID) == "" {
		errs = append(errs, errors.New("request id is empty"))
	}
	if s.PR <= 0 {
		errs = append(errs, fmt.Errorf("pull request number %d is not positive", s.PR))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("build assume-role input: %w", err)
	}
	d, err := Duration(s)
	if err != nil {
		return nil, fmt.Errorf("build assume-role input for %s: %w", s.RequestID, err)
	}
	policy := SessionPolicy(s.WindowEnd)
	if len(policy) > maxPolicyLen {
		// Cannot happen with a fixed template; checked so a change to it
		// fails here rather than at STS.
		return nil, fmt.Errorf("build assume-role input: session policy is %d characters, STS allows %d", len(policy), maxPolicyLen)
	}
	return &sts.AssumeRoleInput{
		RoleArn:         aws.String(RoleARN(s.AccountID, s.Role)),
		RoleSessionName: aws.String(SessionName(s.Login, s.RequestID)),
		SourceIdentity:  aws.String(SourceIdentity(s.Login)),
		DurationSeconds: aws.Int32(int32(d / time.Second)),
		Policy:          aws.String(policy),
		Tags: []types.Tag{
			tag(TagRequest, s.RequestID),
			tag(TagPR, strconv.Itoa(s.PR)),
			tag(TagGitHubID, strconv.FormatInt(s.UserID, 10)),
		},
		// Ending sessions denies by these tags: carried into any role the
		// session chains to, so a chained session cannot shed them.
		TransitiveTagKeys: []string{TagRequest, TagGitHubID},
	}, nil
}

// tag is a session tag whose value is forced into STS's rules: at most 256
// characters of [\p{L}\p{Z}\p{N}_.:/=+\-@], others replaced by '-'.
func tag(key, value string) types.Tag {
	return types.Tag{
		Key:   aws.String(key),
		Value: aws.String(TagValue(value)),
	}
}

// TagValue is value as a session tag carries it: at most 256 characters
// of STS's set [\p{L}\p{Z}\p{N}_.:/=+\-@], others replaced by '-'.
// CloudTrail logs the tag so, and a reader of the logs compares with it.
func TagValue(value string) string {
	return truncate(sanitize(value, isTagRune, '-'), maxTagValueLen)
}

// isSessionNameRune reports whether r is in STS's [\w+=,.@-] (ASCII \w).
func isSessionNameRune(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return true
	}
	return strings.ContainsRune("_+=,.@-", r)
}

// isTagRune reports whether r is in STS's tag set [\p{L}\p{Z}\p{N}_.:/=+\-@].
func isTagRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.In(r, unicode.Z) || unicode.IsNumber(r) ||
		strings.ContainsRune("_.:/=+-@", r)
}

// sanitize replaces every rune of s that ok rejects (and every invalid UTF-8
// byte) with repl.
func sanitize(s string, ok func(rune) bool, repl rune) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if !ok(r) {
			r = repl
		}
		b.WriteRune(r)
	}
	return b.String()
}

// truncate cuts s to at most n runes.
func truncate(s string, n int) string {
	i := 0
	for pos := range s {
		if i == n {
			return s[:pos]
		}
		i++
	}
	return s
}
