// Command elevate-action judges pull requests against the access repository
// from a GitHub Actions workflow. Logic lives in internal/validate.
//
// In the judging workflow (.github/workflows/elevate.yml) the token is the
// input "token" (INPUT_TOKEN), set from the elevate GitHub App's
// installation token minted in the elevate environment; the workflow never
// passes GITHUB_TOKEN, and if the App token cannot be minted the job fails
// before this runs. GITHUB_TOKEN is read only when no input is given, for a
// local or manual run (and the local demo).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"syscall"

	"github.com/sethvargo/go-githubactions"

	"github.com/elevate-gitops/elevate/internal/githubapi"
	"github.com/elevate-gitops/elevate/internal/validate"
	"github.com/elevate-gitops/elevate/internal/version"
)

func main() {
	if slices.Contains(os.Args[1:], "--version") {
		fmt.Println(version.Read().String("elevate-action"))
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a := githubactions.New()
	if err := realMain(ctx, a); err != nil {
		var rejected *validate.RejectedError
		if !errors.As(err, &rejected) {
			a.Errorf("elevate: %v", err)
		}
		stop()
		os.Exit(1)
	}
}

func realMain(ctx context.Context, a *githubactions.Action) error {
	in, err := validate.InputFromAction(a)
	if err != nil {
		return err
	}
	token := a.GetInput("token")
	if token == "" { // a local or manual run; the workflow always passes the input
		token = a.Getenv("GITHUB_TOKEN")
	}
	if token == "" {
		return fmt.Errorf("no GitHub token: pass the input token (INPUT_TOKEN; the workflow sets it from the elevate App) or, for a local run, set GITHUB_TOKEN")
	}
	gh, err := githubapi.NewClient(a.Getenv("GITHUB_API_URL"), token, nil)
	if err != nil {
		return err
	}
	repo, err := githubapi.NewRepo(gh, a.Getenv("GITHUB_REPOSITORY"))
	if err != nil {
		return err
	}
	return validate.Run(ctx, a, repo, in)
}
