// Package diag prints hcl diagnostics for people: a first line in the
// file:line:col form editors and CI logs link to, then the source snippet and
// the explanation from hcl's own writer.
package diag

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// Write prints every diagnostic, errors and warnings alike, then a count.
func Write(w io.Writer, files map[string]*hcl.File, diags hcl.Diagnostics, width uint) error {
	var buf bytes.Buffer
	text := hcl.NewDiagnosticTextWriter(&buf, files, width, false)
	for _, d := range diags {
		severity := "error"
		if d.Severity == hcl.DiagWarning {
			severity = "warning"
		}
		if d.Subject != nil {
			fmt.Fprintf(w, "%s:%d:%d: %s: %s\n", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column, severity, d.Summary)
		} else {
			fmt.Fprintf(w, "%s: %s\n", severity, d.Summary)
		}
		buf.Reset()
		if err := text.WriteDiagnostic(d); err != nil {
			return err
		}
		// hcl's writer opens with "Error: <summary>" and a blank line, which
		// the file:line:col line above already says.
		_, rest, _ := strings.Cut(buf.String(), "\n")
		if _, err := io.WriteString(w, strings.TrimPrefix(rest, "\n")); err != nil {
			return err
		}
	}
	errs, warns := Count(diags)
	if errs+warns > 0 {
		fmt.Fprintf(w, "%d error(s), %d warning(s)\n", errs, warns)
	}
	return nil
}

// Count returns how many errors and warnings diags holds.
func Count(diags hcl.Diagnostics) (errors, warnings int) {
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			errors++
		} else {
			warnings++
		}
	}
	return errors, warnings
}
