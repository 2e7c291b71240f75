package awscreds_test

import (
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/elevate-gitops/elevate/internal/awscreds"
)

// stsName is STS's rule for RoleSessionName and SourceIdentity.
var stsName = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)

// t0 is a fixed "now" for pure tests.
var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func TestRoleARN(t *testing.T) {
	t.Parallel()
	if got, want := awscreds.RoleARN("111111111111", "Admin"), "arn:aws:iam::111111111111:role/Admin"; got != want {
		t.Errorf("RoleARN = %q, want %q", got, want)
	}
}

// TestSessionNamesThatCutAlikeDiffer: two grants whose names share their
// first 64 characters still make sessions of different ARNs, so that one
// grant's console calls are never counted as the other's.
func TestSessionNamesThatCutAlikeDiffer(t *testing.T) {
	login := strings.Repeat("l", 39)
	a := awscreds.SessionName(login, "production-eu/2026-11/"+strings.Repeat("n", 20)+"-one")
	b := awscreds.SessionName(login, "production-eu/2026-11/"+strings.Repeat("n", 20)+"-two")
	if a == b || len(a) != 64 || len(b) != 64 {
		t.Errorf("%q and %q", a, b)
	}
}

func TestSessionName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, login, requestID, want string
	}{
		{"plain", "alice", "prod/2026-11/alice-admin-inc4821", "gh-alice-prod-2026-11-alice-admin-inc4821"},
		{
			"long login and id cut to 55, and a hash of both",
			strings.Repeat("a", 39), "prod/2026-11/" + strings.Repeat("x", 80),
			"gh-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-prod-2026-11-7faa270f",
		},
		{"bot login brackets", "dependabot[bot]", "prod/2026-11/x", "gh-dependabot-bot--prod-2026-11-x"},
		{"spaces and shell chars", "eve", "prod/2026-11/a b;$(id)", "gh-eve-prod-2026-11-a-b---id-"},
		{"allowed punctuation kept", "a+b=c,d.e@f_g", "r", "gh-a+b=c,d.e@f_g-r"},
		{"non-ascii rune is one dash", "jösé", "r", "gh-j-s--r"},
		{"invalid utf-8 byte", "a\xffb", "r", "gh-a-b-r"},
		{"empty still 2+ chars", "", "", "gh--"},
		{"exactly 64 kept", "bob", strings.Repeat("z", 57), "gh-bob-" + strings.Repeat("z", 57)},
		{"65 cut to 55 and a hash", "bob", strings.Repeat("z", 58), "gh-bob-zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz-c02ddfb4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := awscreds.SessionName(tt.login, tt.requestID)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("SessionName(%q, %q) mismatch (-want +got):\n%s", tt.login, tt.requestID, diff)
			}
			if !stsName.MatchString(got) {
				t.Errorf("SessionName(%q, %q) = %q breaks STS's rule %s", tt.login, tt.requestID, got, stsName)
			}
		})
	}
}

func TestSourceIdentity(t *testing.T) {
	t.Parallel()
	tests := []struct {
		login, want string
	}{
		{"alice", "gh-alice"},
		{"dependabot[bot]", "gh-dependabot-bot-"},
		{strings.Repeat("q", 70), "gh-" + strings.Repeat("q", 61)},
		{"", "gh-"},
	}
	for _, tt := range tests {
		got := awscreds.SourceIdentity(tt.login)
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("SourceIdentity(%q) mismatch (-want +got):\n%s", tt.login, diff)
		}
		if !stsName.MatchString(got) || strings.HasPrefix(got, "aws:") {
			t.Errorf("SourceIdentity(%q) = %q breaks STS's rule", tt.login, got)
		}
	}
}

