package testenv

import (
	"bufio"
	"cmp"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// motoStartTimeout bounds how long StartMoto waits for moto_server to answer.
const motoStartTimeout = 30 * time.Second

// StartMoto starts moto_server on a loopback port of the kernel's choosing
// and returns its endpoint, "http://127.0.0.1:PORT"; t's cleanup stops it.
// The port is the one moto says it bound, so the endpoint is this moto's
// and no other test's. With noAuthCalls >= 0 moto answers that many calls
// unauthenticated and then verifies SigV4 signatures and IAM policies
// (INITIAL_NO_AUTH_ACTION_COUNT); with a negative count it never checks
// either. moto's output goes to moto.log in $ELEVATE_MOTO_LOG_DIR, or in
// t's temporary directory when that is unset.
func StartMoto(t testing.TB, noAuthCalls int) string {
	t.Helper()
	moto := RequireTool(t, "pip install moto[server]", "moto_server")
	logf, err := os.Create(filepath.Join(cmp.Or(os.Getenv("ELEVATE_MOTO_LOG_DIR"), t.TempDir()), "moto.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logf.Close() })
	cmd := exec.Command(moto, "-H", "127.0.0.1", "-p", "0")
	// Later entries win: the caller's own PYTHONPATH is read by motoFix.
	cmd.Env = append(os.Environ(), "ELEVATE_MOTO_PYTHONPATH="+os.Getenv("PYTHONPATH"), "PYTHONPATH="+motoFixes(t))
	if noAuthCalls >= 0 {
		cmd.Env = append(cmd.Env, fmt.Sprintf("INITIAL_NO_AUTH_ACTION_COUNT=%d", noAuthCalls))
	}
	out, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	ports := make(chan string, 1)
	go func() {
		// Werkzeug says where it listens; everything goes to the log.
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			fmt.Fprintln(logf, sc.Text())
			if m := runningOn.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case ports <- m[1]:
				default:
				}
			}
		}
		cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	var endpoint string
	select {
	case port := <-ports:
		endpoint = "http://127.0.0.1:" + port
	case <-exited:
		t.Fatalf("moto_server exited before it listened; see %s", logf.Name())
	case <-time.After(motoStartTimeout):
		t.Fatalf("moto_server did not say where it listens within %s; see %s", motoStartTimeout, logf.Name())
	}
	deadline := time.Now().Add(motoStartTimeout)
	for {
		resp, err := http.Get(endpoint + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			return endpoint
		}
		if time.Now().After(deadline) {
			t.Fatalf("moto_server did not answer on %s within %s: %v", endpoint, motoStartTimeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// runningOn is Werkzeug's line naming the port it bound.
var runningOn = regexp.MustCompile(`Running on http://127\.0\.0\.1:([0-9]+)`)

// motoFix corrects moto's check of SigV4 signatures: it reads a request's
// query decoded ("prefix=a/b/") and signs it as is, where SigV4 encodes
// every value ("prefix=a%2Fb%2F"), so every signed ListObjectsV2 with a
// prefix or a delimiter fails. It then runs the sitecustomize of the
// caller's own PYTHONPATH, if any (a test's corrections of its own).
const motoFix = `import os, sys
from urllib.parse import quote, unquote
import moto.iam.access_control as ac

_create = ac.IAMRequestBase._create_aws_request

def _create_aws_request(self):
    path, sep, query = self._path.partition("?")
    if sep:
        parts = []
        for kv in query.split("&"):
            k, eq, v = kv.partition("=")
            parts.append(quote(unquote(k), safe="-_.~") + eq + quote(unquote(v), safe="-_.~"))
        self._path = path + "?" + "&".join(parts)
    return _create(self)

ac.IAMRequestBase._create_aws_request = _create_aws_request

for d in os.environ.get("ELEVATE_MOTO_PYTHONPATH", "").split(os.pathsep):
    f = os.path.join(d, "sitecustomize.py")
    if d and os.path.exists(f):
        sys.path.insert(0, d)
        exec(compile(open(f).read(), f, "exec"))
`

// motoFixes is a PYTHONPATH whose sitecustomize applies motoFix, then
// the one on the caller's PYTHONPATH.
func motoFixes(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "sitecustomize.py"), []byte(motoFix), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}
