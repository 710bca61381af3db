package config

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// AttrRange is where attribute name is written in body: its value, so the
// snippet underlines what must change. An attribute left to its default has
// no range of its own; then the block is blamed (its opening line), or
// fallback when the whole block was left out.
func AttrRange(body hcl.Body, name string, fallback hcl.Range) hcl.Range {
	sb, ok := body.(*hclsyntax.Body)
	if !ok || sb == nil {
		return fallback
	}
	if attr, ok := sb.Attributes[name]; ok {
		return attr.Expr.Range()
	}
	return BlockRange(body, fallback)
}

// ElemRange is the range of element i of list attribute name in body,
// or the attribute's range when it is not written as a list, or fallback.
func ElemRange(body hcl.Body, name string, i int, fallback hcl.Range) hcl.Range {
	sb, ok := body.(*hclsyntax.Body)
	if !ok || sb == nil {
		return fallback
	}
	attr, ok := sb.Attributes[name]
	if !ok {
		return BlockRange(body, fallback)
	}
	if tuple, ok := attr.Expr.(*hclsyntax.TupleConsExpr); ok && i < len(tuple.Exprs) {
		return tuple.Exprs[i].Range()
	}
	return attr.Expr.Range()
}

// BlockRange is the opening position of a block's body, or fallback when
// the block was not written at all.
func BlockRange(body hcl.Body, fallback hcl.Range) hcl.Range {
	sb, ok := body.(*hclsyntax.Body)
	if !ok || sb == nil {
		return fallback
	}
	return hcl.Range{Filename: sb.SrcRange.Filename, Start: sb.SrcRange.Start, End: sb.SrcRange.Start}
}

// written tells whether attribute name appears in body (rather than being
// left to its default).
func written(body hcl.Body, name string) bool {
	sb, ok := body.(*hclsyntax.Body)
	if !ok || sb == nil {
		return false
	}
	_, ok = sb.Attributes[name]
	return ok
}
