package audit

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/elevate-gitops/elevate/internal/activity"
)

//go:embed report.html.tmpl
var pageSource string

var page = template.Must(template.New("audit").Parse(pageSource))

// htmlTime is how the page writes times (always UTC).
const htmlTime = "2006-01-02 15:04"

// The bar chart's geometry, in SVG user units. Each row is a label line
// (account / role) above its bar; the value follows the bar.
const (
	chartWidth = 960
	chartLeft  = 16  // where bars start (room for the first tick's label)
	chartValue = 300 // room right of the longest bar for its value
	chartAxis  = 22  // height of the tick labels above the rows
	chartRow   = 50
	chartBar   = 18
	// chartLabelRunes is how much of a label fits one line; the whole label
	// is in the bar's tooltip. Account and role names are at most 63 and 64.
	chartLabelRunes = 130
)

type htmlPage struct {
	Title     string
	Headline  string
	Branch    string
	Head      string
	Period    string
	Generated string
	Offline   bool
	Comments  string // what the page does not hold of the broker's comments
	Summary   summary
	Hours     string
	Chart     htmlChart
	Rows      []htmlRow
	// Activity holds what each grant's sessions did, once per request,
	// from the broker's verified activity comments.
	Activity []htmlActivity
	// With --verify.
	Verified  bool
	Anchor    string
	Failures  int
	Rewritten string
	Policy    []htmlPolicy
}

// htmlActivity is one grant's use, as CloudTrail recorded it. Every
// string in it but the labels was read from a log file.
type htmlActivity struct {
	ID, Targets, Window string
	Used                bool
	Calls, Sessions     string // "12 calls", "2 sessions"
	Errors              string // "3 errors, 2 access denied"; "" for none
	Sensitive           string // "4 calls matched the sensitive actions"
	Files, ReadAt       string
	First, Last         string
	Regions             []string
	Strip               *htmlStrip
	SensitiveCalls      []htmlEvent
	Failures            []htmlFailure
	SignIns             []htmlEvent
	Problems            []string
}

type htmlEvent struct {
	At, Action, Account, Region, Error, Result string
}

type htmlFailure struct {
	Action, Code string
	Count        int
	Denied       bool
}

// htmlStrip is a grant's calls per hour as a strip of bars across its
// window (widened to the first and last hour with calls).
type htmlStrip struct {
	Width, Height   int
	Top, Span, Base int // the bars' area: from Top, Span high, down to Base
	LabelY          int
	Window, Wide    string // x and width of the grant's window, shaded behind the bars
	From, To, Scale string // the axis's labels
	Bars            []htmlHourBar
}

type htmlHourBar struct {
	X, Width, Y, Height string
	ErrY, ErrHeight     string // "" when the hours had no error
	Title               string
}

type htmlPolicy struct {
	State, Commit, At, PR, Paths, Reason string
}

type htmlChart struct {
	Width, Height int
	Bars          []htmlBar
	Ticks         []htmlTick
}

type htmlBar struct {
	Label, Value, Title  string
	LabelY, BarY, ValueY int
	X, Width, ValueX     string // decimal user units
	Emergency            bool
}

type htmlTick struct {
	X, Label string
}

type htmlRow struct {
	State, StateClass        string
	ID, Path, Reason, Ticket string
	Requester, Account, Role string
	Start, End, Duration     string
	Merged, Commit, PR       string
	Approvers                []string
	Emergency, Unreviewed    bool
	Revoked, Invalid         string
	Before                   bool // merged before the period: not in the totals
	Verification             string
	VerifyNote               string
	Use                      []string // first use, sessions, ended sessions
	Extends, Extended        string
}

