package testenv

import (
	"cmp"
	"fmt"
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
	port := freePort(t)
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)
	cmd := exec.Command(moto, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	cmd.Env = os.Environ()
	if noAuthCalls >= 0 {
		cmd.Env = append(cmd.Env, fmt.Sprintf("INITIAL_NO_AUTH_ACTION_COUNT=%d", noAuthCalls))
	}
	logf, err := os.Create(filepath.Join(cmp.Or(os.Getenv("ELEVATE_MOTO_LOG_DIR"), t.TempDir()), "moto.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		logf.Close()
	})
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
		time.Sleep(100 * time.Millisecond)
	}
}

// freePort is a loopback TCP port nothing listened on a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
