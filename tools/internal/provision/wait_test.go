package provision

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func afterSeconds(s int) <-chan time.Time { return time.After(time.Duration(s) * time.Second) }

// eventually polls cond until it returns nil or the deadline passes; for
// conditions no blocking query can wait on (an agent starting to listen).
func eventually(t testing.TB, timeout time.Duration, what string, cond func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var err error
	for {
		if err = cond(ctx); err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %v", what, fmt.Errorf("not within %s: %w", timeout, err))
		case <-tick.C:
		}
	}
}
