#!/usr/bin/env bash
# Builds the judge from the source of the commit the workflow pinned: the
# action's own checkout, never the repository the workflow runs in.
set -euo pipefail
cd "${GITHUB_ACTION_PATH:?GITHUB_ACTION_PATH is not set}"
CGO_ENABLED=0 go build -trimpath -mod=readonly -o "${RUNNER_TEMP:?RUNNER_TEMP is not set}/elevate-action" ./cmd/elevate-action
"${RUNNER_TEMP}/elevate-action" --version
