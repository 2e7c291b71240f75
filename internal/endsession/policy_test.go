package endsession

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/elevate-gitops/elevate/internal/awscreds"
)

var t0 = time.Date(2026, 11, 25, 14, 2, 11, 0, time.UTC)

// IAM's policy grammar (IAM User Guide, "IAM JSON policy elements" and
// "Grammar of the IAM JSON policy language"), as far as elevate uses it: a
// typo in any key fails here.
var (
	documentKeys  = []string{"Version", "Id", "Statement"}
	statementKeys = []string{"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource", "Condition"}
	operators     = []string{"StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase", "StringLike", "StringNotLike",
		"DateEquals", "DateNotEquals", "DateLessThan", "DateLessThanEquals", "DateGreaterThan", "DateGreaterThanEquals", "Null"}
	// Condition keys elevate conditions on: the token's issue time and the
	// session tags the broker sets at issuance.
	conditionKeys = []string{"aws:TokenIssueTime", "aws:PrincipalTag/" + awscreds.TagRequest, "aws:PrincipalTag/" + awscreds.TagGitHubID}
)

func checkGrammar(t *testing.T, raw string) {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal([]byte(raw), &doc); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	for k := range doc {
		if !slices.Contains(documentKeys, k) {
			t.Errorf("document key %q is not in IAM's grammar", k)
		}
	}
	if doc["Version"] != "2012-10-17" {
		t.Errorf("Version = %v, want 2012-10-17", doc["Version"])
	}
	stmts, _ := doc["Statement"].([]any)
	if len(stmts) == 0 {
		t.Fatal("no Statement")
	}
	for _, s := range stmts {
		st := s.(map[string]any)
		for k := range st {
			if !slices.Contains(statementKeys, k) {
				t.Errorf("statement key %q is not in IAM's grammar", k)
			}
		}
		if st["Effect"] != "Deny" || st["Action"] != "*" || st["Resource"] != "*" {
			t.Errorf("statement %v: want Effect Deny, Action *, Resource *", st)
		}
		if sid, _ := st["Sid"].(string); sid == "" || strings.Trim(sid, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "" {
			t.Errorf("Sid %q: IAM allows only letters and digits", sid)
		}
		cond, _ := st["Condition"].(map[string]any)
		for op, kv := range cond {
			if !slices.Contains(operators, op) {
				t.Errorf("condition operator %q is not IAM's", op)
			}
			for key, v := range kv.(map[string]any) {
				if !slices.Contains(conditionKeys, key) {
					t.Errorf("condition key %q is not one elevate means", key)
				}
				if key == "aws:TokenIssueTime" {
					if _, err := time.Parse(time.RFC3339, v.(string)); err != nil || !strings.HasPrefix(op, "Date") {
						t.Errorf("%s %s %v: want a Date operator and an ISO 8601 time", op, key, v)
					}
				}
				if op == "Null" && v != "false" {
					t.Errorf("Null %s %v: want \"false\" (the tag is present)", key, v)
				}
			}
		}
	}
}

func statement(t *testing.T, e Ended) Statement {
	t.Helper()
	s, err := StatementFor(e)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A Deny names the grant by its request id, the person by their numeric
// GitHub id, or every elevate session of the role by the presence of the
// request tag; never a login, so a rename changes nothing.
func TestStatementNamesTagsNeverALogin(t *testing.T) {
	t.Parallel()
	const grant = "prod/2026-11/carol-admin-inc7"
	tests := []struct {
		name  string
		e     Ended
		op    string
		key   string
		value string
	}{
		{"a revocation names the grant", Ended{Scope: ScopeGrant, Grant: grant, UserID: 7, Login: "carol"}, "StringEquals", "aws:PrincipalTag/elevate-request", grant},
		{"loss of eligibility names the person by id", Ended{Scope: ScopePerson, Grant: grant, UserID: 583231, Login: "carol"}, "StringEquals", "aws:PrincipalTag/elevate-github-id", "583231"},
		{"untrusted history names every elevate session", Ended{Scope: ScopeRole, Grant: grant}, "Null", "aws:PrincipalTag/elevate-request", "false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.e.Before = t0
			s := statement(t, tt.e)
			doc := &Document{Version: "2012-10-17", Statement: []Statement{s}}
			checkGrammar(t, JSON(doc))
			if got := s.Condition[tt.op][tt.key]; got != tt.value || len(s.Condition) != 2 || len(s.Condition[tt.op]) != 1 {
				t.Errorf("condition %v: want only %s %s = %s beside the issue time", s.Condition, tt.op, tt.key, tt.value)
			}
			if got := s.Condition["DateLessThan"]["aws:TokenIssueTime"]; got != "2026-11-25T14:02:11Z" {
				t.Errorf("TokenIssueTime = %v", got)
			}
			if raw := JSON(doc); strings.Contains(raw, "carol\"") || strings.Contains(raw, "SourceIdentity") {
				t.Errorf("the Deny names a login: %s", raw)
			}
			renamed := tt.e
			renamed.Login = "carol-renamed"
			if again := statement(t, renamed); contentKey(again) != contentKey(s) || again.Sid != s.Sid {
				t.Errorf("a rename changed the Deny: %+v, was %+v", again, s)
			}
		})
	}
}

func TestStatementForRefusesToNameNobody(t *testing.T) {
	t.Parallel()
	for _, e := range []Ended{
		{Scope: ScopeGrant, Before: t0},
		{Scope: ScopePerson, Grant: "prod/2026-11/x", Before: t0},
		{Grant: "prod/2026-11/x", Before: t0},
	} {
		if s, err := StatementFor(e); err == nil {
			t.Errorf("%+v: %+v, want an error", e, s)
		}
	}
}

func TestStatementGrammar(t *testing.T) {
	t.Parallel()
	one := statement(t, Ended{Scope: ScopeGrant, Grant: "prod/2026-11/carol", Before: t0})
	person := statement(t, Ended{Scope: ScopePerson, UserID: 5, Before: t0})
	all := statement(t, Ended{Scope: ScopeRole, Before: t0})
	doc, _, err := Merge(Inline{}, []Statement{one, person, all}, t0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	raw := JSON(doc)
	checkGrammar(t, raw)
	back, err := ParseDocument(url.PathEscape(raw))
	if err != nil || len(back.Statement) != 3 || !Holds(back, []Statement{one, person, all}) {
		t.Errorf("GetRolePolicy's URL-encoded form reads back as %+v, %v", back, err)
	}
}

// Any policy IAM accepts reads back: a single statement, lists, numbers and
// booleans in conditions (a statement elevate cannot read would otherwise
// block every later Deny on the role).
func TestParseDocumentReadsWhatIAMAccepts(t *testing.T) {
	t.Parallel()
	raw := `{"Version":"2012-10-17","Statement":{"Sid":"Theirs","Effect":"Deny","Action":["s3:GetObject","s3:PutObject"],"Resource":"*",
		"Condition":{"NumericGreaterThan":{"s3:max-keys":12345678901234},"Bool":{"aws:SecureTransport":false},"StringEquals":{"aws:PrincipalTag/team":["a","b"]}}}}`
	doc, err := ParseDocument(raw)
	if err != nil || len(doc.Statement) != 1 {
		t.Fatalf("%+v, %v", doc, err)
	}
	out := JSON(doc)
	for _, want := range []string{`12345678901234`, `false`, `["a","b"]`, `["s3:GetObject","s3:PutObject"]`} {
		if !strings.Contains(out, want) {
			t.Errorf("written back as %s: lost %s", out, want)
		}
	}
}

func TestTextSizeCountsWithoutWhiteSpace(t *testing.T) {
	t.Parallel()
	pretty := "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [{\"Effect\": \"Allow\", \"Action\": \"s3:*\", \"Resource\": \"*\", \"Sid\": \"A\"}]\n}\n"
	compact := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*","Sid":"A"}]}`
	if got, want := TextSize(pretty), len(compact); got != want {
		t.Errorf("TextSize(pretty) = %d, want %d", got, want)
	}
	if got, want := TextSize(url.PathEscape(pretty)), len(compact); got != want {
		t.Errorf("TextSize(URL-encoded) = %d, want %d", got, want)
	}
}

// denyBefore is a statement of the ended-sessions shape someone else wrote.
func denyBefore(sid string, before time.Time, extra map[string]map[string]any) Statement {
	cond := map[string]map[string]any{"DateLessThan": {"aws:TokenIssueTime": before.UTC().Format(time.RFC3339)}}
	for op, kv := range extra {
		cond[op] = kv
	}
	return Statement{Sid: sid, Effect: "Deny", Action: "*", Resource: "*", Condition: cond}
}

// personAt is the Deny for GitHub user 42's sessions issued before at.
func personAt(t *testing.T, at time.Time) Statement {
	return statement(t, Ended{Scope: ScopePerson, UserID: 42, Grant: "prod/2026-11/dave", Before: at})
}

func TestMerge(t *testing.T) {
	t.Parallel()
	const maxSession = 2 * time.Hour
	added := statement(t, Ended{Scope: ScopeGrant, Grant: "prod/2026-11/carol", Before: t0})
	live := statement(t, Ended{Scope: ScopeGrant, Grant: "prod/2026-11/bob", Before: t0.Add(-10 * time.Minute)})
	oldOurs := statement(t, Ended{Scope: ScopeGrant, Grant: "prod/2026-11/alice", Before: t0.Add(-3 * time.Hour)})
	other := Statement{Sid: "SomeoneElses", Effect: "Deny", Action: "s3:*", Resource: "*"}
	// Someone else's statements of the shape, with and without a Sid.
	foreignOld := denyBefore("", t0.Add(-5*time.Hour), map[string]map[string]any{"StringEquals": {"aws:SourceIdentity": "gh-mallory"}})
	foreignOldSid := denyBefore("CleanupLater", t0.Add(-4*time.Hour), nil)
	foreignFresh := denyBefore("", t0.Add(-time.Hour), map[string]map[string]any{"StringEquals": {"aws:SourceIdentity": "gh-eve"}})
	// Not of the shape: they may still deny something, whatever their date.
	notShape := []Statement{
		{Sid: "OldButOnlyS3", Effect: "Deny", Action: "s3:*", Resource: "*", Condition: map[string]map[string]any{"DateLessThan": {"aws:TokenIssueTime": "2020-01-01T00:00:00Z"}}},
		{Sid: "OldButNotAction", Effect: "Deny", NotAction: "iam:*", Resource: "*", Condition: map[string]map[string]any{"DateLessThan": {"aws:TokenIssueTime": "2020-01-01T00:00:00Z"}}},
		{Sid: "OldButIfExists", Effect: "Deny", Action: "*", Resource: "*", Condition: map[string]map[string]any{"DateLessThanIfExists": {"aws:TokenIssueTime": "2020-01-01T00:00:00Z"}}},
		{Sid: "CurrentTime", Effect: "Deny", Action: "*", Resource: "*", Condition: map[string]map[string]any{"DateLessThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}},
	}
	// Someone else's statement that took our Sid: not ours.
	forged := Statement{Sid: added.Sid, Effect: "Allow", Action: "*", Resource: "*"}
	// The same Deny as added, under another Sid.
	sameAsAdded := added
	sameAsAdded.Sid = "WrittenByHand"

	tests := []struct {
		name        string
		in          Inline
		add         []Statement
		wantHold    []Statement // by content
		wantGone    []Statement // by content
		wantDropped int
		wantLen     int
		tooLarge    bool
	}{
		{name: "ours older than the role's maximum session is dropped, others stay once",
			in:  Inline{Ours: &Document{Statement: []Statement{other, oldOurs, live}}},
			add: []Statement{added, added, live}, wantHold: []Statement{other, live, added}, wantGone: []Statement{oldOurs}, wantDropped: 1, wantLen: 3},
		{name: "expired statements of the shape are dropped whoever wrote them, Sid or not",
			in:  Inline{Ours: &Document{Statement: []Statement{foreignOld, foreignOldSid, other}}},
			add: []Statement{added}, wantHold: []Statement{other, added}, wantGone: []Statement{foreignOld, foreignOldSid}, wantDropped: 2, wantLen: 2},
		{name: "fresh statements of the shape and statements of another shape stay",
			in:  Inline{Ours: &Document{Statement: append([]Statement{foreignFresh}, notShape...)}},
			add: []Statement{added}, wantHold: append([]Statement{foreignFresh, added}, notShape...), wantLen: 6},
		{name: "a statement with our Sid and other content is not ours",
			in:  Inline{Ours: &Document{Statement: []Statement{forged}}},
			add: []Statement{added}, wantHold: []Statement{forged, added}, wantLen: 2},
		{name: "the same Deny under another Sid is not written twice",
			in:  Inline{Ours: &Document{Statement: []Statement{sameAsAdded}}},
			add: []Statement{added}, wantHold: []Statement{added}, wantLen: 1},
		{name: "of the Denies for the same sessions, the latest cut-off alone stays (a process that starts writes its own again)",
			in:  Inline{Ours: &Document{Statement: []Statement{personAt(t, t0.Add(-30*time.Minute)), personAt(t, t0.Add(-20*time.Minute)), live}}},
			add: []Statement{personAt(t, t0)}, wantHold: []Statement{personAt(t, t0), live}, wantGone: []Statement{personAt(t, t0.Add(-30*time.Minute)), personAt(t, t0.Add(-20*time.Minute))},
			wantDropped: 2, wantLen: 2},
		{name: "the budget counts the role's other inline policies",
			in:  Inline{Others: map[string]int{"app-permissions": MaxPolicySize - 100}},
			add: []Statement{added}, tooLarge: true},
		{name: "the other policies leave room",
			in:  Inline{Others: map[string]int{"app-permissions": MaxPolicySize - 1000, "s3": 200}},
			add: []Statement{added}, wantHold: []Statement{added}, wantLen: 1},
		{name: "expired statements make the room the others took",
			in:  Inline{Ours: &Document{Statement: fill(t, 20, t0.Add(-3*time.Hour))}, Others: map[string]int{"app-permissions": MaxPolicySize - 1000}},
			add: []Statement{added}, wantHold: []Statement{added}, wantDropped: 20, wantLen: 1},
		{name: "live statements are never dropped to make room",
			in:  Inline{Ours: &Document{Statement: fill(t, 20, t0)}, Others: map[string]int{"app-permissions": MaxPolicySize - 1000}},
			add: []Statement{added}, tooLarge: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, dropped, err := Merge(tt.in, tt.add, t0, maxSession)
			var tl *TooLargeError
			if tt.tooLarge {
				if !errors.As(err, &tl) || tl.Size <= MaxPolicySize || len(tl.Others) != len(tt.in.Others) || !strings.Contains(err.Error(), "app-permissions") {
					t.Fatalf("%v, want a *TooLargeError naming the other policies", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !Holds(got, tt.wantHold) || len(got.Statement) != tt.wantLen || dropped != tt.wantDropped {
				t.Errorf("merged %s (dropped %d): want %d statements holding %v, %d dropped", JSON(got), dropped, tt.wantLen, tt.wantHold, tt.wantDropped)
			}
			for _, s := range tt.wantGone {
				if Holds(got, []Statement{s}) {
					t.Errorf("%+v was kept", s)
				}
			}
			sids := map[string]bool{}
			for _, s := range got.Statement {
				if s.Sid != "" && sids[s.Sid] {
					t.Errorf("Sid %s twice: IAM refuses the policy", s.Sid)
				}
				sids[s.Sid] = true
			}
			if total := Size(got) + tt.in.othersSize(); total > MaxPolicySize {
				t.Errorf("the role's policies hold %d characters", total)
			}
		})
	}
}

// fill is n statements of the shape, each ending a grant's sessions before before.
func fill(t *testing.T, n int, before time.Time) []Statement {
	var out []Statement
	for i := range n {
		out = append(out, statement(t, Ended{Scope: ScopeGrant, Grant: fmt.Sprintf("prod/2026-11/person-%02d", i), Before: before}))
	}
	return out
}
