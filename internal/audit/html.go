package audit

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"strconv"
	"strings"
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
	// With --verify.
	Verified  bool
	Anchor    string
	Failures  int
	Rewritten string
	Policy    []htmlPolicy
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
// and the table. It loads nothing and runs no script; a Content Security
// Policy in the page forbids both.
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
