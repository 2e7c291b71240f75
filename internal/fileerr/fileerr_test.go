package fileerr_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/elevate-gitops/elevate/internal/fileerr"
)

// The three errors stay apart through wrapping, and "missing" is the one
// the standard library reports, so a local read and an API read agree.
func TestErrorsAreDistinctAndWrap(t *testing.T) {
	_, err := os.ReadFile(filepath.Join(t.TempDir(), "absent"))
	if !errors.Is(err, fileerr.ErrNotExist) || !errors.Is(fileerr.ErrNotExist, fs.ErrNotExist) {
		t.Errorf("a missing local file is not fileerr.ErrNotExist: %v", err)
	}
	all := []error{fileerr.ErrNotExist, fileerr.ErrTooLarge, fileerr.ErrNotRegular}
	for i, a := range all {
		wrapped := fmt.Errorf("read requests/x.yaml at abc: %w", a)
		for j, b := range all {
			if got := errors.Is(wrapped, b); got != (i == j) {
				t.Errorf("errors.Is(wrapped %v, %v) = %v", a, b, got)
			}
		}
	}
}
