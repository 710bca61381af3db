package poolapi

import (
	"net/url"
	"strconv"
	"strings"
)

// link fills a MiningCore "{0}" template; nil without a template.
func link(template, value string) *string {
	if template == "" || value == "" {
		return nil
	}
	s := strings.ReplaceAll(template, "{0}", url.PathEscape(value))
	return &s
}

// blockLink fills MiningCore's "$height$" and "$hash$".
func blockLink(template string, height int64, hash string) *string {
	if template == "" {
		return nil
	}
	s := strings.NewReplacer("$height$", strconv.FormatInt(height, 10), "$hash$", url.PathEscape(hash)).Replace(template)
	return &s
}
