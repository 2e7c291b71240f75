package ledgertest

import (
	"crypto/subtle"
	"encoding/pem"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// GitServer serves bare repositories over git's smart HTTP protocol (git
// http-backend through net/http/cgi), as GitHub does: every request must
// carry HTTP basic auth whose password is the token.
type GitServer struct {
	*httptest.Server
	Root     string // holds <owner>/<name>.git
	Requests atomic.Int64
	tokens   atomic.Value // []string
}

// NewGitServer starts a smart-HTTP git server over TLS (tls) or plain http,
// accepting token; t.Cleanup stops it.
func NewGitServer(t testing.TB, tls bool, token string) *GitServer {
	t.Helper()
	backend, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Fatalf("git --exec-path: %v", err)
	}
	s := &GitServer{Root: t.TempDir()}
	s.tokens.Store([]string{token})
	h := &cgi.Handler{
		Path: filepath.Join(strings.TrimSpace(string(backend)), "git-http-backend"),
		Env:  []string{"GIT_PROJECT_ROOT=" + s.Root, "GIT_HTTP_EXPORT_ALL=1", "PATH=" + os.Getenv("PATH")},
	}
	auth := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.Requests.Add(1)
		_, pass, ok := r.BasicAuth()
		if !ok || !s.accepts(pass) {
			w.Header().Set("WWW-Authenticate", `Basic realm="GitHub"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		r.Header.Del("Authorization") // the backend needs no credentials
		h.ServeHTTP(w, r)
	})
	if tls {
		s.Server = httptest.NewTLSServer(auth)
	} else {
		s.Server = httptest.NewServer(auth)
	}
	t.Cleanup(s.Close)
	return s
}

func (s *GitServer) accepts(pass string) bool {
	for _, tok := range s.tokens.Load().([]string) {
		if subtle.ConstantTimeCompare([]byte(pass), []byte(tok)) == 1 {
			return true
		}
	}
	return false
}

// Publish makes a bare clone of src (a Repo's directory) at owner/name.git
// and returns its URL; Push updates it later.
func (s *GitServer) Publish(t testing.TB, src *Repo, owner, name string) string {
	t.Helper()
	bare := filepath.Join(s.Root, owner, name+".git")
	src.Git(time.Time{}, "clone", "-q", "--bare", src.Dir, bare)
	(&Repo{t: t, Dir: bare}).Git(time.Time{}, "config", "http.receivepack", "false")
	return s.URL + "/" + owner + "/" + name + ".git"
}

// Push sends src's main to owner/name.git, forcing when force is set.
func (s *GitServer) Push(t testing.TB, src *Repo, owner, name string, force bool) {
	t.Helper()
	args := []string{"push", "-q", filepath.Join(s.Root, owner, name+".git"), "main:main"}
	if force {
		args = append(args, "--force")
	}
	src.Git(time.Time{}, args...)
}

// CAFile writes the TLS server's certificate as a PEM file for SSL_CERT_FILE.
func (s *GitServer) CAFile(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(p, pemCert(s.Certificate().Raw), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
