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
)

var t0 = time.Date(2026, 11, 25, 14, 2, 11, 0, time.UTC)

// IAM's policy grammar (IAM User Guide, "IAM JSON policy elements" and
// "Grammar of the IAM JSON policy language"), as far as elevate uses it: a
// typo in any key fails here.
var (
	documentKeys  = []string{"Version", "Id", "Statement"}
	statementKeys = []string{"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource", "Condition"}
	operators     = []string{"StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase", "StringLike", "StringNotLike",
		"DateEquals", "DateNotEquals", "DateLessThan", "DateLessThanEquals", "DateGreaterThan", "DateGreaterThanEquals"}
	// Global condition context keys elevate conditions on.
	globalKeys = []string{"aws:SourceIdentity", "aws:TokenIssueTime"}
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
				if !slices.Contains(globalKeys, key) {
					t.Errorf("condition key %q is not a global context key elevate means", key)
				}
				if key == "aws:TokenIssueTime" {
					if _, err := time.Parse(time.RFC3339, v.(string)); err != nil || !strings.HasPrefix(op, "Date") {
						t.Errorf("%s %s %v: want a Date operator and an ISO 8601 time", op, key, v)
					}
				}
			}
		}
	}
}

func TestStatementGrammar(t *testing.T) {
	t.Parallel()
	one := StatementFor(Ended{Login: "carol", Before: t0})
	all := StatementFor(Ended{Before: t0})
	doc, _, err := Merge(nil, []Statement{one, all}, t0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	raw := JSON(doc)
	checkGrammar(t, raw)
	if got := one.Condition["StringEquals"]["aws:SourceIdentity"]; got != "gh-carol" {
		t.Errorf("SourceIdentity = %q", got)
	}
	if got := one.Condition["DateLessThan"]["aws:TokenIssueTime"]; got != "2026-11-25T14:02:11Z" {
		t.Errorf("TokenIssueTime = %q", got)
	}
	if got := all.Condition["StringLike"]["aws:SourceIdentity"]; got != "gh-*" {
		t.Errorf("every session of the role: %q", got)
	}
	back, err := ParseDocument(url.PathEscape(raw))
	if err != nil || len(back.Statement) != 2 {
		t.Errorf("GetRolePolicy's URL-encoded form reads back as %+v, %v", back, err)
	}
}

func TestMerge(t *testing.T) {
	t.Parallel()
	other := Statement{Sid: "SomeoneElses", Effect: "Deny", Action: "s3:*", Resource: "*"}
	old := StatementFor(Ended{Login: "alice", Before: t0.Add(-3 * time.Hour)})
	live := StatementFor(Ended{Login: "bob", Before: t0.Add(-10 * time.Minute)})
	added := StatementFor(Ended{Login: "carol", Before: t0})
	doc := &Document{Version: "2012-10-17", Statement: []Statement{other, old, live}}
	got, dropped, err := Merge(doc, []Statement{added, added, live}, t0, 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var sids []string
	for _, s := range got.Statement {
		sids = append(sids, s.Sid)
	}
	slices.Sort(sids)
	want := []string{added.Sid, live.Sid, other.Sid}
	slices.Sort(want)
	if dropped != 1 || !slices.Equal(sids, want) {
		t.Errorf("merged %v (dropped %d), want %v: the statement older than the role's maximum session goes, the others stay once", sids, dropped, want)
	}
	// Too many live statements: refused, nothing dropped.
	var many []Statement
	for i := range 60 {
		many = append(many, StatementFor(Ended{Login: fmt.Sprintf("person-%02d", i), Before: t0}))
	}
	_, _, err = Merge(doc, many, t0, 2*time.Hour)
	var tooLarge *TooLargeError
	if !errors.As(err, &tooLarge) || tooLarge.Live < 60 {
		t.Errorf("60 live statements: %v, want *TooLargeError", err)
	}
}
