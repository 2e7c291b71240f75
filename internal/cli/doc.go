// Package cli holds the commands of the elevate CLI: request, status,
// credentials, console, revoke, extend, login, audit, activity, policy
// lint, init, configure and version. Each command is
// NewCmdX(f, runF): flags fill an Options struct, bad combinations are flag
// errors (exit 2), and xRun(ctx, opts) does the work against a small Factory.
package cli
