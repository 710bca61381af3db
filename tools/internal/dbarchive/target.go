package dbarchive

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrRefused marks a restore refused for what was asked (a target out of
// the archive's reach, a data directory in use), not for a failure.
var ErrRefused = errors.New("restore refused")

type refusal struct{ error }

func (refusal) Is(target error) bool { return target == ErrRefused }

func refuse(format string, args ...any) error { return refusal{fmt.Errorf(format, args...)} }

// targetLayouts are the forms a restore target may take: RFC 3339, and
// PostgreSQL's own output (a space for the T, an offset such as +00 or
// +02:00, or UTC).
var targetLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999Z07",
	"2006-01-02 15:04:05.999999999 Z07:00",
	"2006-01-02 15:04:05.999999999 Z07",
	"2006-01-02 15:04:05.999999999 UTC",
}

// ParseTarget reads a restore target. It must name its time zone: the
// backup node's and the database's may differ from the operator's.
func ParseTarget(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, l := range targetLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	for _, l := range []string{"2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999", "2006-01-02"} {
		if _, err := time.Parse(l, s); err == nil {
			return time.Time{}, fmt.Errorf("restore target %q has no time zone: add one, as in 2026-01-02T15:04:05Z or 2026-01-02 15:04:05+01:00", s)
		}
	}
	return time.Time{}, fmt.Errorf("restore target %q is not a time such as 2026-01-02T15:04:05Z or 2026-01-02 15:04:05+01:00", s)
}