// HTML writes the report as one self-contained page: inline CSS (light and
// dark), a summary, a bar chart of hours per account and role as inline SVG,
// the table, and for each grant with a verified activity comment what its
// sessions did, with its calls per hour as a strip of SVG bars. It loads
// nothing and runs no script; a Content Security Policy in the page forbids
// both. Values read from log files reach the page as text only.
func (r *Report) HTML(w io.Writer) error {
	p := htmlPage{
		Title:     "elevate audit: " + r.Branch,
		Headline:  r.headline(),
		Branch:    r.Branch,
		Head:      short(r.Head),
		Period:    "whole history",
		Generated: r.Generated.UTC().Format(htmlTime) + " UTC",
		Offline:   r.Offline,
		Comments:  r.commentsNote(),
		Summary:   r.summary(),
		Chart:     r.chart(),
	}
	if !r.Since.IsZero() {
		p.Period = "merged since " + r.Since.UTC().Format(htmlTime) + " UTC"
	}
	p.Hours = formatHours(p.Summary.Hours)
	for i := range r.Entries {
		e := &r.Entries[i]
		row := htmlRow{
			State: e.State, StateClass: "s-" + e.State,
			ID: e.ID, Path: e.Path, Reason: e.Reason, Ticket: e.Ticket,
			Requester: e.Requester, Account: e.Account, Role: e.Role,
			Start: formatTime(e.Start, htmlTime), End: formatTime(e.End, htmlTime), Duration: formatDuration(e.Duration),
			Merged: formatTime(e.MergedAt, htmlTime), Commit: short(e.Commit),
			Approvers:  e.Approvers,
			Emergency:  e.Emergency,
			Unreviewed: e.EmergencyUnreviewed,
			Invalid:    e.Invalid,
			Before:     e.Invalid == "" && e.MergedAt.Before(r.Since),
		}
		if e.PR != 0 {
			row.PR = "#" + strconv.Itoa(e.PR)
		}
		row.Verification = e.Verification
		if e.VerifyReason != "" {
			row.VerifyNote = e.verifyNote()
		}
		if !e.RevokedAt.IsZero() {
			row.Revoked = e.revokedNote(htmlTime)
		}
		row.Use = e.useNotes(htmlTime)
		if e.Extends != "" {
			row.Extends = "extends " + e.Extends
		}
		if len(e.ExtendedBy) > 0 {
			row.Extended = "extended by " + strings.Join(e.ExtendedBy, ", ")
		}
		p.Rows = append(p.Rows, row)
		if e.Activity != nil && (i == 0 || r.Entries[i-1].Activity != e.Activity) {
			p.Activity = append(p.Activity, newHTMLActivity(e.ID, e.Activity))
		}
	}
	if r.Verified {
		p.Verified, p.Anchor, p.Failures, p.Rewritten = true, short(r.Anchor), r.Failures(), r.Rewritten
		for _, c := range r.Policy {
			hp := htmlPolicy{State: c.state(), Commit: short(c.Commit), At: formatTime(c.At, htmlTime), Paths: strings.Join(c.Paths, ", "), Reason: c.Reason}
			if c.PR != 0 {
				hp.PR = "#" + strconv.Itoa(c.PR)
			}
			p.Policy = append(p.Policy, hp)
		}
	}
	var buf bytes.Buffer // no half page on a template error
	if err := page.Execute(&buf, p); err != nil {
		return fmt.Errorf("render the audit page: %w", err)
	}
	_, err := buf.WriteTo(w)
	return err
}