// TestSessionPolicyEndsAtWindowEnd is the rule "no session outlives its
// grant": the session policy allows everything only before the window end.
func TestSessionPolicyEndsAtWindowEnd(t *testing.T) {
	t.Parallel()
	// 12:00 in UTC+2 is 10:00Z: the policy must name the instant in UTC.
	end := time.Date(2026, 11, 25, 12, 0, 0, 999, time.FixedZone("CEST", 2*3600))
	got := awscreds.SessionPolicy(end)

	want := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*",` +
		`"Condition":{"DateLessThan":{"aws:CurrentTime":"2026-11-25T10:00:00Z"}}}]}`
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("SessionPolicy mismatch (-want +got):\n%s", diff)
	}
	if len(got) >= 2048 {
		t.Errorf("SessionPolicy is %d characters, STS allows fewer than 2048", len(got))
	}

	var doc struct {
		Version   string
		Statement []struct {
			Effect, Action, Resource string
			Condition                map[string]map[string]string
		}
	}
	if err := json.Unmarshal([]byte(got), &doc); err != nil {
		t.Fatalf("SessionPolicy is not JSON: %v", err)
	}
	if len(doc.Statement) != 1 {
		t.Fatalf("SessionPolicy has %d statements, want 1", len(doc.Statement))
	}
	st := doc.Statement[0]
	if st.Effect != "Allow" || st.Action != "*" || st.Resource != "*" {
		t.Errorf("statement = %+v, want Allow * on * (a Deny-only session policy leaves no permissions)", st)
	}
	at, err := time.Parse(time.RFC3339, st.Condition["DateLessThan"]["aws:CurrentTime"])
	if err != nil || !at.Equal(end.Truncate(time.Second)) {
		t.Errorf("DateLessThan aws:CurrentTime = %v (%v), want the window end %v", at, err, end)
	}
}

func TestDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		left     time.Duration // window end - now
		session  time.Duration
		want     time.Duration
		wantOpen bool
	}{
		{"window ends in 5m: STS floor", 5 * time.Minute, time.Hour, 900 * time.Second, true},
		{"window ends in 3h, 1h sessions", 3 * time.Hour, time.Hour, time.Hour, true},
		{"window ends in 30m", 30 * time.Minute, time.Hour, 30 * time.Minute, true},
		{"sub-second left is cut", 30*time.Minute + 700*time.Millisecond, time.Hour, 30 * time.Minute, true},
		{"no session_duration: 1h", 3 * time.Hour, 0, time.Hour, true},
		{"capped at 12h", 48 * time.Hour, 24 * time.Hour, 12 * time.Hour, true},
		{"one second left: floor", time.Second, time.Hour, 900 * time.Second, true},
		{"window ends now", 0, time.Hour, 0, false},
		{"window over", -time.Minute, time.Hour, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := awscreds.Session{WindowEnd: t0.Add(tt.left), SessionDuration: tt.session, Now: t0}
			got, err := awscreds.Duration(s)
			if !tt.wantOpen {
				var wc *awscreds.WindowClosedError
				if !errors.As(err, &wc) {
					t.Fatalf("Duration = %v, %v; want a *WindowClosedError", got, err)
				}
				if !wc.End.Equal(s.WindowEnd) {
					t.Errorf("WindowClosedError.End = %v, want %v", wc.End, s.WindowEnd)
				}
				return
			}
			if err != nil {
				t.Fatalf("Duration: %v", err)
			}
			if got != tt.want {
				t.Errorf("Duration = %v, want %v", got, tt.want)
			}
		})
	}
}

func validSession() awscreds.Session {
	return awscreds.Session{
		AccountID:       "111111111111",
		Role:            "Admin",
		Login:           "alice",
		UserID:          583231,
		RequestID:       "prod/2026-11/alice-admin-inc4821",
		PR:              4821,
		WindowEnd:       t0.Add(3 * time.Hour),
		SessionDuration: time.Hour,
		Now:             t0,
	}
}

var ignoreSDK = cmpopts.IgnoreUnexported(sts.AssumeRoleInput{}, types.Tag{})

