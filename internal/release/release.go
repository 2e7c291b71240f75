// Package release writes what a release of elevate pins: the SHA-256 of
// each elevate-action binary into action.yml, so that an access repository
// pinning elevate's commit pins the bytes its judge runs.
package release

import (
	"bufio"
	"bytes"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// Platforms maps the runner platforms action.yml knows to the names of the
// release binaries make dist builds.
var Platforms = []struct{ Env, Binary string }{
	{"ELEVATE_SHA256_LINUX_X64", "elevate-action_linux_amd64"},
	{"ELEVATE_SHA256_LINUX_ARM64", "elevate-action_linux_arm64"},
}

// URLEnv is the action.yml variable that holds where the binaries are.
const URLEnv = "ELEVATE_RELEASE_URL"

var hexSum = regexp.MustCompile(`^[0-9a-f]{64}$`)

// ParseSums reads a sha256sum file ("<hex>  <name>" per line).
func ParseSums(data []byte) (map[string]string, error) {
	sums := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		sum, name, ok := strings.Cut(line, " ")
		name = strings.TrimPrefix(strings.TrimSpace(name), "*")
		if !ok || !hexSum.MatchString(sum) || name == "" {
			return nil, fmt.Errorf("SHA256SUMS line %d: want \"<sha256>  <file>\", got %q", n, line)
		}
		sums[name] = sum
	}
	return sums, sc.Err()
}

// Pin returns actionYML with the release URL and each platform's checksum
// written into the values of their variables; everything else is kept
// byte for byte. Each variable must appear exactly once.
func Pin(actionYML []byte, releaseURL string, sums map[string]string) ([]byte, error) {
	u, err := url.Parse(releaseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "file") || (u.Scheme == "https" && u.Host == "") {
		return nil, fmt.Errorf("release URL %q: want https://… (or file:// for a local mirror)", releaseURL)
	}
	values := map[string]string{URLEnv: strings.TrimSuffix(releaseURL, "/")}
	for _, p := range Platforms {
		sum, ok := sums[p.Binary]
		if !ok {
			return nil, fmt.Errorf("SHA256SUMS has no %s: run make dist first", p.Binary)
		}
		values[p.Env] = sum
	}
	out := actionYML
	for name, value := range values {
		re := regexp.MustCompile(`(?m)^(\s+` + name + `: )"[^"\n]*"`)
		if n := len(re.FindAllIndex(out, -1)); n != 1 {
			return nil, fmt.Errorf("action.yml: %s appears %d times, want once", name, n)
		}
		out = re.ReplaceAll(out, []byte(`${1}"`+value+`"`))
	}
	return out, nil
}
