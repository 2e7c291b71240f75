package demo

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// StartSandbox starts `self serve` detached from the caller, in its own
// session, and returns once its env file is written (the sandbox is ready),
// having printed what to try; or with the log's end if it stopped first.
func StartSandbox(self, bin, dir string, out io.Writer) error {
	if pid, ok := sandboxPID(dir); ok {
		return fmt.Errorf("a sandbox already runs from %s (pid %d): make sandbox-stop first", dir, pid)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	os.Remove(filepath.Join(dir, SandboxEnv))
	logFile, err := os.Create(filepath.Join(dir, SandboxLog))
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := exec.Command(self, "serve", "--dir", dir, "--bin", bin)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // outlives make and the terminal's ^C
	if err := cmd.Start(); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, SandboxPID), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o600); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(2 * time.Minute)
	for {
		if _, err := os.Stat(filepath.Join(dir, SandboxEnv)); err == nil {
			break
		}
		select {
		case err := <-exited:
			os.Remove(filepath.Join(dir, SandboxPID))
			log, _ := os.ReadFile(filepath.Join(dir, SandboxLog))
			return fmt.Errorf("the sandbox stopped while starting (%v):\n%s", err, log)
		case <-deadline:
			return fmt.Errorf("the sandbox did not start within 2 minutes; see %s", filepath.Join(dir, SandboxLog))
		case <-time.After(50 * time.Millisecond):
		}
	}
	try, err := os.ReadFile(filepath.Join(dir, SandboxTry))
	if err != nil {
		return err
	}
	_, err = out.Write(try)
	return err
}

// StopSandbox ends the sandbox of dir and waits until it has gone (its
// broker with it).
func StopSandbox(dir string, out io.Writer) error {
	pid, ok := sandboxPID(dir)
	if !ok {
		fmt.Fprintf(out, "no sandbox runs from %s\n", dir)
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(-pid, syscall.SIGKILL) // its session: the broker too
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	os.Remove(filepath.Join(dir, SandboxPID))
	os.Remove(filepath.Join(dir, SandboxEnv))
	fmt.Fprintf(out, "stopped the sandbox (pid %d)\n", pid)
	return nil
}

// sandboxPID is the pid of the sandbox running from dir, if one does.
func sandboxPID(dir string) (int, bool) {
	data, err := os.ReadFile(filepath.Join(dir, SandboxPID))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 || !alive(pid) {
		return 0, false
	}
	return pid, true
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// SandboxCall asks the running sandbox (ELEVATE_SANDBOX_URL, from its env
// file) to act, and returns its answer.
func SandboxCall(base, method, path string, form url.Values) (string, error) {
	if base == "" {
		return "", errors.New("ELEVATE_SANDBOX_URL is not set: source the sandbox's env file (make sandbox prints where it is)")
	}
	req, err := http.NewRequest(method, strings.TrimSuffix(base, "/")+path, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		return "", fmt.Errorf("the sandbox does not answer (make sandbox starts it): %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return "", errors.New(strings.TrimSpace(string(body)))
	}
	return strings.TrimSpace(string(body)), nil
}
