package golden

import (
	"fmt"
	"strings"
)

// contextLines is how many unchanged lines a hunk shows around a change.
const contextLines = 3

// maxCells bounds the diff's table (lines of want times lines of got); past
// it, Diff shows the first differing line alone.
const maxCells = 4 << 20

// Diff returns the first line (from 1) where want and got differ, 0 if they
// do not, and a unified diff of them (-want +got) without file headers. A
// last line without a newline is marked as git marks it.
func Diff(want, got string) (first int, diff string) {
	a, b := splitLines(want), splitLines(got)
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	if i == len(a) && i == len(b) {
		return 0, ""
	}
	first = i + 1
	if len(a)*len(b) > maxCells {
		var s strings.Builder
		fmt.Fprintf(&s, "@@ line %d (too long to diff in full) @@\n", first)
		if i < len(a) {
			writeLine(&s, '-', a[i])
		}
		if i < len(b) {
			writeLine(&s, '+', b[i])
		}
		return first, s.String()
	}
	return first, unified(a, b, edits(a, b))
}

// splitLines splits s after each newline; a last line without one is kept.
func splitLines(s string) []string {
	lines := strings.SplitAfter(s, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// op is one line of an edit script: ' ' (in both), '-' (want only) or '+'
// (got only), with its index in want (ai) and got (bi).
type op struct {
	kind   byte
	ai, bi int
}

// edits is a shortest edit script from a to b, from their longest common
// subsequence.
func edits(a, b []string) []op {
	// lcs[i][j] is the length of the LCS of a[i:] and b[j:].
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var ops []op
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			ops = append(ops, op{' ', i, j})
			i++
			j++
		case j == len(b) || (i < len(a) && lcs[i+1][j] >= lcs[i][j+1]):
			ops = append(ops, op{'-', i, j})
			i++
		default:
			ops = append(ops, op{'+', i, j})
			j++
		}
	}
	return ops
}

// unified writes ops as hunks with contextLines of context.
func unified(a, b []string, ops []op) string {
	var s strings.Builder
	for start := 0; start < len(ops); {
		// The next change, and the hunk around it.
		for start < len(ops) && ops[start].kind == ' ' {
			start++
		}
		if start == len(ops) {
			break
		}
		lo := max(start-contextLines, 0)
		hi := start
		for unchanged := 0; hi < len(ops); hi++ {
			if ops[hi].kind != ' ' {
				unchanged = 0
				continue
			}
			unchanged++
			if unchanged > 2*contextLines {
				break
			}
		}
		// Trim the trailing context to contextLines.
		end := hi
		for end > start && ops[end-1].kind == ' ' {
			end--
		}
		end = min(end+contextLines, len(ops))
		var na, nb int
		for _, o := range ops[lo:end] {
			if o.kind != '+' {
				na++
			}
			if o.kind != '-' {
				nb++
			}
		}
		fmt.Fprintf(&s, "@@ -%s +%s @@\n", hunkRange(ops[lo].ai, na), hunkRange(ops[lo].bi, nb))
		for _, o := range ops[lo:end] {
			switch o.kind {
			case '+':
				writeLine(&s, '+', b[o.bi])
			default:
				writeLine(&s, o.kind, a[o.ai])
			}
		}
		start = end
	}
	return s.String()
}

// hunkRange is a hunk header's "line,count"; an empty range names the line
// before it, as diff -u does.
func hunkRange(index, count int) string {
	if count == 0 {
		return fmt.Sprintf("%d,0", index)
	}
	return fmt.Sprintf("%d,%d", index+1, count)
}

// writeLine writes one diff line; a line without a newline is followed by
// git's marker.
func writeLine(s *strings.Builder, kind byte, line string) {
	s.WriteByte(kind)
	s.WriteString(line)
	if !strings.HasSuffix(line, "\n") {
		s.WriteString("\n\\ No newline at end of file\n")
	}
}
