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
	"strings"
	"testing"
	"time"

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
	// externalRef matches attributes and CSS that load something.
	externalRef = regexp.MustCompile(`(?i)\s(src|href|xlink:href|srcset|action|formaction|poster|background)\s*=|@import|url\(|<(script|link|img|iframe|object|embed|base|audio|video|source)[\s>]`)
	tagRE       = regexp.MustCompile(`<!--[\s\S]*?-->|<!DOCTYPE[^>]*>|<(/?)([a-zA-Z][a-zA-Z0-9-]*)([^<>]*)>|[<>]`)
	styleRE     = regexp.MustCompile(`(?s)(<style>).*?(</style>)`)
	voidTags    = map[string]bool{"meta": true, "br": true, "hr": true, "img": true, "input": true, "link": true, "wbr": true}
)

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
		{"empty", empty, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			page := renderHTML(t, tt.rep)
			if m := externalRef.FindString(page); m != "" {
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
// and checks that it paints and logs nothing to the console. The
// screenshots go to $ELEVATE_ARTIFACTS when set.
func TestHTMLInChromium(t *testing.T) {
	t.Parallel()
	chromium := testenv.RequireTool(t, "apt-get install chromium", "chromium")
	_, offline := offlineReport(t)
	online := gitHubReport(t)
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
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
				"--disable-background-networking", "--disable-component-update", "--disable-sync",
				"--user-data-dir=" + filepath.Join(dir, "profile"), "--enable-logging=stderr", "--v=0",
				"--screenshot=" + shot, "--window-size=1280,1600"}, tt.flags...)
			cmd := exec.CommandContext(ctx, chromium, append(args, "file://"+page)...)
			cmd.Env = append(os.Environ(), "HOME="+dir)
			var stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stderr, &stderr
			cmd.WaitDelay = 5 * time.Second
			if err := cmd.Run(); err != nil {
				t.Fatalf("chromium: %v\n%s", err, stderr.String())
			}
			for _, line := range strings.Split(stderr.String(), "\n") {
				if strings.Contains(line, "CONSOLE") || strings.Contains(line, "Uncaught") || strings.Contains(line, "Refused to") {
					t.Errorf("console message: %s", line)
				}
			}
			checkScreenshot(t, shot)
			t.Logf("screenshot: %s", shot)
		})
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