// chart lays out one horizontal bar per total, longest first.
func (r *Report) chart() htmlChart {
	c := htmlChart{Width: chartWidth}
	most := 0.0
	for _, t := range r.Totals {
		most = max(most, t.Hours)
	}
	span := float64(chartWidth - chartLeft - chartValue)
	scale := 0.0
	if most > 0 {
		top, steps := niceScale(most)
		scale = span / top
		for i := range steps + 1 {
			v := top * float64(i) / float64(steps)
			c.Ticks = append(c.Ticks, htmlTick{X: svgNum(chartLeft + v*scale), Label: formatHours(v)})
		}
	}
	for i, t := range r.Totals {
		y := chartAxis + i*chartRow
		width := t.Hours * scale
		if t.Hours > 0 {
			width = max(width, 2) // a sliver stays visible
		}
		value := formatHours(t.Hours) + " h · " + plural(t.Grants, "grant") + " · " + plural(t.People, "person")
		if t.Emergency > 0 {
			value += " · " + strconv.Itoa(t.Emergency) + " emergency"
		}
		c.Bars = append(c.Bars, htmlBar{
			Label: ellipsis(t.Account+" / "+t.Role, chartLabelRunes), Value: value,
			Title:  fmt.Sprintf("%s / %s: %s h in %s by %s, %d emergency", t.Account, t.Role, formatHours(t.Hours), plural(t.Grants, "grant"), plural(t.People, "person"), t.Emergency),
			LabelY: y + 18, BarY: y + 24, ValueY: y + 24 + chartBar - 4,
			X: svgNum(chartLeft), Width: svgNum(width), ValueX: svgNum(chartLeft + width + 8),
			Emergency: t.Emergency > 0,
		})
	}
	c.Height = chartAxis + max(len(r.Totals), 1)*chartRow + 4
	return c
}

// niceScale rounds v up to 1, 2, 2.5 or 5 times a power of ten and splits
// [0, top] into round steps.
func niceScale(v float64) (top float64, steps int) {
	p := 1.0
	for p*10 <= v {
		p *= 10
	}
	for p > v && p > 0.01 {
		p /= 10
	}
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= v {
			if m == 2 {
				return m * p, 4
			}
			return m * p, 5
		}
	}
	return 10 * p, 5
}

