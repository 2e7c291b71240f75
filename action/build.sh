#!/usr/bin/env bash
# Builds the judge from the source of the commit the workflow pinned: the
# action's own checkout, never the repository the workflow runs in. The
# runner's Go settings are not trusted (a persistent runner's go env file,
# GOFLAGS=-toolexec, a workspace, another proxy or no checksum database):
# modules come from the public proxy, checked against go.sum and sum.golang.org.
set -euo pipefail
cd "${GITHUB_ACTION_PATH:?GITHUB_ACTION_PATH is not set}"
env GOENV=off GOFLAGS=-mod=readonly GOWORK=off GOTOOLCHAIN=local CGO_ENABLED=0 \
  GOPROXY=https://proxy.golang.org GOSUMDB=sum.golang.org GONOSUMDB= GONOSUMCHECK= GOINSECURE= GOPRIVATE= GONOPROXY= \
  go build -trimpath -o "${RUNNER_TEMP:?RUNNER_TEMP is not set}/elevate-action" ./cmd/elevate-action
"${RUNNER_TEMP}/elevate-action" --version
