package awsprofile

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// Marker is the comment line above each section elevate writes; a line
// starting with markerPrefix is recognised as one (older wordings too).
const (
	Marker       = markerPrefix + " (it rewrites or removes this section; delete this line to make it yours)"
	markerPrefix = "# written by elevate configure"
)

// Section is a section elevate wants in the file.
type Section struct {
	// Name is the section's name as the AWS CLI reads it, which is also
	// its header: "profile NAME" or "sso-session NAME".
	Name string
	Keys []Key
}

// Key is one key = value line.
type Key struct{ Name, Value string }

// Text is the section as Apply writes it, marker first, each line ended by
// eol.
func (s Section) Text(eol string) string {
	var b strings.Builder
	b.WriteString(Marker + eol + "[" + s.Name + "]" + eol)
	for _, k := range s.Keys {
		b.WriteString(k.Name + " = " + k.Value + eol)
	}
	return b.String()
}

// check refuses a section whose lines would not read back as written.
func (s Section) check(ours func(string) bool) error {
	if s.Name == "" || Name(s.Name) != s.Name || strings.ContainsAny(s.Name, "[]\r\n") || !ours(s.Name) {
		return fmt.Errorf("awsprofile: %q is not a section name elevate writes", s.Name)
	}
	for _, k := range s.Keys {
		if k.Name == "" || strings.ContainsAny(k.Name, "=:[]#; \t\r\n") || strings.ContainsAny(k.Value, "\r\n") ||
			strings.TrimSpace(k.Value) != k.Value {
			return fmt.Errorf("awsprofile: section %s: key %q = %q cannot be written on one line", s.Name, k.Name, k.Value)
		}
	}
	return nil
}

// Action is what Apply did with a section.
type Action int

const (
	Unchanged Action = iota // elevate's section was already as wanted
	Added                   // a wanted section was not in the file
	Updated                 // elevate's section was rewritten
	Removed                 // elevate's section is no longer wanted (or is shadowed, or a second copy)
	Skipped                 // a section of the wanted name is not elevate's: left alone, not written
)

func (a Action) String() string {
	return [...]string{"unchanged", "added", "updated", "removed", "skipped"}[a]
}

// Change is what Apply did with one section.
type Change struct {
	Name   string
	Action Action
	// Why a Removed section went: "not wanted", "shadowed" (a section of
	// the same name that is not elevate's is in the file), "duplicate".
	Why string
}

// Apply returns file with elevate's sections as want says, and what
// changed: wanted sections first, in want's order, then the removed ones
// in the file's order. ours says which names elevate writes (a marked
// section of another name is not elevate's); every name in want must be
// one of them. Apply never changes a section that is not elevate's.
func Apply(file []byte, want []Section, ours func(name string) bool) ([]byte, []Change, error) {
	wanted := map[string]int{}
	for i, s := range want {
		if err := s.check(ours); err != nil {
			return nil, nil, err
		}
		if _, dup := wanted[s.Name]; dup {
			return nil, nil, fmt.Errorf("awsprofile: section %s wanted twice", s.Name)
		}
		wanted[s.Name] = i
	}
	lines := splitLines(string(file))
	eol := "\n"
	if len(lines) > 0 && lines[0].end == "\r\n" {
		eol = "\r\n"
	}
	sections := findSections(lines, ours)

	foreign := map[string]bool{}
	for _, s := range sections {
		if !s.ours {
			foreign[s.name] = true
		}
	}
	var (
		changes = make([]Change, len(want))
		removed []Change
		found   = map[string]bool{}
		replace = map[int]string{} // a kept section's first line -> its new text
		drop    = make([]bool, len(lines))
		after   = -1 // the last line of the last kept section of elevate's
	)
	for _, s := range sections {
		if !s.ours {
			continue
		}
		i, isWanted := wanted[s.name]
		switch {
		case isWanted && !foreign[s.name] && !found[s.name]:
			found[s.name] = true
			text := want[i].Text(eol)
			if joinLines(lines[s.start:s.end]) == text {
				changes[i] = Change{Name: s.name, Action: Unchanged}
			} else {
				changes[i] = Change{Name: s.name, Action: Updated}
				replace[s.start] = text
				for j := s.start + 1; j < s.end; j++ {
					drop[j] = true
				}
			}
			after = s.end - 1
		default:
			why := "not wanted"
			if foreign[s.name] {
				why = "shadowed"
			} else if found[s.name] {
				why = "duplicate"
			}
			removed = append(removed, Change{Name: s.name, Action: Removed, Why: why})
			for j := s.start; j < s.end; j++ {
				drop[j] = true
			}
		}
	}
	dropBlanks(lines, sections, drop)

	var added strings.Builder
	for i, s := range want {
		switch {
		case foreign[s.Name]:
			changes[i] = Change{Name: s.Name, Action: Skipped}
		case !found[s.Name]:
			changes[i] = Change{Name: s.Name, Action: Added}
			if added.Len() > 0 || after >= 0 {
				added.WriteString(eol)
			}
			added.WriteString(s.Text(eol))
		}
	}

	var out strings.Builder
	out.Grow(len(file) + added.Len())
	for i, l := range lines {
		if text, ok := replace[i]; ok {
			out.WriteString(text)
		} else if !drop[i] {
			out.WriteString(l.text + l.end)
		}
		if i == after {
			out.WriteString(added.String())
		}
	}
	if after < 0 && added.Len() > 0 {
		s := out.String()
		if s != "" && !strings.HasSuffix(s, "\n") {
			out.WriteString(eol)
			s += eol
		}
		if s != "" && !endsBlank(s) {
			out.WriteString(eol)
		}
		out.WriteString(added.String())
	}
	return []byte(out.String()), append(changes, removed...), nil
}

