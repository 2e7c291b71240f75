package eligibility

import (
	"errors"
	"os"
	"testing"

	"github.com/elevate-gitops/elevate/internal/strictyaml"
)

func FuzzParse(f *testing.F) {
	seed, err := os.ReadFile("testdata/eligibility.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte("version: 1\naccounts: &a {}\nrules: *a\n"))
	f.Add([]byte("version: 1\naccounts:\n\tprod: \"1\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(File, data)
		if err != nil {
			var e *strictyaml.Error
			if !errors.As(err, &e) || e.File != File {
				t.Fatalf("error %v is not a located *strictyaml.Error", err)
			}
			return
		}
		if p.SessionDuration < MinSessionDuration || p.SessionDuration > MaxSessionDuration {
			t.Fatalf("session duration %s out of range", p.SessionDuration)
		}
		for _, r := range p.Rules {
			if r.Name == "" || len(r.Who) == 0 || len(r.Accounts) == 0 || len(r.Roles) == 0 || r.Approvals < 0 || r.Approvals > MaxApprovals {
				t.Fatalf("accepted an invalid rule %+v", r)
			}
		}
	})
}
