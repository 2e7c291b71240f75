package codeowners

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func readerOf(files map[string]string) Reader {
	return func(_ context.Context, path string) ([]byte, error) {
		data, ok := files[path]
		if !ok {
			return nil, fmt.Errorf("%s: %w", path, ErrNotFound)
		}
		return []byte(data), nil
	}
}

func TestLoadLooksWhereGitHubLooks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"github dir wins", map[string]string{".github/CODEOWNERS": "* @a", "CODEOWNERS": "* @b", "docs/CODEOWNERS": "* @c"}, ".github/CODEOWNERS"},
		{"root before docs", map[string]string{"CODEOWNERS": "* @b", "docs/CODEOWNERS": "* @c"}, "CODEOWNERS"},
		{"docs last", map[string]string{"docs/CODEOWNERS": "* @c"}, "docs/CODEOWNERS"},
		{"none", map[string]string{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, err := Load(context.Background(), readerOf(tt.files))
			if err != nil {
				t.Fatal(err)
			}
			if f.Path != tt.want {
				t.Errorf("Path = %q, want %q", f.Path, tt.want)
			}
		})
	}
}

func TestLoadReadErrorIsNotAbsence(t *testing.T) {
	t.Parallel()
	boom := errors.New("github is down")
	_, err := Load(context.Background(), func(context.Context, string) ([]byte, error) { return nil, boom })
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the read error (fail closed, not 'no CODEOWNERS')", err)
	}
}

func TestOwnersLastMatchWins(t *testing.T) {
	t.Parallel()
	f, err := Parse(".github/CODEOWNERS", []byte(strings.Join([]string{
		"# comment",
		"*                 @acme/platform",
		"/requests/prod/   @alice @acme/sre-leads  ops@example.com",
		"/requests/dev/",
		"/eligibility.yaml @acme/security",
	}, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path    string
		want    []Owner
		wantErr bool
		line    int
	}{
		{"requests/prod/2026-11/a.yaml", []Owner{{Login: "alice"}, {Org: "acme", Team: "sre-leads"}}, false, 3},
		{"requests/staging/2026-11/a.yaml", []Owner{{Org: "acme", Team: "platform"}}, false, 2},
		{"eligibility.yaml", []Owner{{Org: "acme", Team: "security"}}, false, 5},
		{"requests/dev/2026-11/a.yaml", nil, true, 4}, // a rule without owners unowns the path
	}
	for _, tt := range tests {
		got, err := f.Owners(tt.path)
		var noOwner *NoOwnerError
		if tt.wantErr != errors.As(err, &noOwner) {
			t.Errorf("Owners(%s) err = %v, wantErr %v", tt.path, err, tt.wantErr)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("Owners(%s) (-want +got):\n%s", tt.path, diff)
		}
		if l := f.Line(tt.path); l != tt.line {
			t.Errorf("Line(%s) = %d, want %d", tt.path, l, tt.line)
		}
	}
}

func TestUnparseableNamesFileAndLine(t *testing.T) {
	t.Parallel()
	_, err := Parse("CODEOWNERS", []byte("* @ok\nrequests/ @bad!owner\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "CODEOWNERS:2:") {
		t.Fatalf("err = %v, want it to name CODEOWNERS:2", err)
	}
}

func TestNoCodeOwnersMeansNoOwner(t *testing.T) {
	t.Parallel()
	f, err := Load(context.Background(), readerOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Owners("requests/prod/2026-11/a.yaml")
	if err == nil || !strings.Contains(err.Error(), "no CODEOWNERS") {
		t.Fatalf("err = %v, want a no-CODEOWNERS error", err)
	}
}

func TestOversizeRejected(t *testing.T) {
	t.Parallel()
	if _, err := Parse("CODEOWNERS", make([]byte, MaxSize+1)); err == nil {
		t.Fatal("want an error for an oversize CODEOWNERS")
	}
}
