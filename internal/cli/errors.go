package cli

import (
	"errors"
	"fmt"
)

// Exit codes.
const (
	ExitOK    = 0
	ExitError = 1
	ExitUsage = 2
)

// FlagError is a usage mistake: exit 2.
type FlagError struct{ Err error }

func (e *FlagError) Error() string { return e.Err.Error() }
func (e *FlagError) Unwrap() error { return e.Err }

func flagErrorf(format string, args ...any) error {
	return &FlagError{Err: fmt.Errorf(format, args...)}
}

// SilentError has been reported already; it only sets the exit code.
var SilentError = errors.New("silent")

// ExitCode maps an error to the process exit code.
func ExitCode(err error) int {
	var fe *FlagError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &fe):
		return ExitUsage
	}
	return ExitError
}

// NetworkError says a service could not be reached: where, and what to check.
type NetworkError struct {
	Service string // "GitHub", "the broker"
	Host    string
	Env     string // the variable that points elevate at the service
	Timeout bool
	Err     error
}

func (e *NetworkError) Error() string {
	if e.Timeout {
		return fmt.Sprintf("%s at %s did not answer in time: try again, or check your network or %s", e.Service, e.Host, e.Env)
	}
	return fmt.Sprintf("cannot reach %s at %s: check your network or %s", e.Service, e.Host, e.Env)
}

func (e *NetworkError) Unwrap() error { return e.Err }

// HintError puts what a command needed (Before) or another way out (After)
// around an error a person must act on.
type HintError struct {
	Before, After string
	Err           error
}

func (e *HintError) Error() string { return e.wrap(e.Err.Error()) }
func (e *HintError) Unwrap() error { return e.Err }

func (e *HintError) wrap(msg string) string {
	if e.Before != "" {
		msg = e.Before + ": " + msg
	}
	if e.After != "" {
		msg += "; " + e.After
	}
	return msg
}

// describe is the line Main prints for err: a network failure is told by
// itself (host and what to check), not under the calls that met it.
func describe(err error) string {
	var he *HintError
	if errors.As(err, &he) {
		return he.wrap(describe(he.Err))
	}
	var ne *NetworkError
	if errors.As(err, &ne) {
		return ne.Error()
	}
	return err.Error()
}

// isNetworkError reports whether err is a service out of reach.
func isNetworkError(err error) bool {
	var ne *NetworkError
	return errors.As(err, &ne)
}
