package brokerapi_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The seams below the domain name no domain package: brokerapi (the wire
// contract), githubapi (the GitHub seam) and gitlog (the git reader), with
// the leaves they share (fileerr, outbound), are
// leaves that everything else may import, never the other way round.
func TestLeafPackagesImportNoDomainPackage(t *testing.T) {
	t.Parallel()
	for _, pkg := range []string{"internal/brokerapi", "internal/githubapi", "internal/gitlog"} {
		out, err := exec.Command("go", "list", "-deps", "github.com/elevate-gitops/elevate/"+pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			own, ok := strings.CutPrefix(dep, "github.com/elevate-gitops/elevate/internal/")
			if !ok || "internal/"+own == pkg || own == "fileerr" || own == "outbound" {
				continue
			}
			t.Errorf("%s depends on internal/%s", pkg, own)
		}
	}
}
