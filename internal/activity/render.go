package activity

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Rows the PR comment shows of each list; the summary holds more.
const (
	showActions   = 25
	showFailures  = 10
	showWritten   = 10
	showSensitive = 15
	showSignIns   = 10
	showProblems  = 5
)

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// code is s as a Markdown code span: whatever s holds (a mention, a link,
// HTML, an image) shows as the text it is. In a table cell a pipe must be
// escaped even there, or it splits the cell.
func code(s string, inTable bool) string {
	if s == "" {
		return "—"
	}
	if inTable {
		s = strings.ReplaceAll(s, "|", `\|`)
	}
	run, longest := 0, 0
	for _, r := range s {
		if r == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	fence := strings.Repeat("`", longest+1)
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") || strings.HasPrefix(s, " ") {
		s = " " + s + " "
	}
	return fence + s + fence
}

// Markdown is the summary as a pull request comment's text (without
// elevate's marker and sealed state, which prcomment adds).
func (s *Summary) Markdown() string {
	var b strings.Builder
	var roles []string
	for _, t := range s.Targets {
		roles = append(roles, fmt.Sprintf("role %s in %s", code(t.Role, false), t.AccountID))
	}
	fmt.Fprintf(&b, "🔎 **elevate: what %s was used for**, from CloudTrail: %s, window %s – %s",
		code(s.Request, false), strings.Join(roles, ", "), stamp(s.Start), stamp(s.End))
	if s.Revoked != nil {
		fmt.Fprintf(&b, ", **revoked at %s**", stamp(*s.Revoked))
	}
	b.WriteString(".\n\n")
	switch {
	case !s.Used() && s.Files == 0 && len(s.Problems) > 0:
		b.WriteString("**Unknown:** the trail could not be read (below).\n")
	case !s.Used():
		fmt.Fprintf(&b, "**Not used:** no call of its sessions was found in %s.\n", plural(s.Files, "log file"))
	default:
		var regions []string
		for _, r := range s.Regions {
			regions = append(regions, code(r, false))
		}
		fmt.Fprintf(&b, "**%s** by %s, from %s to %s, in %s.", plural(s.Calls, "call"), plural(s.Sessions, "session"), stamp(*s.First), stamp(*s.Last), strings.Join(regions, ", "))
		if s.Errors > 0 {
			fmt.Fprintf(&b, " **%s**, %d of them access denied.", plural(s.Errors, "error"), s.AccessDenied)
		}
		fmt.Fprintf(&b, " %s. %s matched the sensitive actions.\n", plural(s.SignInCount, "console sign-in"), plural(s.SensitiveCalls, "call"))
	}
	if len(s.Sensitive) > 0 {
		fmt.Fprintf(&b, "\n**⚠️ Sensitive calls** (%s):\n\n| time (UTC) | call | account | region | error |\n|---|---|---|---|---|\n", shown(len(s.Sensitive), s.SensitiveCalls, showSensitive))
		for _, e := range cut(s.Sensitive, showSensitive) {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", stamp(e.At), code(e.Action, true), code(e.Account, true), code(e.Region, true), code(e.Error, true))
		}
	}
	if len(s.Failures) > 0 {
		fmt.Fprintf(&b, "\n**Errors** (%s):\n\n| call | error | count |\n|---|---|---|\n", shown(len(s.Failures), len(s.Failures), showFailures))
		for _, f := range cut(s.Failures, showFailures) {
			mark := ""
			if f.AccessDenied {
				mark = "🚫 "
			}
			fmt.Fprintf(&b, "| %s | %s%s | %d |\n", code(f.Action, true), mark, code(f.Code, true), f.Count)
		}
	}
	if len(s.Written) > 0 {
		fmt.Fprintf(&b, "\n**Resources written** (%s):\n\n| resource | type | calls |\n|---|---|---|\n", shown(len(s.Written), len(s.Written), showWritten))
		for _, w := range cut(s.Written, showWritten) {
			fmt.Fprintf(&b, "| %s | %s | %d |\n", code(w.ARN, true), code(w.Type, true), w.Calls)
		}
	}
	if len(s.SignIns) > 0 {
		b.WriteString("\n**Console sign-ins:**\n\n| time (UTC) | result | region |\n|---|---|---|\n")
		for _, e := range cut(s.SignIns, showSignIns) {
			fmt.Fprintf(&b, "| %s | %s | %s |\n", stamp(e.At), code(e.Result, true), code(e.Region, true))
		}
	}
	if len(s.Actions) > 0 {
		fmt.Fprintf(&b, "\n<details><summary>Calls by service and action (%s)</summary>\n\n| call | calls | errors |\n|---|---|---|\n", shown(len(s.Actions), len(s.Actions), showActions))
		for _, a := range cut(s.Actions, showActions) {
			fmt.Fprintf(&b, "| %s | %d | %d |\n", code(a.Action, true), a.Calls, a.Errors)
		}
		b.WriteString("\n</details>\n")
	}
	if len(s.Problems) > 0 {
		b.WriteString("\n**Not everything could be read**; the figures above leave out:\n")
		for _, p := range cut(s.Problems, showProblems) {
			fmt.Fprintf(&b, "- %s\n", code(p, false))
		}
	}
	if s.Final {
		fmt.Fprintf(&b, "\n<sub>Read %s at %s, a day after the window: this is the last reading.</sub>\n", plural(s.Files, "log file"), stamp(s.ReadAt))
	} else {
		fmt.Fprintf(&b, "\n<sub>Read %s at %s. Files CloudTrail delivers late are read until %s, and this comment is updated.</sub>\n",
			plural(s.Files, "log file"), stamp(s.ReadAt), stamp(s.End.Add(LateFiles)))
	}
	return b.String()
}

