package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/elevate-gitops/elevate/internal/version"
)

// NewCmdVersion builds `elevate version`; the root's --version prints the same.
func NewCmdVersion(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version and the VCS revision it was built from",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintln(f.IO.Out, version.Read().String("elevate"))
			return err
		},
	}
}
