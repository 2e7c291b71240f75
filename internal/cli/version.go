package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/elevate-gitops/elevate/internal/version"
)

// VersionOptions are the inputs of `elevate version`.
type VersionOptions struct {
	IO IOStreams
}

// NewCmdVersion builds `elevate version`; the root's --version prints the same.
func NewCmdVersion(f *Factory, runF func(context.Context, *VersionOptions) error) *cobra.Command {
	opts := &VersionOptions{IO: f.IO}
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version and the VCS revision it was built from",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return versionRun(opts)
		},
	}
}

func versionRun(opts *VersionOptions) error {
	_, err := fmt.Fprintln(opts.IO.Out, version.Read().String("elevate"))
	return err
}
