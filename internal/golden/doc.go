// Package golden compares what a test renders with a file under testdata/,
// so that user-facing text (PR comments, job summaries, audit reports) is
// data a reviewer reads in a diff rather than fragments a test searches for.
//
// A test calls
//
//	golden.Assert(t, "verdict-pending", body)
//
// which compares body with testdata/verdict-pending.golden in the package
// under test. On a mismatch the test fails with the file's name, the first
// line that differs and a unified diff (-want +got), and says how to accept
// the new output:
//
//	go test ./internal/validate -run '^TestX$' -update
//
// -update rewrites the golden files of the tests that run instead of
// comparing; review the result with git diff before committing it. The flag
// is defined by this package, so only test binaries that import it accept
// it: give it with a package path (./internal/validate), not ./... .
package golden
