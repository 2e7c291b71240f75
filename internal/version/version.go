// Package version says which build of elevate is running: the module
// version and the VCS revision Go records in every binary's build info.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Info is what a build knows about itself.
type Info struct {
	Module   string // the module version: v1.2.3, or (devel) for a local build
	Revision string // the VCS revision, "" when the build recorded none
	Time     string // the revision's commit time
	Modified bool   // the working tree had uncommitted changes
	Go       string
}

// Read returns the running binary's build info.
func Read() Info {
	info := Info{Module: "(devel)", Go: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return info
	}
	if v := bi.Main.Version; v != "" {
		info.Module = v
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Revision = s.Value
		case "vcs.time":
			info.Time = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	return info
}

// String is the line `--version` prints for program.
func (i Info) String(program string) string {
	rev := "revision unknown"
	if i.Revision != "" {
		rev = "revision " + i.Revision
		if i.Modified {
			rev += " (modified)"
		}
		if i.Time != "" {
			rev += " of " + i.Time
		}
	}
	return fmt.Sprintf("%s %s, %s, %s", program, i.Module, rev, i.Go)
}
