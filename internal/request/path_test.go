package request

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParsePath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path    string
		want    Path
		wantMsg string // substring of the error message; "" when valid
	}{
		{path: "requests/prod/2026-11/alice-admin-inc4821.yaml", want: Path{"prod", "2026-11", "alice-admin-inc4821"}},
		{path: "requests/a/0001-01/x.yaml", want: Path{"a", "0001-01", "x"}},
		{path: "requests/stag-2/2026-12/-.yaml", want: Path{"stag-2", "2026-12", "-"}},
		{path: "requests/prod/2026-11/" + strings.Repeat("n", 80) + ".yaml", want: Path{"prod", "2026-11", strings.Repeat("n", 80)}},

		{path: "requests/prod/x.yaml", wantMsg: "missing the month folder: expected requests/prod/<yyyy-mm>/x.yaml"},
		{path: "", wantMsg: "empty path"},
		{path: "/requests/prod/2026-11/x.yaml", wantMsg: "relative to the repository root"},
		{path: `requests\prod\2026-11\x.yaml`, wantMsg: "backslashes"},
		{path: "requests/prod/../prod/2026-11/x.yaml", wantMsg: `".." is not allowed`},
		{path: "requests/prod/2026-11/../x.yaml", wantMsg: `".." is not allowed`},
		{path: "requests/./prod/2026-11/x.yaml", wantMsg: `"." is not allowed`},
		{path: "requests//prod/2026-11/x.yaml", wantMsg: "empty path segment"},
		{path: "requests/prod/2026-11/", wantMsg: "empty path segment"},
		{path: "other/prod/2026-11/x.yaml", wantMsg: "not under requests/"},
		{path: "Requests/prod/2026-11/x.yaml", wantMsg: "not under requests/"},
		{path: "requests/x.yaml", wantMsg: "expected 4 path segments, found 2"},
		{path: "requests/prod/2026-11/extra/x.yaml", wantMsg: "found 5"},
		{path: "requests/Prod/x.yaml", wantMsg: "found 3"},
		{path: "requests/prod/x.yml", wantMsg: "found 3"},
		{path: "requests/Prod/2026-11/x.yaml", wantMsg: `"Prod" is not an account name`},
		{path: "requests/-prod/2026-11/x.yaml", wantMsg: "not an account name"},
		{path: "requests/prod/2026-13/x.yaml", wantMsg: `"2026-13" is not a month folder`},
		{path: "requests/prod/2026-00/x.yaml", wantMsg: "not a month folder"},
		{path: "requests/prod/2026-1/x.yaml", wantMsg: "not a month folder"},
		{path: "requests/prod/26-11/x.yaml", wantMsg: "not a month folder"},
		{path: "requests/prod/2026-11/x.yml", wantMsg: "use the .yaml extension"},
		{path: "requests/prod/2026-11/x.json", wantMsg: `"x.json" does not end in .yaml`},
		{path: "requests/prod/2026-11/x.YAML", wantMsg: "does not end in .yaml"},
		{path: "requests/prod/2026-11/x", wantMsg: "does not end in .yaml"},
		{path: "requests/prod/2026-11/.yaml", wantMsg: `"" is not a valid name`},
		{path: "requests/prod/2026-11/Alice.yaml", wantMsg: `"Alice" is not a valid name`},
		{path: "requests/prod/2026-11/a_b.yaml", wantMsg: "not a valid name"},
		{path: "requests/prod/2026-11/a.b.yaml", wantMsg: "not a valid name"},
		{path: "requests/prod/2026-11/" + strings.Repeat("n", 81) + ".yaml", wantMsg: "not a valid name"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			got, err := ParsePath(tt.path)
			if tt.wantMsg == "" {
				if err != nil {
					t.Fatalf("ParsePath: %v", err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("ParsePath mismatch (-want +got):\n%s", diff)
				}
				if got.String() != tt.path {
					t.Errorf("String() = %q, want %q", got.String(), tt.path)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("ParsePath = %+v, %v; want an *Error", got, err)
			}
			if diff := cmp.Diff(Error{File: tt.path, Message: e.Message}, *e); diff != "" {
				t.Errorf("error mismatch (-want +got):\n%s", diff)
			}
			if !strings.Contains(e.Message, tt.wantMsg) {
				t.Errorf("message %q does not contain %q", e.Message, tt.wantMsg)
			}
			// Every message shows the expected form.
			if !strings.Contains(e.Message, "requests/prod/2026-11/alice-admin-inc4821.yaml") &&
				!strings.Contains(e.Message, "/<yyyy-mm>/") {
				t.Errorf("message %q does not show the expected path form", e.Message)
			}
			if got != (Path{}) {
				t.Errorf("ParsePath returned %+v with its error", got)
			}
		})
	}
}

func TestPathStringAndID(t *testing.T) {
	t.Parallel()
	p := Path{Account: "prod", Month: "2026-11", Name: "alice-admin-inc4821"}
	if got, want := p.String(), "requests/prod/2026-11/alice-admin-inc4821.yaml"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got, want := p.ID(), "prod/2026-11/alice-admin-inc4821"; got != want {
		t.Errorf("ID() = %q, want %q", got, want)
	}
}

func TestPathFor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		written time.Time
		want    Path
	}{
		{"utc", time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), Path{"prod", "2026-11", "n"}},
		// 00:30 on 1 December in UTC+2 is still November in UTC.
		{"month taken in UTC", time.Date(2026, 12, 1, 0, 30, 0, 0, time.FixedZone("EET", 2*3600)), Path{"prod", "2026-11", "n"}},
		{"new year in UTC", time.Date(2026, 12, 31, 23, 30, 0, 0, time.FixedZone("EST", -5*3600)), Path{"prod", "2027-01", "n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := PathFor("prod", tt.written, "n")
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("PathFor mismatch (-want +got):\n%s", diff)
			}
			back, err := ParsePath(got.String())
			if err != nil {
				t.Fatalf("ParsePath(PathFor(...).String()): %v", err)
			}
			if back != got {
				t.Errorf("ParsePath(%q) = %+v, want %+v", got, back, got)
			}
		})
	}
}

func TestIsRequestPath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path string
		want bool
	}{
		{"requests/prod/2026-11/x.yaml", true},
		{"requests/x.yaml", true},
		{"requests/prod/README.md", true},
		{"requests/a/b/c/d/e.txt", true},
		{"requests/", true},
		{"requests", false},
		{"requestsx/y.yaml", false},
		{"Requests/prod/2026-11/x.yaml", false},
		{"eligibility.yaml", false},
		{".github/CODEOWNERS", false},
		{"docs/requests/x.yaml", false},
		{"/requests/x.yaml", false},
	}
	for _, tt := range tests {
		if got := IsRequestPath(tt.path); got != tt.want {
			t.Errorf("IsRequestPath(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
}

func TestValidName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		want bool
	}{
		{"alice-admin-inc4821", true},
		{"a", true},
		{"0", true},
		{"-", true},
		{strings.Repeat("a", 80), true},
		{"", false},
		{strings.Repeat("a", 81), false},
		{"Alice", false},
		{"a_b", false},
		{"a.b", false},
		{"a b", false},
		{"a/b", false},
		{"é", false},
	}
	for _, tt := range tests {
		if got := ValidName(tt.name); got != tt.want {
			t.Errorf("ValidName(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}