// ellipsis cuts s to n runes, ending a cut with "…".
func ellipsis(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func svgNum(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	if word == "person" {
		return strconv.Itoa(n) + " people"
	}
	return strconv.Itoa(n) + " " + word + "s"
}

// The strip's geometry, in SVG user units, and how many bars it draws at
// most: past a week of hours, each bar sums several.
const (
	stripWidth   = 960
	stripBars    = 40 // height of the tallest bar
	stripTop     = 4
	stripLabels  = 16 // room for the axis's labels under the bars
	stripMaxBars = 24 * 7
)

// newHTMLActivity lays out what grant id's sessions did.
func newHTMLActivity(id string, a *activity.Summary) htmlActivity {
	h := htmlActivity{
		ID: id, Used: a.Used(),
		Calls: plural(a.Calls, "call"), Sessions: plural(a.Sessions, "session"),
		Files: plural(a.Files, "log file"), ReadAt: formatTime(a.ReadAt, htmlTime),
		Regions: a.Regions, Problems: a.Problems, Strip: strip(a),
	}
	var targets []string
	for _, t := range a.Targets {
		targets = append(targets, t.AccountID+" / "+t.Role)
	}
	h.Targets = strings.Join(targets, ", ")
	if !a.Start.IsZero() {
		h.Window = formatTime(a.Start, htmlTime) + " to " + formatTime(a.End, htmlTime) + " UTC"
	}
	if a.First != nil {
		h.First = formatTime(*a.First, htmlTime+":05")
	}
	if a.Last != nil {
		h.Last = formatTime(*a.Last, htmlTime+":05")
	}
	if a.Errors > 0 {
		h.Errors = plural(a.Errors, "error") + ", " + strconv.Itoa(a.AccessDenied) + " access denied"
	}
	if a.SensitiveCalls > 0 {
		h.Sensitive = plural(a.SensitiveCalls, "call") + " matched the sensitive actions"
		if len(a.Sensitive) < a.SensitiveCalls {
			h.Sensitive += fmt.Sprintf(" (the first %d listed)", len(a.Sensitive))
		}
	}
	for _, ev := range a.Sensitive {
		h.SensitiveCalls = append(h.SensitiveCalls, htmlEventOf(ev))
	}
	for _, ev := range a.SignIns {
		h.SignIns = append(h.SignIns, htmlEventOf(ev))
	}
	for _, f := range a.Failures {
		h.Failures = append(h.Failures, htmlFailure{Action: f.Action, Code: f.Code, Count: f.Count, Denied: f.AccessDenied})
	}
	return h
}

func htmlEventOf(ev activity.Event) htmlEvent {
	return htmlEvent{At: formatTime(ev.At, htmlTime+":05"), Action: ev.Action, Account: ev.Account, Region: ev.Region, Error: ev.Error, Result: ev.Result}
}

// strip lays out a's calls per hour from the hour of its window's start to
// the end of its window, widened to every hour with calls; nil when there
// is neither a window nor a call.
func strip(a *activity.Summary) *htmlStrip {
	from, to := a.Start.UTC().Truncate(time.Hour), a.End.UTC()
	for _, hr := range a.Timeline {
		at := hr.At.UTC().Truncate(time.Hour)
		if from.IsZero() || at.Before(from) {
			from = at
		}
		if to.IsZero() || !at.Before(to) {
			to = at.Add(time.Hour)
		}
	}
	if from.IsZero() || to.IsZero() || !to.After(from) {
		return nil
	}
	hours := int((to.Sub(from) + time.Hour - 1) / time.Hour)
	step := (hours + stripMaxBars - 1) / stripMaxBars // hours per bar
	n := (hours + step - 1) / step
	span := time.Duration(n*step) * time.Hour
	calls, errs := make([]int, n), make([]int, n)
	most := 0
	for _, hr := range a.Timeline {
		i := int(hr.At.UTC().Truncate(time.Hour).Sub(from)/time.Hour) / step
		calls[i] += hr.Calls
		errs[i] += hr.Errors
		most = max(most, calls[i])
	}
	s := &htmlStrip{Width: stripWidth, Top: stripTop, Span: stripBars, Base: stripTop + stripBars,
		Height: stripTop + stripBars + stripLabels, LabelY: stripTop + stripBars + stripLabels - 3,
		From: formatTime(from, htmlTime), To: formatTime(from.Add(span), htmlTime) + " UTC",
		Scale: fmt.Sprintf("%s per bar, the tallest %s", plural(step, "hour"), plural(most, "call"))}
	if most <= 0 {
		s.Scale = plural(step, "hour") + " per bar, no calls"
	}
	x := func(t time.Time) float64 {
		return min(stripWidth, max(0, float64(t.Sub(from))/float64(span)*stripWidth))
	}
	winFrom, winTo := a.Start, a.End
	if winFrom.IsZero() || !winTo.After(winFrom) {
		winFrom, winTo = from, to
	}
	s.Window, s.Wide = svgNum(x(winFrom)), svgNum(x(winTo)-x(winFrom))
	slot := float64(stripWidth) / float64(n)
	gap := min(1, slot/4)
	height := func(v int) float64 { return max(2, float64(min(v, most))*stripBars/float64(max(most, 1))) } // a sliver stays visible
	for i, c := range calls {
		if c <= 0 {
			continue
		}
		start := from.Add(time.Duration(i*step) * time.Hour)
		end := start.Add(time.Duration(step) * time.Hour)
		until := end.Format("15:04")
		if !end.Add(-time.Minute).Truncate(24 * time.Hour).Equal(start.Truncate(24 * time.Hour)) {
			until = formatTime(end, htmlTime)
		}
		bar := htmlHourBar{
			X: svgNum(float64(i)*slot + gap/2), Width: svgNum(slot - gap),
			Y: svgNum(float64(s.Base) - height(c)), Height: svgNum(height(c)),
			Title: fmt.Sprintf("%s to %s UTC: %s", formatTime(start, htmlTime), until, plural(c, "call")),
		}
		if errs[i] > 0 {
			bar.ErrY, bar.ErrHeight = svgNum(float64(s.Base)-height(errs[i])), svgNum(height(errs[i]))
			bar.Title += ", " + plural(errs[i], "error")
		}
		s.Bars = append(s.Bars, bar)
	}
	return s
}
