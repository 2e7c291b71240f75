package audit

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/elevate-gitops/elevate/internal/activity"
	"github.com/elevate-gitops/elevate/internal/request"
)

// tableTime is how the text table writes times (always UTC).
const tableTime = "2006-01-02 15:04"

// Table writes the report as aligned text: a header line, one row per entry,
// then the totals.
func (r *Report) Table(w io.Writer) error {
	var b strings.Builder
	b.WriteString(r.headline() + "\n")
	if r.Offline {
		b.WriteString("Offline: no pull request data; every emergency grant counts as unreviewed.\n")
	}
	if note := r.commentsNote(); note != "" {
		b.WriteString(note + "\n")
	}
	if r.Verified {
		fmt.Fprintf(&b, "Chain of custody verified from the trust anchor %s: %d failure(s).\n", short(r.Anchor), r.Failures())
		if r.Rewritten != "" {
			b.WriteString("REWRITTEN: " + clean(r.Rewritten) + "\n")
		}
	}
	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	verifyHead := ""
	if r.Verified {
		verifyHead = "\tVERIFIED"
	}
	fmt.Fprintln(tw, "STATE\tREQUEST\tREQUESTER\tACCOUNT\tROLE\tDURATION\tSTART (UTC)\tEND (UTC)\tPR\tAPPROVERS"+verifyHead+"\tNOTES")
	byID := map[string]*Entry{}
	for i := range r.Entries {
		byID[r.Entries[i].ID] = &r.Entries[i]
	}
	for i := range r.Entries {
		e := &r.Entries[i]
		if e.Extends != "" && byID[e.Extends] != nil {
			continue // told on the line of the grant it extends
		}
		notes := e.notes(tableTime, r.Since)
		if exts := chain(e, byID); len(exts) > 0 {
			notes = append(notes, extensionNote(exts, tableTime))
		}
		pr := "-"
		if e.PR != 0 {
			pr = "#" + strconv.Itoa(e.PR)
		}
		verify := ""
		if r.Verified {
			verify = "\t" + cell(e.Verification)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s%s\t%s\n",
			e.State, cell(e.ID), cell(e.Requester), cell(e.Account), cell(e.Role), cell(formatDuration(e.Duration)),
			cell(formatTime(e.Start, tableTime)), cell(formatTime(e.End, tableTime)), pr,
			cell(strings.Join(e.Approvers, ",")), verify, clean(strings.Join(notes, "; ")))
	}
	if len(r.Entries) == 0 {
		fmt.Fprintln(tw, "(no request files merged in this period)")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	b.WriteString("\nTotals of the grants merged in the period, most hours first:\n")
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCOUNT\tROLE\tGRANTS\tHOURS\tEMERGENCY\tPEOPLE")
	for _, t := range r.Totals {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%d\n", cell(t.Account), cell(t.Role), t.Grants, formatHours(t.Hours), t.Emergency, t.People)
	}
	s := r.summary()
	fmt.Fprintf(tw, "(all)\t\t%d\t%s\t%d\t%d\n", s.Grants, formatHours(s.Hours), s.Emergency, s.People)
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.Verified {
		b.WriteString("\nChanges to eligibility.yaml and CODEOWNERS since the anchor (in the period, and every one that did not verify):\n")
		tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "VERIFIED\tCOMMIT\tDATE (UTC)\tPR\tFILES\tREASON")
		for _, p := range r.Policy {
			pr := "-"
			if p.PR != 0 {
				pr = "#" + strconv.Itoa(p.PR)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", p.state(), short(p.Commit), formatTime(p.At, tableTime), pr, cell(strings.Join(p.Paths, ",")), clean(p.Reason))
		}
		if len(r.Policy) == 0 {
			fmt.Fprintln(tw, "(none)")
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	// tabwriter pads a cell before an empty last one; drop the trailing blanks.
	lines := strings.Split(b.String(), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	_, err := io.WriteString(w, strings.Join(lines, "\n"))
	return err
}

// headline says what the report covers, in one line.
func (r *Report) headline() string {
	period := "the whole history"
	if !r.Since.IsZero() {
		period = "merges since " + r.Since.UTC().Format(tableTime) + " UTC"
	}
	return fmt.Sprintf("Audit of %s at %s, %s (generated %s UTC): %d entries",
		clean(r.Branch), short(r.Head), period, r.Generated.UTC().Format(tableTime), len(r.Entries))
}

// notes lists what a row needs to say besides its columns.
func (e *Entry) notes(layout string, since time.Time) []string {
	var n []string
	if e.Emergency {
		n = append(n, "EMERGENCY")
	}
	if e.EmergencyUnreviewed {
		n = append(n, "UNREVIEWED")
	}
	if !e.RevokedAt.IsZero() {
		n = append(n, e.revokedNote(layout))
	}
	if e.Invalid == "" && e.MergedAt.Before(since) {
		n = append(n, "merged before the period")
	}
	if e.Invalid != "" {
		n = append(n, "invalid: "+e.Invalid)
	}
	if e.VerifyReason != "" {
		n = append(n, e.verifyNote())
	}
	n = append(n, e.useNotes(layout)...)
	if e.Extends != "" {
		n = append(n, "extends "+e.Extends)
	}
	return n
}

// revokedNote says when and in which commit the file went.
func (e *Entry) revokedNote(layout string) string {
	verb := "revoked"
	if e.State != StateRevoked {
		verb = "removed"
	}
	return fmt.Sprintf("%s %s UTC in %s", verb, e.RevokedAt.UTC().Format(layout), short(e.RevokedCommit))
}

// verifyNote says why the entry did not verify, naming the commit at fault
// unless the reason already does.
func (e *Entry) verifyNote() string {
	c := short(e.VerifyCommit)
	if c == "" || strings.Contains(e.VerifyReason, c) {
		return e.VerifyReason
	}
	return fmt.Sprintf("%s (commit %s)", e.VerifyReason, c)
}

// useNotes tell, from the broker's PR comments, how the grant was used.
func (e *Entry) useNotes(layout string) []string {
	var n []string
	if e.Sessions > 0 {
		n = append(n, fmt.Sprintf("first used %s UTC by %s, %d session(s)", e.FirstUsed.UTC().Format(layout), e.FirstUsedBy, e.Sessions))
	}
	if !e.SessionsEnded.IsZero() {
		n = append(n, fmt.Sprintf("sessions issued before %s UTC ended", e.SessionsEnded.UTC().Format(layout)))
	}
	if a := e.Activity; a != nil {
		n = append(n, activityNote(a))
	}
	return n
}

// activityNote sums up in one note what CloudTrail recorded of the grant's
// sessions: counts only, none of the values read from log files.
func activityNote(a *activity.Summary) string {
	var note string
	if a.Used() {
		parts := []string{plural(a.Calls, "call")}
		if a.Errors > 0 {
			errs := plural(a.Errors, "error")
			if a.AccessDenied > 0 {
				errs += fmt.Sprintf(" (%d denied)", a.AccessDenied)
			}
			parts = append(parts, errs)
		}
		if a.SensitiveCalls > 0 {
			parts = append(parts, strconv.Itoa(a.SensitiveCalls)+" sensitive")
		}
		if a.SignInCount > 0 {
			parts = append(parts, plural(a.SignInCount, "console sign-in"))
		}
		note = "CloudTrail: " + strings.Join(parts, ", ")
	} else {
		note = "CloudTrail: no calls in " + plural(a.Files, "log file")
	}
	if len(a.Problems) > 0 {
		note += ", trail not read whole"
	}
	return note
}

// sessions is how many sessions e had, known only online.
func (r *Report) sessions(e *Entry) *int {
	if r.Offline || e.State == StateInvalid {
		return nil
	}
	return &e.Sessions
}

func sessionsCell(n *int) string {
	if n == nil {
		return ""
	}
	return strconv.Itoa(*n)
}

// chain lists the grants that continue e, in order (elevate extend).
func chain(e *Entry, byID map[string]*Entry) []*Entry {
	var out []*Entry
	for cur := e; len(cur.ExtendedBy) > 0 && len(out) < len(byID); {
		next := byID[cur.ExtendedBy[0]]
		if next == nil {
			break
		}
		out = append(out, next)
		cur = next
	}
	return out
}

// extensionNote is the one line a chain of extensions takes in the table.
func extensionNote(exts []*Entry, layout string) string {
	var parts []string
	for _, x := range exts {
		s := fmt.Sprintf("%s (%s, %s, until %s UTC", x.ID, x.State, formatDuration(x.Duration), x.End.UTC().Format(layout))
		if x.PR != 0 {
			s += ", #" + strconv.Itoa(x.PR)
		}
		if u := x.useNotes(layout); len(u) > 0 {
			s += ", " + strings.Join(u, ", ")
		}
		parts = append(parts, s+")")
	}
	return "extended by " + strings.Join(parts, " then ")
}

// state is a policy change's verification state.
func (p PolicyChange) state() string {
	if p.Verified {
		return Verified
	}
	return Unverified
}

// csvHeader is the first row of CSV.
var csvHeader = []string{"id", "path", "state", "requester", "account", "role", "duration", "start", "end",
	"merged_at", "commit", "pr", "approvers", "emergency", "emergency_unreviewed", "ticket", "reason",
	"revoked_at", "revoked_commit", "invalid", "first_used", "first_used_by", "sessions", "sessions_ended_before", "extends"}

// csvVerifyHeader is appended to csvHeader with --verify.
var csvVerifyHeader = []string{"verified", "verify_reason", "verify_commit"}

// csvActivityHeader ends every header, after the verify columns when
// there are any, so that no earlier column moves: what the grant's
// sessions did, empty without a verified activity comment.
var csvActivityHeader = []string{"activity_calls", "activity_errors", "activity_access_denied", "activity_sensitive",
	"activity_console_sign_ins", "activity_first", "activity_last"}

// activityCells are e's activity columns.
func activityCells(a *activity.Summary) []string {
	if a == nil {
		return make([]string, len(csvActivityHeader))
	}
	var first, last string
	if a.First != nil {
		first = formatTime(*a.First, time.RFC3339)
	}
	if a.Last != nil {
		last = formatTime(*a.Last, time.RFC3339)
	}
	return []string{strconv.Itoa(a.Calls), strconv.Itoa(a.Errors), strconv.Itoa(a.AccessDenied), strconv.Itoa(a.SensitiveCalls),
		strconv.Itoa(a.SignInCount), first, last}
}

// CSV writes one header row and one row per entry; times are RFC 3339 in
// UTC, approvers are separated by spaces. With --verify, each policy change
// follows as a row whose state is "policy_change" and whose path lists the
// files it changed. The activity columns come last, empty for a grant
// without a verified activity comment (console sign-ins count those the
// summary lists). Cells that a spreadsheet would read as a formula are
// prefixed with a single quote.
func (r *Report) CSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	header := slices.Clone(csvHeader)
	if r.Verified {
		header = append(header, csvVerifyHeader...)
	}
	header = append(header, csvActivityHeader...)
	if err := cw.Write(header); err != nil {
		return err
	}
	for i := range r.Entries {
		e := &r.Entries[i]
		pr := ""
		if e.PR != 0 {
			pr = strconv.Itoa(e.PR)
		}
		row := []string{e.ID, e.Path, e.State, e.Requester, e.Account, e.Role, formatDuration(e.Duration),
			formatTime(e.Start, time.RFC3339), formatTime(e.End, time.RFC3339), formatTime(e.MergedAt, time.RFC3339),
			e.Commit, pr, strings.Join(e.Approvers, " "), strconv.FormatBool(e.Emergency),
			strconv.FormatBool(e.EmergencyUnreviewed), e.Ticket, e.Reason,
			formatTime(e.RevokedAt, time.RFC3339), e.RevokedCommit, e.Invalid,
			formatTime(e.FirstUsed, time.RFC3339), e.FirstUsedBy, sessionsCell(r.sessions(e)), formatTime(e.SessionsEnded, time.RFC3339), e.Extends}
		if r.Verified {
			row = append(row, e.Verification, e.VerifyReason, e.VerifyCommit)
		}
		row = append(row, activityCells(e.Activity)...)
		for j, v := range row {
			row[j] = defuse(v)
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	for _, p := range r.Policy {
		pr := ""
		if p.PR != 0 {
			pr = strconv.Itoa(p.PR)
		}
		row := make([]string, len(header))
		row[1], row[2], row[9], row[10], row[11] = strings.Join(p.Paths, " "), "policy_change", formatTime(p.At, time.RFC3339), p.Commit, pr
		v := len(csvHeader)
		row[v], row[v+1], row[v+2] = p.state(), p.Reason, p.Commit
		for j, v := range row {
			row[j] = defuse(v)
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// defuse keeps a spreadsheet from reading a cell as a formula (CWE-1236).
func defuse(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

type jsonReport struct {
	Generated time.Time `json:"generated"`
	Since     time.Time `json:"since,omitzero"`
	Branch    string    `json:"branch"`
	Head      string    `json:"head"`
	Offline   bool      `json:"offline"`
	// Online: whether the broker's comments were read (and verified), and
	// the PRs with more comments than the audit reads.
	CommentsRead bool        `json:"comments_read"`
	SkippedPRs   []int       `json:"skipped_prs,omitempty"`
	Entries      []jsonEntry `json:"entries"`
	Totals       []jsonTotal `json:"totals"`
	// With --verify.
	Verified  bool         `json:"verified,omitempty"`
	Anchor    string       `json:"trust_anchor,omitempty"`
	Failures  int          `json:"failures,omitempty"`
	Rewritten string       `json:"rewritten,omitempty"`
	Policy    []jsonPolicy `json:"policy_changes,omitempty"`
}

type jsonPolicy struct {
	Commit   string    `json:"commit"`
	At       time.Time `json:"committed_at"`
	Paths    []string  `json:"paths"`
	PR       int       `json:"pr,omitempty"`
	Verified bool      `json:"verified"`
	Reason   string    `json:"reason,omitempty"`
}

type jsonEntry struct {
	ID                  string    `json:"id"`
	Path                string    `json:"path"`
	State               string    `json:"state"`
	Requester           string    `json:"requester"`
	Account             string    `json:"account"`
	Role                string    `json:"role"`
	Reason              string    `json:"reason"`
	Ticket              string    `json:"ticket"`
	Duration            string    `json:"duration"`
	DurationSeconds     int64     `json:"duration_seconds"`
	Emergency           bool      `json:"emergency"`
	EmergencyUnreviewed bool      `json:"emergency_unreviewed"`
	Commit              string    `json:"commit"`
	MergedAt            time.Time `json:"merged_at,omitzero"`
	Start               time.Time `json:"start,omitzero"`
	End                 time.Time `json:"end,omitzero"`
	RevokedAt           time.Time `json:"revoked_at,omitzero"`
	RevokedCommit       string    `json:"revoked_commit,omitempty"`
	PR                  int       `json:"pr,omitempty"`
	Approvers           []string  `json:"approvers"`
	Hours               float64   `json:"hours"`
	Invalid             string    `json:"invalid,omitempty"`
	Verification        string    `json:"verification,omitempty"`
	VerifyReason        string    `json:"verify_reason,omitempty"`
	VerifyCommit        string    `json:"verify_commit,omitempty"`
	FirstUsed           time.Time `json:"first_used,omitzero"`
	FirstUsedBy         string    `json:"first_used_by,omitempty"`
	Sessions            *int      `json:"sessions,omitempty"` // online only: 0 is "never used"
	SessionsEnded       time.Time `json:"sessions_ended_before,omitzero"`
	Extends             string    `json:"extends,omitempty"`

	// Online, from the broker's verified activity comment.
	// The same JSON as the sealed state and `elevate activity --format json`.
	Activity *activity.Summary `json:"activity,omitempty"`
}

type jsonTotal struct {
	Account   string  `json:"account"`
	Role      string  `json:"role"`
	Grants    int     `json:"grants"`
	Hours     float64 `json:"hours"`
	Emergency int     `json:"emergency"`
	People    int     `json:"people"`
}

// commentsNote says what the report does not hold of the broker's
// comments: none when they were not verified, and those of PRs with more
// comments than are read.
func (r *Report) commentsNote() string {
	if r.Offline {
		return ""
	}
	var notes []string
	if !r.CommentsRead {
		notes = append(notes, "how grants were used and whether sessions were ended is not shown: the broker's PR comments count only when their MAC verifies (set ELEVATE_STATE_KEY)")
	}
	if len(r.Skipped) > 0 {
		prs := make([]string, len(r.Skipped))
		for i, n := range r.Skipped {
			prs[i] = "#" + strconv.Itoa(n)
		}
		notes = append(notes, "comments past the first 3,000 not read on "+strings.Join(prs, ", "))
	}
	if len(notes) == 0 {
		return ""
	}
	return "Comments: " + strings.Join(notes, "; ") + "."
}

// JSON writes the report as indented JSON with snake_case fields; times are
// RFC 3339 in UTC, absent times and optional fields are left out.
func (r *Report) JSON(w io.Writer) error {
	out := jsonReport{Generated: r.Generated.UTC(), Since: r.Since.UTC(), Branch: r.Branch, Head: r.Head, Offline: r.Offline,
		CommentsRead: r.CommentsRead, SkippedPRs: r.Skipped,
		Entries: make([]jsonEntry, len(r.Entries)), Totals: make([]jsonTotal, len(r.Totals))}
	for i := range r.Entries {
		e := &r.Entries[i]
		out.Entries[i] = jsonEntry{ID: e.ID, Path: e.Path, State: e.State, Requester: e.Requester, Account: e.Account,
			Role: e.Role, Reason: e.Reason, Ticket: e.Ticket, Duration: formatDuration(e.Duration),
			DurationSeconds: int64(e.Duration / time.Second), Emergency: e.Emergency, EmergencyUnreviewed: e.EmergencyUnreviewed,
			Commit: e.Commit, MergedAt: e.MergedAt.UTC(), Start: e.Start.UTC(), End: e.End.UTC(), RevokedAt: e.RevokedAt.UTC(),
			RevokedCommit: e.RevokedCommit, PR: e.PR, Approvers: append([]string{}, e.Approvers...),
			Hours: roundHours(e.Hours()), Invalid: e.Invalid,
			Verification: e.Verification, VerifyReason: e.VerifyReason, VerifyCommit: e.VerifyCommit,
			FirstUsed: e.FirstUsed.UTC(), FirstUsedBy: e.FirstUsedBy, Sessions: r.sessions(e), SessionsEnded: e.SessionsEnded.UTC(), Extends: e.Extends,
			Activity: e.Activity}
	}
	if r.Verified {
		out.Verified, out.Anchor, out.Failures, out.Rewritten = true, r.Anchor, r.Failures(), r.Rewritten
		out.Policy = []jsonPolicy{}
		for _, p := range r.Policy {
			out.Policy = append(out.Policy, jsonPolicy{Commit: p.Commit, At: p.At.UTC(), Paths: p.Paths, PR: p.PR, Verified: p.Verified, Reason: p.Reason})
		}
	}
	for i, t := range r.Totals {
		out.Totals[i] = jsonTotal{Account: t.Account, Role: t.Role, Grants: t.Grants, Hours: roundHours(t.Hours), Emergency: t.Emergency, People: t.People}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// summary is the sum over all totals (people counted once across them).
type summary struct {
	Grants, People, Emergency, Unreviewed, Revoked, Active, Invalid int
	Hours                                                           float64
}

func (r *Report) summary() summary {
	var s summary
	people := map[string]bool{}
	for i := range r.Entries {
		e := &r.Entries[i]
		switch e.State {
		case StateInvalid:
			s.Invalid++
		case StateRevoked:
			s.Revoked++
		case StateActive:
			s.Active++
		}
		if e.EmergencyUnreviewed {
			s.Unreviewed++
		}
		if e.Invalid != "" || e.MergedAt.Before(r.Since) {
			continue
		}
		people[strings.ToLower(e.Requester)] = true
	}
	for _, t := range r.Totals {
		s.Grants += t.Grants
		s.Hours += t.Hours
		s.Emergency += t.Emergency
	}
	s.People = len(people)
	return s
}

// formatDuration writes d as requests do ("2h", "1h30m"); nothing for none.
func formatDuration(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return request.FormatDuration(d)
}

func formatTime(t time.Time, layout string) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(layout)
}

// formatHours writes hours with at most two decimals.
func formatHours(h float64) string {
	return strconv.FormatFloat(roundHours(h), 'f', -1, 64)
}

func roundHours(h float64) float64 {
	return float64(int64(h*100+0.5)) / 100
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

// cell is a table cell: clean, and "-" when empty.
func cell(s string) string {
	if s = clean(s); s == "" {
		return "-"
	}
	return s
}

// clean makes s one line of printable text for a terminal: control
// characters (line breaks, tabs, escape sequences) become spaces.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Bidi_Control, r) {
			return ' '
		}
		return r
	}, s)
}
