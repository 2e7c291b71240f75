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
	cmd.Env = os.Environ()
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
