package deploy_test

import (
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/elevate-gitops/elevate/internal/brokerapi"
	"github.com/elevate-gitops/elevate/internal/testenv"
)

const (
	rulesFile     = "prometheus/elevate-rules.yml"
	rulesTestFile = "prometheus/elevate-rules.test.yml"
)

// The example alerting rules are rules Prometheus loads (promtool check
// rules), and they fire when they should and only then (promtool test rules
// runs elevate-rules.test.yml).
func TestPrometheusRules(t *testing.T) {
	t.Parallel()
	promtool := testenv.RequireTool(t, "apt-get install prometheus (it ships promtool)", "promtool")
	if out, err := exec.Command(promtool, "check", "rules", rulesFile).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules %s: %v\n%s", rulesFile, err, out)
	}
	test := exec.Command(promtool, "test", "rules", "elevate-rules.test.yml")
	test.Dir = "prometheus"
	if out, err := test.CombinedOutput(); err != nil {
		t.Fatalf("promtool test rules %s: %v\n%s", rulesTestFile, err, out)
	}
}

// The rules speak of the broker's own series, labels and values: a metric
// renamed in internal/broker/metrics.go, an endpoint renamed in server.go or
// an error code renamed in brokerapi fails here, not silently in production.
func TestPrometheusRulesNameRealSeries(t *testing.T) {
	t.Parallel()
	rules, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	metrics, err := os.ReadFile("../internal/broker/metrics.go")
	if err != nil {
		t.Fatal(err)
	}
	server, err := os.ReadFile("../internal/broker/server.go")
	if err != nil {
		t.Fatal(err)
	}
	var exprs strings.Builder
	for _, l := range strings.Split(string(rules), "\n") {
		if l = strings.TrimSpace(l); !strings.HasPrefix(l, "#") && !strings.HasPrefix(l, "summary:") && !strings.HasPrefix(l, "description:") {
			exprs.WriteString(l + "\n")
		}
	}
	registered := map[string]bool{}
	for _, m := range regexp.MustCompile(`Name:\s*"(elevate_[a-z_]+)"`).FindAllStringSubmatch(string(metrics), -1) {
		registered[m[1]] = true
	}
	used := regexp.MustCompile(`\belevate_[a-z_]+`).FindAllString(exprs.String(), -1)
	if len(used) < 8 {
		t.Fatalf("the rules name %d elevate series; is the extraction broken?", len(used))
	}
	for _, name := range slices.Compact(slices.Sorted(slices.Values(used))) {
		if !registered[strings.TrimSuffix(name, "_bucket")] {
			t.Errorf("the rules name %s, which internal/broker/metrics.go does not register", name)
		}
	}
	codes := []string{brokerapi.CodeUnauthenticated, brokerapi.CodeNotEligible, brokerapi.CodeNoActiveGrant,
		brokerapi.CodeExpired, brokerapi.CodeRevoked, brokerapi.CodeBadRequest, brokerapi.CodeNotFound,
		brokerapi.CodeTooLarge, brokerapi.CodeInternal, brokerapi.CodeUpstream, brokerapi.CodeNotSynced,
		brokerapi.CodePolicyInvalid, brokerapi.CodeLedgerStale, brokerapi.CodeUntrustedHistory,
		brokerapi.CodeHistoryRewritten, brokerapi.CodeTargetRequired, brokerapi.CodeUseSSO}
	var endpoints []string
	for _, m := range regexp.MustCompile(`s\.instrument\("([a-z]+)"`).FindAllStringSubmatch(string(server), -1) {
		endpoints = append(endpoints, m[1])
	}
	known := map[string][]string{"reason": codes, "endpoint": endpoints, "cause": {"too_large", "refused", "failed"}}
	for _, m := range regexp.MustCompile(`\b(reason|endpoint|cause)=~?"([^"]*)"`).FindAllStringSubmatch(exprs.String(), -1) {
		for _, v := range strings.Split(m[2], "|") {
			if !slices.Contains(known[m[1]], v) {
				t.Errorf("the rules match %s=%q, which the broker never sets (it sets %s)", m[1], v, strings.Join(known[m[1]], ", "))
			}
		}
	}
}
