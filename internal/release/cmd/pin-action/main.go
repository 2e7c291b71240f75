// Command pin-action writes a release's elevate-action checksums from
// dist/SHA256SUMS into action.yml (make action-pin).
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/elevate-gitops/elevate/internal/release"
)

func main() {
	action := flag.String("action", "action.yml", "the action metadata file to rewrite")
	sums := flag.String("sums", "dist/SHA256SUMS", "the checksum file make dist wrote")
	url := flag.String("url", "", "where the release's binaries are downloaded from (https://…/releases/download/TAG)")
	flag.Parse()
	if err := run(*action, *sums, *url); err != nil {
		fmt.Fprintln(os.Stderr, "pin-action:", err)
		os.Exit(1)
	}
}

func run(actionPath, sumsPath, url string) error {
	data, err := os.ReadFile(sumsPath)
	if err != nil {
		return err
	}
	sums, err := release.ParseSums(data)
	if err != nil {
		return err
	}
	action, err := os.ReadFile(actionPath)
	if err != nil {
		return err
	}
	pinned, err := release.Pin(action, url, sums)
	if err != nil {
		return err
	}
	if err := os.WriteFile(actionPath, pinned, 0o644); err != nil {
		return err
	}
	fmt.Printf("%s pins the elevate-action binaries of %s; commit it, then tag that commit\n", actionPath, url)
	return nil
}
