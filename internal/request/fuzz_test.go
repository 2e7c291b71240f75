package request

import (
	"bytes"
	"errors"
	"io/fs"
	"slices"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// FuzzParse checks that Parse never panics, that every error is an *Error
// naming the file, and that every request it accepts satisfies the rules and
// survives Marshal and Parse unchanged. Seeds: the testdata/*.yaml files plus
// the corpus in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	names, err := fs.Glob(testdata, "*.yaml")
	if err != nil {
		f.Fatal(err)
	}
	if len(names) == 0 {
		f.Fatal("no seed files in testdata")
	}
	for _, name := range names {
		f.Add(readTestdata(f, name))
	}
	f.Add([]byte(minimal))
	f.Add([]byte(aliasBomb()))

	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse(testFile, data)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is %T, want *Error", err, err)
			}
			if e.File != testFile {
				t.Fatalf("error %q: File = %q", e, e.File)
			}
			if e.Message == "" || e.Line < 0 {
				t.Fatalf("error %#v: empty message or negative line", e)
			}
			if r != nil {
				t.Fatalf("Parse returned a request with its error")
			}
			return
		}
		checkInvariants(t, r)

		out := Marshal(r)
		back, err := Parse(testFile, out)
		if err != nil {
			t.Fatalf("Parse(Marshal(r)): %v\n%s", err, out)
		}
		if diff := cmp.Diff(r, back, cmpopts.IgnoreFields(Request{}, "Lines")); diff != "" {
			t.Fatalf("round trip mismatch (-parsed +reparsed):\n%s\n%s", diff, out)
		}
		if again := Marshal(back); !bytes.Equal(again, out) {
			t.Fatalf("Marshal is not stable:\n%s\n---\n%s", out, again)
		}
	})
}

func checkInvariants(t *testing.T, r *Request) {
	t.Helper()
	switch {
	case !validLogin(r.Requester):
		t.Fatalf("accepted requester %q", r.Requester)
	case !accountRE.MatchString(r.Account):
		t.Fatalf("accepted account %q", r.Account)
	case len(r.AllTargets()) < 1 || len(r.AllTargets()) > MaxTargets:
		t.Fatalf("accepted %d targets", len(r.AllTargets()))
	case r.AllTargets()[0].Account != r.Account:
		t.Fatalf("account %q is not the first target's", r.Account)
	case !validTargets(r.AllTargets()):
		t.Fatalf("accepted targets %v", r.AllTargets())
	case r.Duration <= 0 || r.Duration > maxDuration:
		t.Fatalf("accepted duration %v", r.Duration)
	case utf8.RuneCountInString(r.Reason) < 10 || utf8.RuneCountInString(r.Reason) > 1000:
		t.Fatalf("accepted reason of %d runes", utf8.RuneCountInString(r.Reason))
	case utf8.RuneCountInString(r.Ticket) > 100:
		t.Fatalf("accepted ticket of %d runes", utf8.RuneCountInString(r.Ticket))
	case !r.NotBefore.IsZero() && r.NotBefore.Location() != time.UTC:
		t.Fatalf("not_before %v is not in UTC", r.NotBefore)
	}
	required := []string{keyRequester, keyDuration, keyReason, keyTargets}
	if len(r.Targets) == 0 {
		required = []string{keyRequester, keyAccount, keyDuration, keyReason, keyRole}
		if r.PermissionSet != "" {
			required[4] = keyPermSet
		}
	}
	for _, key := range required {
		if r.Lines[key] < 1 {
			t.Fatalf("Lines[%q] = %d", key, r.Lines[key])
		}
	}
	for key := range r.Lines {
		if !slices.Contains(allKeys, key) && !isTargetField(r, key) {
			t.Fatalf("Lines has unknown key %q", key)
		}
	}
}

// validTargets reports whether every target names a valid account and
// exactly one valid role or permission set, each target once.
func validTargets(targets []Target) bool {
	seen := map[Target]bool{}
	for _, t := range targets {
		if seen[t] || !accountRE.MatchString(t.Account) || (t.Role == "") == (t.PermissionSet == "") || !roleRE.MatchString(t.Name()) {
			return false
		}
		seen[t] = true
	}
	return true
}

func isTargetField(r *Request, key string) bool {
	for i := range r.Targets {
		if key == TargetField(i) {
			return true
		}
	}
	return false
}
