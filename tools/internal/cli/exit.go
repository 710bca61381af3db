package cli

import (
	"errors"
	"fmt"
	"io"
)

// Exit codes, one table for every command (README "Exit codes").
const (
	ExitOK      = 0
	ExitRuntime = 1 // an API, network or system error
	ExitInvalid = 2 // the pool definition or the command line is invalid
	ExitFailed  = 3 // a deployment failed, timed out or would not place
)

// exitError carries the exit code a command ends with. Its message is
// printed unless it was already reported (diagnostics).
type exitError struct {
	code     int
	err      error
	reported bool
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func withCode(code int, err error) error { return &exitError{code: code, err: err} }

// reported marks a failure whose details are already on stderr.
func reported(code int, format string, args ...any) error {
	return &exitError{code: code, err: fmt.Errorf(format, args...), reported: true}
}

func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return ExitOK
	}
	var e *exitError
	if errors.As(err, &e) {
		if !e.reported {
			fmt.Fprintf(stderr, "poolctl: %v\n", e.err)
		}
		return e.code
	}
	fmt.Fprintf(stderr, "poolctl: %v\n", err)
	return ExitRuntime
}