// endsBlank reports whether s ends with an empty (or blank) line.
func endsBlank(s string) bool {
	s = strings.TrimSuffix(strings.TrimSuffix(s, "\n"), "\r")
	i := strings.LastIndex(s, "\n")
	return strings.TrimSpace(s[i+1:]) == ""
}

// dropBlanks drops the blank lines that set removed sections apart: at the
// end of the file, those before the section and after it; between two
// sections, those before it (the ones after it keep its neighbours apart);
// at the start of the file, those after it.
func dropBlanks(lines []line, sections []section, drop []bool) {
	for _, s := range sections {
		if !s.ours || !drop[s.start] {
			continue
		}
		before := s.start
		for before > 0 && lines[before-1].kind == blank && !drop[before-1] {
			before--
		}
		next := s.end
		for next < len(lines) && lines[next].kind == blank {
			next++
		}
		atEnd := true
		for k := s.end; k < len(lines); k++ {
			if lines[k].kind != blank && !drop[k] {
				atEnd = false
				break
			}
		}
		switch {
		case atEnd:
			for k := before; k < len(lines); k++ {
				if lines[k].kind == blank {
					drop[k] = true
				}
			}
		case before < s.start && next > s.end:
			for k := before; k < s.start; k++ {
				drop[k] = true
			}
		case s.start == 0 || before == 0:
			for k := before; k < next; k++ {
				drop[k] = true
			}
		}
	}
}

// lineKind is how the AWS CLI reads a line.
type lineKind int

const (
	blank   lineKind = iota // empty or white space
	comment                 // # or ; first
	header                  // [name]
	body                    // a key, a continuation, or anything else
)

// line is one line of the file.
type line struct {
	text, end string // end: "\n", "\r\n", or "" for a last line without one
	kind      lineKind
	name      string // of a header: the section's name (Name)
}

// splitLines reads the file as the AWS CLI does (Python's configparser).
func splitLines(s string) []line {
	var lines []line
	optIndent := -1 // the indent of the current section's last key; -1: none yet
	for s != "" {
		l := line{text: s}
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			l.text, l.end, s = s[:i], "\n", s[i+1:]
			if strings.HasSuffix(l.text, "\r") {
				l.text, l.end = l.text[:len(l.text)-1], "\r\n"
			}
		} else {
			s = ""
		}
		t := strings.TrimSpace(l.text)
		indent := strings.IndexFunc(l.text, func(r rune) bool { return !unicode.IsSpace(r) })
		switch {
		case t == "":
			l.kind = blank
		case t[0] == '#' || t[0] == ';':
			l.kind = comment
		case optIndent >= 0 && indent > optIndent:
			l.kind = body // a continuation, even when it looks like a header
		case t[0] == '[' && strings.LastIndexByte(t, ']') > 1:
			l.kind, l.name = header, Name(t[1:strings.LastIndexByte(t, ']')])
			optIndent = -1
		default:
			l.kind = body
			optIndent = indent
		}
		lines = append(lines, l)
	}
	return lines
}

func joinLines(lines []line) string {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l.text + l.end)
	}
	return b.String()
}

// section is one section of the file: lines[start:end] is what elevate
// owns of it when ours (marker to last body line), its header to its last
// body line when not.
type section struct {
	name       string
	start, end int
	ours       bool
}

// findSections lists the file's sections, marking elevate's.
func findSections(lines []line, ours func(string) bool) []section {
	var out []section
	for i, l := range lines {
		if l.kind != header {
			continue
		}
		s := section{name: l.name, start: i, end: i + 1}
		if i > 0 && lines[i-1].kind == comment && strings.HasPrefix(strings.TrimSpace(lines[i-1].text), markerPrefix) && ours(l.name) {
			s.ours, s.start = true, i-1
		}
		for j := i + 1; j < len(lines) && lines[j].kind != header; j++ {
			if lines[j].kind == body {
				s.end = j + 1
			}
		}
		out = append(out, s)
	}
	return out
}

// Name is the name the AWS CLI gives the section whose header is h (the
// text between the brackets): "profile NAME" for [profile NAME] (and
// "profile default" for [default]), "sso-session NAME" for
// [sso-session NAME], h itself for any other.
func Name(h string) string {
	if h == "default" {
		return "profile default"
	}
	for _, kind := range []string{"profile", "sso-session"} {
		if !strings.HasPrefix(h, kind) {
			continue
		}
		if words, err := shellSplit(h); err == nil && len(words) == 2 {
			return kind + " " + words[1]
		}
		return h
	}
	return h
}

// shellSplit splits s into words as Python's shlex.split does (POSIX mode,
// no comments), which is how the AWS CLI reads a section's name.
func shellSplit(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ' ', '\t', '\r', '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, errors.New("no closing quotation")
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case '"':
			inWord = true
			for i++; ; i++ {
				if i >= len(s) {
					return nil, errors.New("no closing quotation")
				}
				if s[i] == '"' {
					break
				}
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\\\"", s[i+1]) >= 0 {
					i++
				}
				cur.WriteByte(s[i])
			}
		case '\\':
			if i+1 >= len(s) {
				return nil, errors.New("no escaped character")
			}
			i++
			cur.WriteByte(s[i])
			inWord = true
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
