package activity_test

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/elevate-gitops/elevate/internal/activity"
	"github.com/elevate-gitops/elevate/internal/activity/trailtest"
)

// Values a log file may hold, written by whoever made the calls (or the
// bucket's keys, by whoever may write to the bucket).
const (
	hostileName   = "@everyone <img src=x onerror=alert(1)> `x` | [a](https://evil) #12"
	hostileRegion = "eu-west-1\n\x1b[31m| x"
	hostileCode   = "Access``Denied` | `|x"
	hostileARN    = "arn:aws:s3:::bucket<!-- -->/@everyone|<b>"
	hostileResult = "Success</sub><script>|"
	hostileFile   = "@everyone <img src=x>`|`\x1b[2J\n.json.gz"
)

// hostileSummary scans a trail whose records (of the story's grant) and
// keys hold hostile values, every one in a list the comment shows.
func hostileSummary(t *testing.T) *activity.Summary {
	t.Helper()
	s1 := trailtest.Alice1
	at := trailtest.Start.Add(10 * time.Minute)
	mem := trailtest.NewMemory("trail-bucket")
	key := func(unique string) string {
		return trailtest.Key("", trailtest.Org, trailtest.Prod, "us-east-1", trailtest.Start.Add(30*time.Minute), unique)
	}
	mem.Put(key("a"), trailtest.File(
		trailtest.AssumeRole(s1, at, "a1"),
		trailtest.APICall(s1, trailtest.Call{At: at, Source: "ec2.amazonaws.com", Name: hostileName, Region: hostileRegion, Error: hostileCode}, "c1"),
		trailtest.APICall(s1, trailtest.Call{At: at, Source: "s3.amazonaws.com", Name: "PutBucketPolicy", Region: hostileRegion, Resources: []string{hostileARN}}, "c2"),
		trailtest.ConsoleLogin(s1, at, hostileResult, "c3"),
	))
	mem.Put(dir(key("a"))+hostileFile, []byte("{not a log"))
	s, err := activity.Scan(context.Background(), mem, activity.Location{Bucket: "trail-bucket"}, storyGrant(trailtest.GrantID),
		activity.Options{Now: readAt, Sensitive: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	if s.Calls != 3 || len(s.Sensitive) != 3 || len(s.Failures) != 1 || len(s.Written) != 1 || len(s.SignIns) != 1 || len(s.Problems) != 1 {
		t.Fatalf("the hostile values are not all in the summary: %+v", s)
	}
	return s
}

// shown is what a hostile value shows as once read: without control
// characters.
func shown(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
}

// TestMarkdownShowsLogValuesAsText: every value read from a log file is
// in the comment inside a code span, as the text it is; none is a mention,
// a link, HTML, or a pipe that splits a table's row.
func TestMarkdownShowsLogValuesAsText(t *testing.T) {
	t.Parallel()
	md := hostileSummary(t).Markdown()
	for _, r := range md {
		if r != '\n' && unicode.IsControl(r) {
			t.Errorf("the comment holds control character %U", r)
		}
	}
	var spans, outside []string
	header := 0 // the cells of the table being read; 0 outside tables
	for _, line := range strings.Split(md, "\n") {
		if !strings.HasPrefix(line, "|") {
			header = 0
			s, o := codeSpans(line)
			spans, outside = append(spans, s...), append(outside, o)
			continue
		}
		cells := splitRow(line)
		if header == 0 {
			header = len(cells)
		} else if len(cells) != header {
			t.Errorf("row of %d cells in a table of %d: %q", len(cells), header, line)
		}
		for _, cell := range cells {
			// GitHub unescapes a cell's pipes before it reads its spans.
			s, o := codeSpans(strings.ReplaceAll(cell, `\|`, "|"))
			spans, outside = append(spans, s...), append(outside, o)
		}
	}
	text := strings.Join(outside, "\n")
	// The comment's own markup is the only HTML outside code spans.
	for _, tag := range []string{"<details>", "</details>", "<summary>", "</summary>", "<sub>", "</sub>"} {
		text = strings.ReplaceAll(text, tag, "")
	}
	for _, bad := range []string{"@everyone", "<", ">", "](", "evil", "#12", "x)", "[31m", "[2J"} {
		if strings.Contains(text, bad) {
			t.Errorf("%q outside code spans in:\n%s", bad, md)
		}
	}
	for _, want := range []string{"ec2:" + hostileName, shown(hostileRegion), hostileCode, hostileARN, hostileResult} {
		if !slices.Contains(spans, want) {
			t.Errorf("no code span shows %q; spans: %q", want, spans)
		}
	}
	if !slices.ContainsFunc(spans, func(s string) bool { return strings.Contains(s, shown(hostileFile)) }) {
		t.Errorf("no code span shows the file %q; spans: %q", shown(hostileFile), spans)
	}
}

// TestTableHasNoControlCharacters: the terminal's table holds the values,
// without a control character that would move the cursor or colour it.
func TestTableHasNoControlCharacters(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := hostileSummary(t).Table(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, r := range out {
		if r != '\n' && unicode.IsControl(r) {
			t.Errorf("the table holds control character %U:\n%s", r, out)
		}
	}
	for _, want := range []string{"ec2:" + hostileName, shown(hostileRegion), hostileCode, hostileARN, hostileResult, shown(hostileFile)} {
		if !strings.Contains(out, want) {
			t.Errorf("the table does not show %q:\n%s", want, out)
		}
	}
}

// TestOutputsHoldNoKeysOrParameters: neither the comment, the table nor
// the JSON shows an access key id, a session token, request parameters or
// the session's name.
func TestOutputsHoldNoKeysOrParameters(t *testing.T) {
	t.Parallel()
	s := hostileSummary(t)
	var table, js bytes.Buffer
	if err := s.Table(&table); err != nil {
		t.Fatal(err)
	}
	if err := s.JSON(&js); err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"markdown": s.Markdown(), "table": table.String(), "json": js.String()} {
		for _, secret := range []string{"ASIA", trailtest.Alice1.Key, "secret-parameter-value", "SECRET-POLICY", "session token", trailtest.Alice1.Name, "gh-alice"} {
			if strings.Contains(out, secret) {
				t.Errorf("the %s shows %q", name, secret)
			}
		}
	}
}

// codeSpans reads a line's code spans as CommonMark does: a run of n
// backticks opens one, the next run of exactly n closes it, and one space
// each side is dropped when both are there. outside is the rest.
func codeSpans(line string) (spans []string, outside string) {
	var rest strings.Builder
	run := func(i int) int {
		n := 0
		for i+n < len(line) && line[i+n] == '`' {
			n++
		}
		return n
	}
	for i := 0; i < len(line); {
		if line[i] == '\\' && i+1 < len(line) {
			rest.WriteString(line[i : i+2])
			i += 2
			continue
		}
		n := run(i)
		if n == 0 {
			rest.WriteByte(line[i])
			i++
			continue
		}
		end := -1
		for j := i + n; j < len(line); {
			if m := run(j); m == n {
				end = j
				break
			} else if m > 0 {
				j += m
			} else {
				j++
			}
		}
		if end < 0 {
			rest.WriteString(line[i : i+n])
			i += n
			continue
		}
		span := line[i+n : end]
		if len(span) >= 2 && span[0] == ' ' && span[len(span)-1] == ' ' && strings.Trim(span, " ") != "" {
			span = span[1 : len(span)-1]
		}
		spans = append(spans, span)
		i = end + n
	}
	return spans, rest.String()
}

// splitRow is a table row's cells, split at pipes no backslash escapes.
func splitRow(line string) []string {
	var cells []string
	start := 0
	for i := 0; i < len(line); i++ {
		if line[i] == '|' && (i == 0 || line[i-1] != '\\') {
			cells = append(cells, line[start:i])
			start = i + 1
		}
	}
	cells = append(cells, line[start:])
	// The row's leading and trailing pipes leave an empty cell each side.
	if len(cells) >= 2 && strings.TrimSpace(cells[0]) == "" {
		cells = cells[1:]
	}
	if n := len(cells); n >= 1 && strings.TrimSpace(cells[n-1]) == "" {
		cells = cells[:n-1]
	}
	return cells
}
