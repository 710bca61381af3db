package dbcluster

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// Write prints the members as a table, then the verdict and the notes.
// LAG is how far a member's WAL position is behind the primary's last
// recorded one (View.PositionFrom).
func (v *View) Write(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "Database (Patroni's keys under %s)\n", v.Prefix)
	if len(v.Members) > 0 {
		fmt.Fprintln(tw, "MEMBER\tADDRESS\tROLE\tSTATE\tTIMELINE\tLAG")
		for _, m := range v.Members {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", m.Name, dash(m.Address), m.roleText(), dash(m.State), timeline(m.Timeline), m.lagText())
		}
	}
	fmt.Fprintf(tw, "  %s\n", v.Judge().Line)
	for _, n := range v.Notes {
		fmt.Fprintf(tw, "  %s\n", n)
	}
	tw.Flush()
}

func (m Member) roleText() string {
	if m.Role == OtherRole {
		return dash(m.ReportedRole)
	}
	return string(m.Role)
}

func (m Member) lagText() string {
	switch {
	case m.Role == Primary:
		return "-"
	case m.Lag == NotKnown:
		return "unknown"
	}
	return size(m.Lag)
}

func timeline(tl int64) string {
	if tl == 0 {
		return "-"
	}
	return fmt.Sprint(tl)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
