package testenv

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// motoStartTimeout bounds how long StartMoto waits for moto_server to answer.
const motoStartTimeout = 30 * time.Second

// StartMoto starts moto_server on a free loopback port and returns its
// endpoint, "http://127.0.0.1:PORT"; t's cleanup stops it. With noAuthCalls
// >= 0 moto answers that many calls unauthenticated and then verifies SigV4
// signatures and IAM policies (INITIAL_NO_AUTH_ACTION_COUNT); with a negative
// count it never checks either. moto's output goes to moto.log in
// $ELEVATE_MOTO_LOG_DIR, or in t's temporary directory when that is unset.
func StartMoto(t testing.TB, noAuthCalls int) string {
	t.Helper()
	moto := RequireTool(t, "pip install moto[server]", "moto_server")
	logf, err := os.Create(filepath.Join(cmp.Or(os.Getenv("ELEVATE_MOTO_LOG_DIR"), t.TempDir()), "moto.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logf.Close() })
	for try := 0; ; try++ {
		endpoint, ok := startMoto(t, moto, noAuthCalls, logf)
		if ok {
			return endpoint
		}
		if try == 2 {
			t.Fatalf("moto_server did not start on a free port three times; see %s", logf.Name())
		}
	}
}

// startMoto starts moto_server on a free port and waits for it; false
// when it exited first (another process took the port meanwhile).
func startMoto(t testing.TB, moto string, noAuthCalls int, logf *os.File) (string, bool) {
	t.Helper()
	port := freePort(t)
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)
	cmd := exec.Command(moto, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	// Later entries win: the caller's own PYTHONPATH is read by motoFix.
	cmd.Env = append(os.Environ(), "ELEVATE_MOTO_PYTHONPATH="+os.Getenv("PYTHONPATH"), "PYTHONPATH="+motoFixes(t))
	if noAuthCalls >= 0 {
		cmd.Env = append(cmd.Env, fmt.Sprintf("INITIAL_NO_AUTH_ACTION_COUNT=%d", noAuthCalls))
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	deadline := time.Now().Add(motoStartTimeout)
	for {
		select {
		case <-exited:
			return "", false
		default:
		}
		resp, err := http.Get(endpoint + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			return endpoint, true
		}
		if time.Now().After(deadline) {
			t.Fatalf("moto_server did not answer on %s within %s: %v", endpoint, motoStartTimeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

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

// freePort is a loopback TCP port nothing listens on, below the kernel's
// ephemeral range (32768 and up on Linux): a port the kernel hands out
// for port 0 (another test's httptest server, in another process) can
// never be it, so moto's readiness probe never reaches someone else's
// server.
func freePort(t testing.TB) int {
	t.Helper()
	for range 100 {
		port := 20000 + rand.IntN(12000)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		l.Close()
		return port
	}
	t.Fatal("no free loopback port between 20000 and 32000")
	return 0
}
