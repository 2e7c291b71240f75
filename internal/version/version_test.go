package version

import (
	"strings"
	"testing"
)

func TestString(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		info Info
		want string
	}{
		{Info{Module: "v1.2.3", Revision: "abc123", Time: "2026-12-01T10:00:00Z", Go: "go1.26.8"}, "elevate v1.2.3, revision abc123 of 2026-12-01T10:00:00Z, go1.26.8"},
		{Info{Module: "(devel)", Revision: "abc123", Modified: true, Go: "go1.26.8"}, "elevate (devel), revision abc123 (modified), go1.26.8"},
		{Info{Module: "(devel)", Go: "go1.26.8"}, "elevate (devel), revision unknown, go1.26.8"},
	} {
		if got := tt.info.String("elevate"); got != tt.want {
			t.Errorf("String = %q, want %q", got, tt.want)
		}
	}
	if got := Read(); got.Module == "" || !strings.HasPrefix(got.Go, "go") {
		t.Errorf("Read = %+v", got)
	}
}
