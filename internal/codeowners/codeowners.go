// Package codeowners reads a repository's CODEOWNERS file the way GitHub does
// and answers who owns a path. It fails closed: a file that cannot be parsed,
// or a path nobody owns, is an error the caller must treat as a rejection.
package codeowners

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	hcodeowners "github.com/hmarr/codeowners"
)

// Locations are where GitHub looks for CODEOWNERS, in order; the first found wins.
var Locations = []string{".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS"}

// MaxSize is GitHub's own limit: a larger CODEOWNERS is ignored by GitHub.
const MaxSize = 3 << 20

// ErrNotFound is what a Reader returns (wrapped) when a file does not
// exist: fs.ErrNotExist, which every file source here matches.
var ErrNotFound = fs.ErrNotExist

// Reader reads one file of the repository at a fixed commit.
type Reader func(ctx context.Context, path string) ([]byte, error)

// Owner is a user login or an org team that owns a path.
type Owner struct {
	Login string // set for a user owner
	Org   string // set with Team for a team owner
	Team  string
}

func (o Owner) String() string {
	if o.Team != "" {
		return "@" + o.Org + "/" + o.Team
	}
	return "@" + o.Login
}

// File is a parsed CODEOWNERS file.
type File struct {
	Path  string // where it was found, "" when the repository has none
	rules hcodeowners.Ruleset
}

// NoOwnerError says a path has no owner, so nobody can approve a change to it.
type NoOwnerError struct {
	Path      string
	CodeOwner string // the CODEOWNERS path, "" when there is none
}

func (e *NoOwnerError) Error() string {
	if e.CodeOwner == "" {
		return fmt.Sprintf("%s has no owner: the repository has no CODEOWNERS (looked in %s)", e.Path, strings.Join(Locations, ", "))
	}
	return fmt.Sprintf("%s has no owner in %s: add a rule that names its approvers", e.Path, e.CodeOwner)
}

// Load finds and parses CODEOWNERS through read, looking where GitHub looks.
// A repository without one yields an empty File whose every path is unowned.
func Load(ctx context.Context, read Reader) (*File, error) {
	path, data, err := Find(ctx, read)
	if err != nil || path == "" {
		return &File{}, err
	}
	return Parse(path, data)
}

// Find returns the path and content of the CODEOWNERS GitHub would use, or
// "" when there is none. A read error other than ErrNotFound is an error:
// an outage must not look like "no CODEOWNERS".
func Find(ctx context.Context, read Reader) (path string, data []byte, err error) {
	for _, p := range Locations {
		data, err := read(ctx, p)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return "", nil, fmt.Errorf("read %s: %w", p, err)
		}
		return p, data, nil
	}
	return "", nil, nil
}

// Parse parses CODEOWNERS content found at path.
func Parse(path string, data []byte) (*File, error) {
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%s: %d bytes is over GitHub's %d-byte limit for CODEOWNERS", path, len(data), MaxSize)
	}
	rules, err := hcodeowners.ParseFile(bytes.NewReader(data))
	if err != nil {
		// hmarr reports "line N: ..."; keep it and name the file.
		return nil, fmt.Errorf("%s:%s", path, strings.TrimPrefix(err.Error(), "line "))
	}
	return &File{Path: path, rules: rules}, nil
}

// Owners returns the owners of path by the last matching rule. Email owners
// are left out: GitHub maps them to accounts we cannot see, so they never
// count. No owner is a *NoOwnerError.
func (f *File) Owners(path string) ([]Owner, error) {
	rule, err := f.rules.Match(path)
	if err != nil {
		return nil, fmt.Errorf("match %s against %s: %w", path, f.Path, err)
	}
	var owners []Owner
	if rule != nil {
		for _, o := range rule.Owners {
			switch o.Type {
			case hcodeowners.UsernameOwner:
				owners = append(owners, Owner{Login: o.Value})
			case hcodeowners.TeamOwner:
				org, team, _ := strings.Cut(o.Value, "/")
				owners = append(owners, Owner{Org: org, Team: team})
			}
		}
	}
	if len(owners) == 0 {
		return nil, &NoOwnerError{Path: path, CodeOwner: f.Path}
	}
	return owners, nil
}

// Line is the line of the rule that decides path's owners, 0 when none does.
func (f *File) Line(path string) int {
	rule, err := f.rules.Match(path)
	if err != nil || rule == nil {
		return 0
	}
	return rule.LineNumber
}
