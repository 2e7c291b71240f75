package audit_test

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/elevate-gitops/elevate/internal/activity"
	"github.com/elevate-gitops/elevate/internal/audit"
	"github.com/elevate-gitops/elevate/internal/testenv"
)

// gitHubReport builds the report of the last 720h with pull request data.
func gitHubReport(t *testing.T) *audit.Report {
	t.Helper()
	h := newHistory(t)
	_, repo := gitHub(t, h)
	rep, err := audit.Build(context.Background(), audit.Options{Dir: h.dir, Since: 720 * hour, Now: now, GitHub: repo})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func renderHTML(t *testing.T, rep *audit.Report) string {
	t.Helper()
	var buf bytes.Buffer
	if err := rep.HTML(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

var (
	// externalRef matches attributes and CSS that load something (in
	// markup: text may say anything, escaped).
	externalRef = regexp.MustCompile(`(?i)\s(src|href|xlink:href|srcset|action|formaction|poster|background)\s*=|@import|url\(|<(script|link|img|iframe|object|embed|base|audio|video|source)[\s>]`)
	tagRE       = regexp.MustCompile(`<!--[\s\S]*?-->|<!DOCTYPE[^>]*>|<(/?)([a-zA-Z][a-zA-Z0-9-]*)([^<>]*)>|[<>]`)
	styleRE     = regexp.MustCompile(`(?s)(<style>).*?(</style>)`)
	voidTags    = map[string]bool{"meta": true, "br": true, "hr": true, "img": true, "input": true, "link": true, "wbr": true}
)

// markup is the page's tags and style sheet without its text.
func markup(page string) string {
	var b strings.Builder
	for _, m := range styleRE.FindAllString(page, -1) {
		b.WriteString(m + "\n")
	}
	for _, m := range tagRE.FindAllString(styleRE.ReplaceAllString(page, "$1$2"), -1) {
		b.WriteString(m + "\n")
	}
	return b.String()
}

// wellFormed checks that every element is closed in order and that no stray
// angle bracket appears outside a tag (text is escaped).
func wellFormed(page string) error {
	page = styleRE.ReplaceAllString(page, "$1$2")
	var stack []string
	for _, m := range tagRE.FindAllStringSubmatch(page, -1) {
		switch {
		case m[0] == "<" || m[0] == ">":
			return errors.New("stray angle bracket in text")
		case m[2] == "":
			continue // comment or doctype
		}
		name := strings.ToLower(m[2])
		switch {
		case voidTags[name]:
		case m[1] == "":
			stack = append(stack, name)
		case len(stack) == 0 || stack[len(stack)-1] != name:
			return errors.New("</" + name + "> closes " + strings.Join(stack, ">"))
		default:
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) != 0 {
		return errors.New("unclosed: " + strings.Join(stack, ">"))
	}
	return nil
}

// TestHTML checks that the page is safe to open: it loads nothing, is
// well-formed and escapes request text. What it says is in
// testdata/*.html.golden (TestReportGolden).
func TestHTML(t *testing.T) {
	t.Parallel()
	_, offline := offlineReport(t)
	empty := &audit.Report{Generated: now, Branch: "main", Head: strings.Repeat("a", 40), Offline: true}
	tests := []struct {
		name    string
		rep     *audit.Report
		want    []string
		notWant []string
	}{
		// Request text is escaped, never markup.
		{"offline", offline, []string{"Rotate &lt;b&gt;certs&lt;/b&gt; &amp; keys"}, []string{"<b>certs"}},
		{"github", gitHubReport(t), nil, []string{"<b>certs"}},
		// So is every value read from a log file.
		{"used", usedReport(t), []string{"iam:Delete&lt;img src=x onerror=alert(1)&gt;"}, []string{"<img"}},
		{"empty", empty, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			page := renderHTML(t, tt.rep)
			if m := externalRef.FindString(markup(page)); m != "" {
				t.Errorf("page references something to load: %q", m)
			}
			for _, scheme := range []string{"http://", "https://"} {
				if i := strings.Index(styleRE.ReplaceAllString(page, ""), scheme); i >= 0 {
					t.Errorf("page contains %q: %.80s", scheme, page[max(0, i-40):])
				}
			}
			if err := wellFormed(page); err != nil {
				t.Errorf("page is not well-formed: %v", err)
			}
			for _, want := range tt.want {
				if !strings.Contains(page, want) {
					t.Errorf("page lacks %q", want)
				}
			}
			for _, bad := range tt.notWant {
				if strings.Contains(page, bad) {
					t.Errorf("page contains %q", bad)
				}
			}
		})
	}
}

// TestHTMLInChromium renders the page in headless Chromium, light and dark,
// and checks that it paints and logs nothing to the console, and that the
// browser builds the timelines of what grants were used for: their bars,
// and a log file's markup as text. The screenshots go to
// $ELEVATE_ARTIFACTS when set.
func TestHTMLInChromium(t *testing.T) {
	t.Parallel()
	chromium := testenv.RequireTool(t, "apt-get install chromium", "chromium")
	_, offline := offlineReport(t)
	online := usedReport(t)
	t.Run("timeline", func(t *testing.T) {
		t.Parallel()
		checkTimelineDOM(t, chromium, renderHTML(t, online))
	})
	outDir := os.Getenv("ELEVATE_ARTIFACTS")
	if outDir == "" {
		outDir = t.TempDir()
	} else if err := os.MkdirAll(outDir, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		rep   *audit.Report
		flags []string
	}{
		{"light", online, nil},
		{"dark", offline, []string{"--force-dark-mode", "--blink-settings=preferredColorScheme=0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			page := filepath.Join(dir, "audit.html")
			if err := os.WriteFile(page, []byte(renderHTML(t, tt.rep)), 0o644); err != nil {
				t.Fatal(err)
			}
			shot := filepath.Join(outDir, "audit-"+tt.name+".png")
			_ = os.Remove(shot)
			_, logs := runChromium(t, chromium, dir, page, append([]string{"--screenshot=" + shot, "--window-size=1280,1600"}, tt.flags...)...)
			checkConsole(t, logs)
			checkScreenshot(t, shot)
			t.Logf("screenshot: %s", shot)
		})
	}
}

// runChromium opens page in headless Chromium with a profile in dir, and
// returns what it wrote to stdout and its log.
func runChromium(t *testing.T, chromium, dir, page string, flags ...string) (stdout, logs string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + filepath.Join(dir, "profile"), "--enable-logging=stderr", "--v=0"}, flags...)
	cmd := exec.CommandContext(ctx, chromium, append(args, "file://"+page)...)
	cmd.Env = append(os.Environ(), "HOME="+dir)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	return out.String(), stderr.String()
}

// checkConsole fails t for each console message or refusal in Chromium's log.
func checkConsole(t *testing.T, logs string) {
	t.Helper()
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "CONSOLE") || strings.Contains(line, "Uncaught") || strings.Contains(line, "Refused to") {
			t.Errorf("console message: %s", line)
		}
	}
}