func TestAssumeRoleInput(t *testing.T) {
	t.Parallel()
	got, err := awscreds.AssumeRoleInput(validSession())
	if err != nil {
		t.Fatalf("AssumeRoleInput: %v", err)
	}
	want := &sts.AssumeRoleInput{
		RoleArn:         aws.String("arn:aws:iam::111111111111:role/Admin"),
		RoleSessionName: aws.String("gh-alice-prod-2026-11-alice-admin-inc4821"),
		SourceIdentity:  aws.String("gh-alice"),
		DurationSeconds: aws.Int32(3600),
		Policy:          aws.String(awscreds.SessionPolicy(t0.Add(3 * time.Hour))),
		Tags: []types.Tag{
			{Key: aws.String("elevate-request"), Value: aws.String("prod/2026-11/alice-admin-inc4821")},
			{Key: aws.String("elevate-pr"), Value: aws.String("4821")},
			{Key: aws.String("elevate-github-id"), Value: aws.String("583231")},
		},
		TransitiveTagKeys: []string{"elevate-request", "elevate-github-id"},
	}
	if diff := cmp.Diff(want, got, ignoreSDK); diff != "" {
		t.Errorf("AssumeRoleInput mismatch (-want +got):\n%s", diff)
	}
}

func TestAssumeRoleInputTagValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, requestID, want string
	}{
		{"slashes and dashes kept", "prod/2026-11/x-y", "prod/2026-11/x-y"},
		{"odd chars replaced", "prod/2026-11/a<b>;c", "prod/2026-11/a-b--c"},
		{"letters and spaces of any script kept", "prod/2026-11/ünï cödé", "prod/2026-11/ünï cödé"},
		{"cut to 256", strings.Repeat("r", 300), strings.Repeat("r", 256)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := validSession()
			s.RequestID = tt.requestID
			in, err := awscreds.AssumeRoleInput(s)
			if err != nil {
				t.Fatalf("AssumeRoleInput: %v", err)
			}
			got := map[string]string{}
			for _, tag := range in.Tags {
				got[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
			}
			want := map[string]string{"elevate-request": tt.want, "elevate-pr": "4821", "elevate-github-id": "583231"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("tags mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAssumeRoleInputRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(*awscreds.Session)
		want   string // in the error
	}{
		{"short account id", func(s *awscreds.Session) { s.AccountID = "12345" }, "account id"},
		{"account id with letters", func(s *awscreds.Session) { s.AccountID = "11111111111a" }, "account id"},
		{"role with a slash", func(s *awscreds.Session) { s.Role = "path/Admin" }, "role name"},
		{"role is an arn", func(s *awscreds.Session) { s.Role = "arn:aws:iam::111111111111:role/Admin" }, "role name"},
		{"empty role", func(s *awscreds.Session) { s.Role = "" }, "role name"},
		{"empty login", func(s *awscreds.Session) { s.Login = "" }, "github login"},
		{"no user id", func(s *awscreds.Session) { s.UserID = 0 }, "github user id"},
		{"no request id", func(s *awscreds.Session) { s.RequestID = "" }, "request id"},
		{"no pr", func(s *awscreds.Session) { s.PR = 0 }, "pull request"},
		{"window over", func(s *awscreds.Session) { s.WindowEnd = s.Now.Add(-time.Second) }, "grant window closed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := validSession()
			tt.mutate(&s)
			in, err := awscreds.AssumeRoleInput(s)
			if err == nil {
				t.Fatalf("AssumeRoleInput = %+v, want an error", in)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

// TestAssumeRoleInputWindowClosedIsTyped lets the broker answer 403 expired.
func TestAssumeRoleInputWindowClosedIsTyped(t *testing.T) {
	t.Parallel()
	s := validSession()
	s.WindowEnd = s.Now
	_, err := awscreds.AssumeRoleInput(s)
	var wc *awscreds.WindowClosedError
	if !errors.As(err, &wc) {
		t.Fatalf("error %v is not a *WindowClosedError", err)
	}
}
