package main

import (
	"os/exec"
	"testing"

	"github.com/elevate-gitops/elevate/internal/broker/brokertest"
)

// BenchmarkCredentialsFromCache runs the whole `elevate credentials` process
// as the AWS CLI does once the cache is warm (target: under 20 ms).
func BenchmarkCredentialsFromCache(b *testing.B) {
	h := brokertest.New(b)
	env := awsProfileEnv(b, h)
	run := func() {
		cmd := exec.Command(binary, "credentials", "--account", "prod", "--role", "Admin")
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%v: %s", err, out)
		}
	}
	run()
	issued := h.STS.Calls("AssumeRole")
	for b.Loop() {
		run()
	}
	if h.STS.Calls("AssumeRole") != issued {
		b.Fatal("a cached call reached the broker")
	}
}
