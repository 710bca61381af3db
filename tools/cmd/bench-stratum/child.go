package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// child is a re-executed copy of this program playing a role, spoken to
// by lines on its stdin and stdout.
type child struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan string
	done  chan error

	stopOnce sync.Once
	stopErr  error
}

func startChild(ctx context.Context, role string, env map[string]string, stderr io.Writer) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own executable: %w", err)
	}
	cmd := exec.CommandContext(ctx, self)
	cmd.Env = append(os.Environ(), roleEnv+"="+role)
	for k, v := range env {
		cmd.Env = append(cmd.Env, "BENCH_STRATUM_"+k+"="+v)
	}
	cmd.Stderr = stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", role, err)
	}
	c := &child{cmd: cmd, in: in, lines: make(chan string, 16), done: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64*1024), 16<<20)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
		c.done <- cmd.Wait()
	}()
	return c, nil
}

// send writes one command line.
func (c *child) send(format string, args ...any) error {
	_, err := fmt.Fprintf(c.in, format+"\n", args...)
	return err
}

// expect waits for the next line starting with word and returns its
// fields after word.
func (c *child) expect(word string, timeout time.Duration) ([]string, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case line, ok := <-c.lines:
			if !ok {
				return nil, fmt.Errorf("child ended while waiting for %q: %v", word, <-c.done)
			}
			f := strings.Fields(line)
			if len(f) > 0 && f[0] == word {
				return f[1:], nil
			}
			return nil, fmt.Errorf("child said %q while waiting for %q", line, word)
		case <-t.C:
			return nil, fmt.Errorf("no %q from child in %s", word, timeout)
		}
	}
}

// stop closes the child's stdin, which tells it to close everything and
// leave, and waits for it; a child that does not leave is killed.
func (c *child) stop() error {
	c.stopOnce.Do(func() {
		c.in.Close()
		kill := time.AfterFunc(30*time.Second, func() { _ = c.cmd.Process.Kill() })
		defer kill.Stop()
		for range c.lines {
		}
		c.stopErr = <-c.done
	})
	return c.stopErr
}

// runServerRole runs a server role to its end and decodes the JSON
// result it prints.
func runServerRole(ctx context.Context, role string, env map[string]string, stderr io.Writer, result any) error {
	c, err := startChild(ctx, role, env, stderr)
	if err != nil {
		return err
	}
	var body string
	for line := range c.lines {
		body = line
	}
	if err := <-c.done; err != nil {
		return fmt.Errorf("%s: %w", role, err)
	}
	if err := json.Unmarshal([]byte(body), result); err != nil {
		return fmt.Errorf("%s: read result %q: %w", role, body, err)
	}
	return nil
}

// commands feeds the lines of this process's stdin, closed at EOF.
func commands() <-chan string {
	ch := make(chan string)
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			ch <- sc.Text()
		}
		close(ch)
	}()
	return ch
}

func envInt(name string) int {
	var v int
	_, _ = fmt.Sscan(os.Getenv("BENCH_STRATUM_"+name), &v)
	return v
}

func envFloat(name string) float64 {
	var v float64
	_, _ = fmt.Sscan(os.Getenv("BENCH_STRATUM_"+name), &v)
	return v
}

func printResult(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Printf("%s\n", b)
	return err
}
