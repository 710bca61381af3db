package walletstart

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
)

// Supervisor runs a coin daemon as its child and restarts it with the
// rebuild its output asks for when it stops on a corrupt block database.
type Supervisor struct {
	// Name says which wallet in log lines, e.g. "ltc/1".
	Name string
	// Command is the daemon and its arguments; one of them is
	// -datadir=<dir>, where the rebuild marker is kept.
	Command []string
	// Signals are forwarded to the daemon as they arrive; the daemon
	// decides when it has flushed and exits.
	Signals <-chan os.Signal
	// Stdout and Stderr receive the daemon's own output unchanged; Log
	// receives the supervisor's lines.
	Stdout, Stderr, Log io.Writer
}

// ExitError is a daemon's exit the supervisor did not repair: its status
// becomes the supervisor's.
type ExitError struct {
	Code   int
	Damage Damage
	Tried  []Flag
}

func (e *ExitError) Error() string {
	if e.Damage == Undamaged {
		return fmt.Sprintf("daemon exited with status %d", e.Code)
	}
	tried := make([]string, len(e.Tried))
	for i, f := range e.Tried {
		tried[i] = string(f)
	}
	return fmt.Sprintf("daemon exited with status %d, %s, after %s: the rebuild did not repair it; the disk or the datadir needs a look",
		e.Code, e.Damage, strings.Join(tried, " then "))
}

// Datadir is the value of the last -datadir= in args.
func Datadir(args []string) (string, error) {
	dir := ""
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "-datadir="); ok {
			dir = v
		}
	}
	if dir == "" {
		return "", errors.New("the daemon's arguments have no -datadir=: the rebuild marker needs one")
	}
	return dir, nil
}

// Run runs the daemon until it exits for good: cleanly, on a signal, on a
// failure that is no corruption, or on corruption the ladder of rebuilds
// (Next) did not repair.
func (s *Supervisor) Run(ctx context.Context) error {
	if len(s.Command) == 0 {
		return errors.New("no daemon command")
	}
	datadir, err := Datadir(s.Command[1:])
	if err != nil {
		return err
	}
	var tried []Flag
	flag, err := readMarker(datadir)
	if err != nil {
		return err
	}
	if flag != "" {
		fmt.Fprintf(s.Log, "wallet %s: a %s was interrupted (%s in %s): resuming it\n", s.Name, flag, MarkerFile, datadir)
		tried = append(tried, flag)
	}
	for {
		res, err := s.runOnce(ctx, datadir, flag)
		if err != nil {
			return err
		}
		if res.code == 0 || res.signalled {
			if res.code == 0 {
				return nil
			}
			return &ExitError{Code: res.code}
		}
		next, ok := Next(res.damage, tried)
		if !ok {
			if res.damage != Undamaged && flag != "" {
				fmt.Fprintf(s.Log, "wallet %s: %s (%s) after %s: giving up\n", s.Name, res.damage, res.evidence, flag)
			}
			return &ExitError{Code: res.code, Damage: res.damage, Tried: tried}
		}
		fmt.Fprintf(s.Log, "wallet %s: %s (%s): restarting with %s\n", s.Name, res.damage, res.evidence, next)
		if err := writeMarker(datadir, next); err != nil {
			return err
		}
		tried = append(tried, next)
		flag = next
	}
}

type result struct {
	code      int
	signalled bool // the supervisor was asked to stop
	damage    Damage
	evidence  string
}

// runOnce runs the daemon once, with flag added when it is set, and
// removes the marker once the daemon reports the rebuild done.
func (s *Supervisor) runOnce(ctx context.Context, datadir string, flag Flag) (result, error) {
	args := append([]string{}, s.Command[1:]...)
	if flag != "" {
		args = append(args, string(flag))
	}
	cmd := exec.Command(s.Command[0], args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return result{}, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return result{}, err
	}
	if err := cmd.Start(); err != nil {
		return result{}, fmt.Errorf("start %s: %w", s.Command[0], err)
	}
	var (
		mu         sync.Mutex
		classifier Classifier
		rebuilt    rebuildWatch
		markerErr  error
		wg         sync.WaitGroup
	)
	copyLines := func(r io.Reader, w io.Writer) {
		defer wg.Done()
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			line := sc.Text()
			_, _ = fmt.Fprintln(w, line)
			mu.Lock()
			classifier.Line(line)
			if flag != "" && rebuilt.line(line) {
				if err := removeMarker(datadir); err != nil {
					markerErr = err
				} else {
					fmt.Fprintf(s.Log, "wallet %s: %s finished\n", s.Name, flag)
				}
			}
			mu.Unlock()
		}
		// A line longer than the buffer: keep the output flowing.
		_, _ = io.Copy(w, r)
	}
	wg.Add(2)
	go copyLines(stdout, s.Stdout)
	go copyLines(stderr, s.Stderr)

	exited := make(chan struct{})
	signalled := false
	go func() {
		wg.Wait()
		close(exited)
	}()
	done := ctx.Done()
	for waiting := true; waiting; {
		select {
		case sig := <-s.Signals:
			signalled = true
			_ = cmd.Process.Signal(sig)
		case <-done:
			// The context ends as the process is told to stop: the
			// daemon gets SIGTERM and its time to flush.
			signalled = true
			done = nil
			_ = cmd.Process.Signal(syscall.SIGTERM)
		case <-exited:
			waiting = false
		}
	}
	err = cmd.Wait()
	res := result{signalled: signalled, damage: classifier.Damage(), evidence: classifier.Evidence()}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		res.code = exitErr.ExitCode()
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			res.code = 128 + int(ws.Signal())
			res.signalled = true
		}
	default:
		return res, fmt.Errorf("wait for %s: %w", s.Command[0], err)
	}
	return res, markerErr
}

// rebuildWatch tells from the daemon's output when a rebuild is done:
// its import thread (which rebuilds the chainstate, and reads the block
// files on -reindex) ends with "loadblk thread exit", unless a shutdown
// cut it short ("Shutdown requested. Exit ThreadImport").
type rebuildWatch struct{ interrupted, done bool }

func (r *rebuildWatch) line(line string) (justDone bool) {
	switch {
	case r.done:
		return false
	case strings.Contains(line, "Shutdown requested"), strings.Contains(line, "Shutdown: In progress"):
		r.interrupted = true
	case strings.Contains(line, "loadblk thread exit") && !r.interrupted:
		r.done = true
		return true
	}
	return false
}
