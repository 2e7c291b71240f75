package demo_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Every test the README's trust-model table cites exists: the table is a
// claim about the code, and a renamed or deleted test must fail here.
func TestREADMETrustTableNamesRealTests(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	start := strings.Index(text, "### Who can do what: the trust model")
	if start < 0 {
		t.Fatal("README has no trust-model table")
	}
	end := strings.Index(text[start+4:], "\n### ")
	table := text[start : start+4+end]
	cited := regexp.MustCompile("`(Test[A-Za-z0-9_]+)`").FindAllStringSubmatch(table, -1)
	if len(cited) < 20 {
		t.Fatalf("the table cites %d tests; every row must name its tests", len(cited))
	}
	var sources strings.Builder
	err = filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return err
		}
		data, err := os.ReadFile(path)
		sources.Write(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cited {
		if !strings.Contains(sources.String(), "func "+c[1]+"(") {
			t.Errorf("README cites %s, which no test file defines", c[1])
		}
	}
}