// checkTimelineDOM has Chromium parse page and checks the document it
// built: a strip of bars per grant with activity (bob's read-only grant
// called in four hours, two of them with errors; dave's emergency not at
// all), and the action named in markup a text node, never an element.
func checkTimelineDOM(t *testing.T, chromium, page string) {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "audit.html")
	if err := os.WriteFile(file, []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	dom, logs := runChromium(t, chromium, dir, file, "--dump-dom")
	checkConsole(t, logs)
	_, section, ok := strings.Cut(dom, `<section class="panel" aria-label="What grants were used for">`)
	if !ok {
		t.Fatalf("the document has no section of what grants were used for:\n%s", dom)
	}
	section, _, _ = strings.Cut(section, "</section>")
	count := func(re string) int { return len(regexp.MustCompile(re).FindAllString(section, -1)) }
	for _, c := range []struct {
		what, re string
		want     int
	}{
		{"timelines", `<svg class="strip"[^>]*>`, 2},
		{"bars", `<rect class="tl-bar"[^>]*>`, 4},
		{"error bars", `<rect class="tl-err"[^>]*>`, 2},
		{"bar titles", `<title>2026-11-15 \d\d:00 to \d\d:00 UTC: \d+ calls?[^<]*</title>`, 4},
	} {
		if got := count(c.re); got != c.want {
			t.Errorf("%d %s in the document, want %d", got, c.what, c.want)
		}
	}
	if m := regexp.MustCompile(`(?i)<img[\s>]|\sonerror\s*=`).FindString(markup(dom)); m != "" {
		t.Errorf("a log file's value became markup: %q", m)
	}
	if n := strings.Count(section, "iam:Delete&lt;img src=x onerror=alert(1)&gt;"); n != 2 {
		t.Errorf("the action named in markup shows as text %d times, want 2 (a sensitive call and an error)", n)
	}
}