// shown says how many of total rows the comment lists.
func shown(have, total, show int) string {
	if n := min(have, show); n < total {
		return fmt.Sprintf("the first %d of %d", n, total)
	}
	return fmt.Sprint(total)
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// JSON writes the summary as indented JSON.
func (s *Summary) JSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}

// Table writes the summary as text for a terminal. Its values were
// stripped of control characters when read.
func (s *Summary) Table(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	p := func(format string, args ...any) { fmt.Fprintf(tw, format, args...) }
	p("request\t%s\n", s.Request)
	for _, t := range s.Targets {
		p("target\trole %s in %s\n", t.Role, t.AccountID)
	}
	p("window\t%s – %s\n", stamp(s.Start), stamp(s.End))
	if s.Revoked != nil {
		p("revoked\t%s\n", stamp(*s.Revoked))
	}
	p("read\t%s at %s\n", plural(s.Files, "log file"), stamp(s.ReadAt))
	switch {
	case !s.Used() && s.Files == 0 && len(s.Problems) > 0:
		p("used\tunknown: the trail could not be read\n")
	case !s.Used():
		p("used\tno: no call of its sessions was found\n")
	default:
		p("calls\t%d by %s, %s to %s\n", s.Calls, plural(s.Sessions, "session"), stamp(*s.First), stamp(*s.Last))
		p("regions\t%s\n", strings.Join(s.Regions, ", "))
		p("errors\t%d (%d access denied)\n", s.Errors, s.AccessDenied)
		p("sign-ins\t%d\n", s.SignInCount)
		p("sensitive\t%d\n", s.SensitiveCalls)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	section := func(title string, header string, rows [][]string) error {
		if len(rows) == 0 {
			return nil
		}
		fmt.Fprintf(w, "\n%s\n", title)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, header)
		for _, r := range rows {
			fmt.Fprintln(tw, strings.Join(r, "\t"))
		}
		return tw.Flush()
	}
	var rows [][]string
	for _, e := range s.Sensitive {
		rows = append(rows, []string{stamp(e.At), e.Action, e.Account, dash(e.Region), dash(e.Error)})
	}
	if err := section("SENSITIVE CALLS", "TIME\tCALL\tACCOUNT\tREGION\tERROR", rows); err != nil {
		return err
	}
	rows = nil
	for _, f := range s.Failures {
		rows = append(rows, []string{f.Action, f.Code, fmt.Sprint(f.Count)})
	}
	if err := section("ERRORS", "CALL\tERROR\tCOUNT", rows); err != nil {
		return err
	}
	rows = nil
	for _, r := range s.Written {
		rows = append(rows, []string{r.ARN, dash(r.Type), fmt.Sprint(r.Calls)})
	}
	if err := section("RESOURCES WRITTEN", "RESOURCE\tTYPE\tCALLS", rows); err != nil {
		return err
	}
	rows = nil
	for _, e := range s.SignIns {
		rows = append(rows, []string{stamp(e.At), dash(e.Result), dash(e.Region)})
	}
	if err := section("CONSOLE SIGN-INS", "TIME\tRESULT\tREGION", rows); err != nil {
		return err
	}
	rows = nil
	for _, a := range s.Actions {
		rows = append(rows, []string{a.Action, fmt.Sprint(a.Calls), fmt.Sprint(a.Errors)})
	}
	if err := section("CALLS", "CALL\tCALLS\tERRORS", rows); err != nil {
		return err
	}
	if len(s.Problems) > 0 {
		fmt.Fprintln(w, "\nNOT READ")
		for _, p := range s.Problems {
			fmt.Fprintln(w, "  "+p)
		}
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
