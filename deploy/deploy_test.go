// Package deploy holds what a platform team installs: the systemd unit, and
// the release artifacts make builds. Its tests check both for real.
package deploy_test

import (
	"bytes"
	"debug/elf"
	"debug/macho"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/elevate-gitops/elevate/internal/testenv"
)

// The unit passes systemd-analyze verify (Debian's systemd), with its
// ExecStart pointed at a real broker binary, and keeps its hardening.
func TestSystemdUnitVerifies(t *testing.T) {
	t.Parallel()
	analyze := testenv.RequireTool(t, "apt-get install systemd", "systemd-analyze")
	unit, err := os.ReadFile("systemd/elevate-broker.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"DynamicUser=yes", "StateDirectory=elevate-broker", "ProtectSystem=strict", "NoNewPrivileges=yes", "LoadCredential=app-key:", "TimeoutStopSec=30s"} {
		if !bytes.Contains(unit, []byte("\n"+want)) {
			t.Errorf("the unit lacks %s", want)
		}
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "elevate-broker")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/elevate-broker").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	local := filepath.Join(dir, "elevate-broker.service")
	if err := os.WriteFile(local, bytes.ReplaceAll(unit, []byte("/usr/local/bin/elevate-broker"), []byte(bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", local).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	sec, err := exec.Command(analyze, "security", "--offline=yes", "--threshold=20", local).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: exposure above 2.0: %v\n%s", err, sec)
	}
	lines := strings.Split(strings.TrimSpace(string(sec)), "\n")
	t.Log(lines[len(lines)-1])
}

// make dist builds the three binaries for each platform, with a checksum
// file that verifies; make lambda builds the provided.al2023 bootstrap
// zips. Linux (the three commands and a Lambda zip) and darwin (the CLI a
// Mac runs) show the mechanism: each further platform or command is a
// cross-compilation of everything it links, minutes of a 2-core machine,
// for nothing new.
func TestMakeDistAndLambda(t *testing.T) {
	t.Parallel()
	testenv.RequireTool(t, "apt-get install zip", "zip")
	for _, tt := range []struct {
		targets  []string
		vars     []string
		binaries []string // <command>_<os>_<arch>
		lambda   []string
	}{
		{[]string{"dist", "lambda"}, []string{"PLATFORMS=linux/amd64", "LAMBDA_ARCHS=amd64"},
			[]string{"elevate_linux_amd64", "elevate-action_linux_amd64", "elevate-broker_linux_amd64"}, []string{"amd64"}},
		{[]string{"dist"}, []string{"PLATFORMS=darwin/arm64", "COMMANDS=elevate"}, []string{"elevate_darwin_arm64"}, nil},
	} {
		out := t.TempDir()
		cmd := exec.Command("make", append(append([]string{"-C", ".."}, tt.targets...), append(tt.vars, "DIST="+out)...)...)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("make %v %v: %v\n%s", tt.targets, tt.vars, err, b)
		}
		check := exec.Command("sha256sum", "-c", "SHA256SUMS")
		check.Dir = out
		if b, err := check.CombinedOutput(); err != nil {
			t.Fatalf("checksums: %v\n%s", err, b)
		}
		for _, name := range tt.binaries {
			_, osarch, _ := strings.Cut(name, "_")
			if err := checkArch(filepath.Join(out, name), osarch); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
		sums, _ := os.ReadFile(filepath.Join(out, "SHA256SUMS"))
		if n := strings.Count(string(sums), "\n"); n != len(tt.binaries) {
			t.Errorf("%d checksums, want %d: %s", n, len(tt.binaries), sums)
		}
		for _, arch := range tt.lambda {
			zip := filepath.Join(out, "lambda", "elevate-broker-lambda-"+arch+".zip")
			list, err := exec.Command("unzip", "-Z1", zip).Output()
			if err != nil || strings.TrimSpace(string(list)) != "bootstrap" {
				t.Errorf("%s holds %q (%v), want exactly bootstrap", zip, list, err)
			}
			if err := checkArch(filepath.Join(out, "lambda", arch, "bootstrap"), "linux_"+arch); err != nil {
				t.Errorf("bootstrap %s: %v", arch, err)
			}
		}
	}
}

// checkArch opens p as the executable format of osarch and checks its CPU.
func checkArch(p, osarch string) error {
	goos, arch, _ := strings.Cut(osarch, "_")
	if goos == "linux" {
		f, err := elf.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[arch]
		if f.Machine != want {
			return errorf("machine %v, want %v", f.Machine, want)
		}
		return nil
	}
	f, err := macho.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	want := map[string]macho.Cpu{"amd64": macho.CpuAmd64, "arm64": macho.CpuArm64}[arch]
	if f.Cpu != want {
		return errorf("cpu %v, want %v", f.Cpu, want)
	}
	return nil
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