// checkScreenshot checks that the PNG has the window's size and shows more
// than a blank page.
func checkScreenshot(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot %s: %v", path, err)
	}
	if b := img.Bounds(); b.Dx() != 1280 || b.Dy() != 1600 {
		t.Errorf("screenshot is %dx%d, want 1280x1600", b.Dx(), b.Dy())
	}
	if n := colours(img, 64); n < 64 {
		t.Errorf("screenshot has %d colours: the page did not paint", n)
	}
}

// colours counts distinct colours, up to limit.
func colours(img image.Image, limit int) int {
	seen := map[[4]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			r, g, bl, a := img.At(x, y).RGBA()
			seen[[4]uint32{r, g, bl, a}] = true
			if len(seen) >= limit {
				return len(seen)
			}
		}
	}
	return len(seen)
}

// The timeline strip stays small and sound whatever the summary holds: a
// month-long window is drawn in bars of several hours, calls outside the
// window widen it, and a summary without window or calls draws no strip.
func TestActivityStrip(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 10, 1, 9, 30, 0, 0, time.UTC)
	month := activity.Summary{Start: start, End: start.Add(720 * hour), Calls: 720}
	for i := range 720 {
		month.Timeline = append(month.Timeline, activity.Hour{At: start.Truncate(hour).Add(time.Duration(i) * hour), Calls: 1})
	}
	early := activity.Summary{Start: start, End: start.Add(2 * hour), Calls: 3, Timeline: []activity.Hour{
		{At: start.Add(-3 * hour).Truncate(hour), Calls: 2, Errors: 5}, // more errors than calls: drawn no taller
		{At: start.Truncate(hour), Calls: -1},                          // nonsense: drawn not at all
	}}
	tests := []struct {
		name   string
		sum    activity.Summary
		strips int
		bars   int
		want   []string
	}{
		{"month", month, 1, 144, []string{"5 hours per bar, the tallest 5 calls", "2026-10-01 09:00", "2026-10-31 14:00 UTC"}},
		{"calls before the window", early, 1, 1, []string{"2026-10-01 06:00", "2026-10-01 12:00 UTC", "2026-10-01 06:00 to 07:00 UTC: 2 calls, 5 errors"}},
		{"nothing", activity.Summary{}, 0, 0, []string{"CloudTrail: no calls in 0 log files", "Not used"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rep := &audit.Report{Generated: now, Branch: "main", Head: strings.Repeat("a", 40), Entries: []audit.Entry{{
				ID: "prod/2026-10/x", State: audit.StateExpired, Account: "prod", Role: "Admin", Activity: &tt.sum,
			}}}
			page := renderHTML(t, rep)
			if err := wellFormed(page); err != nil {
				t.Errorf("page is not well-formed: %v", err)
			}
			if got := strings.Count(page, `<svg class="strip"`); got != tt.strips {
				t.Errorf("%d strips, want %d", got, tt.strips)
			}
			if got := strings.Count(page, `<rect class="tl-bar"`); got != tt.bars {
				t.Errorf("%d bars, want %d", got, tt.bars)
			}
			for _, w := range tt.want {
				if !strings.Contains(page, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			for _, bad := range regexp.MustCompile(`(?i)NaN|Inf|="-`).FindAllString(page, -1) {
				t.Errorf("page draws %q", bad)
			}
			for _, m := range regexp.MustCompile(`<rect class="tl-(bar|err)"[^>]* height="([0-9.]+)"`).FindAllStringSubmatch(page, -1) {
				if h, _ := strconv.ParseFloat(m[2], 64); h > 40 {
					t.Errorf("a bar is %s high, over the strip's 40", m[2])
				}
			}
		})
	}
}
