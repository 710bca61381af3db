// Package nomadhcl writes Nomad jobs built as nomad/api structs as job
// specification files (*.nomad.hcl) through hclwrite.
//
// It walks the structs by their hcl tags, the same tags Nomad's own jobspec2
// parser decodes with, so what it writes parses back into the same job. The
// few places where the job specification differs from the struct layout
// (labels, static and dynamic ports, maps of volumes, driver config) are
// handled by name.
package nomadhcl

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/hashicorp/nomad/api"
	"github.com/zclconf/go-cty/cty"
)

// Notes are comments written above blocks, keyed by the block's path: block
// types joined by "/", with a label (or a service's or check's name) after
// a dot, e.g. "group.wallet/restart", "group.wallet/service.ltc-wallet/check.rpc answers"
// or "group.wallet/task.daemon/kill_timeout" for an attribute. They carry
// the reasons for settings, which the job file should show to whoever
// reads it.
type Notes map[string]string

// Encode writes job as a formatted job specification with header as its
// leading comment.
func Encode(job *api.Job, header string, notes Notes) []byte {
	f := hclwrite.NewEmptyFile()
	body := f.Body()
	if header != "" {
		appendComment(body, header)
	}
	jobBlock := body.AppendNewBlock("job", []string{deref(job.ID)})
	encodeStruct(jobBlock.Body(), reflect.ValueOf(job).Elem(), "", notes)
	return hclwrite.Format(f.Bytes())
}

// skippedFields are set by the encoder through labels, or are not part of
// a job file at all.
var skippedFields = map[string]bool{
	"Job.ID": true, "Job.Name": true, // the job label
	"TaskGroup.Name": true, "Task.Name": true,
	"NetworkResource.ReservedPorts": true, // written with DynamicPorts as port blocks
}

// lastBlocks are written after all other blocks, the way people write job
// files: settings first, then what runs.
var lastBlocks = map[string]bool{"group": true, "task": true}

type field struct {
	name    string // hcl name
	kind    string // attr, block, label
	goName  string
	value   reflect.Value
	isBlock bool
}

func fieldsOf(v reflect.Value) []field {
	t := v.Type()
	var out []field
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		tag, ok := sf.Tag.Lookup("hcl")
		if !ok || skippedFields[t.Name()+"."+sf.Name] {
			continue
		}
		name, kind, _ := strings.Cut(tag, ",")
		if kind == "" {
			kind = "attr"
		}
		if kind == "optional" {
			kind = "attr"
		}
		out = append(out, field{name: name, kind: kind, goName: sf.Name, value: v.Field(i), isBlock: kind == "block"})
	}
	return out
}

func encodeStruct(body *hclwrite.Body, v reflect.Value, path string, notes Notes) {
	fields := fieldsOf(v)
	// Attributes first, then blocks; groups and tasks at the end.
	for _, f := range fields {
		if f.kind == "attr" {
			encodeAttribute(body, f.name, f.value, join(path, f.name), notes)
		}
	}
	for pass := 0; pass < 2; pass++ {
		for _, f := range fields {
			if !f.isBlock || lastBlocks[f.name] != (pass == 1) {
				continue
			}
			if v.Type() == reflect.TypeOf(api.NetworkResource{}) && f.name == "port" {
				encodePorts(body, v.Addr().Interface().(*api.NetworkResource), path, notes)
				continue
			}
			encodeBlocks(body, f.name, f.value, path, notes)
		}
	}
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "/" + name
}

func encodeAttribute(body *hclwrite.Body, name string, v reflect.Value, path string, notes Notes) {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	} else if v.IsZero() {
		return
	}
	tokens, ok := valueTokens(v)
	if !ok {
		return
	}
	if note, ok := notes[path]; ok {
		appendComment(body, note)
	}
	body.SetAttributeRaw(name, tokens)
}

func encodeBlocks(body *hclwrite.Body, name string, v reflect.Value, path string, notes Notes) {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return
		}
		encodeBlock(body, name, v.Elem(), path, notes)
	case reflect.Struct:
		encodeBlock(body, name, v, path, notes)
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			encodeBlocks(body, name, v.Index(i), path, notes)
		}
	case reflect.Map:
		if v.Len() == 0 {
			return
		}
		if v.Type().Elem().Kind() == reflect.Pointer || v.Type().Elem().Kind() == reflect.Struct {
			// Labeled blocks keyed by label, e.g. volume "chain" { ... }.
			keys := v.MapKeys()
			sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
			for _, k := range keys {
				elem := v.MapIndex(k)
				if elem.Kind() == reflect.Struct {
					// Map values cannot be addressed; the block writer
					// needs to.
					addressable := reflect.New(elem.Type()).Elem()
					addressable.Set(elem)
					elem = addressable
				}
				encodeBlocks(body, name, elem, path, notes)
			}
			return
		}
		blockPath := join(path, name)
		if note, ok := notes[blockPath]; ok {
			appendComment(body, note)
		}
		if !allIdentifiers(v) {
			// Keys such as "a.b" cannot be argument names in a block; an
			// attribute with an object value takes them quoted.
			if tokens, ok := valueTokens(v); ok {
				body.SetAttributeRaw(name, tokens)
			}
			return
		}
		// Maps of plain values are blocks of attributes: meta, env, config.
		block := body.AppendNewBlock(name, nil)
		encodeMapAttributes(block.Body(), v)
	}
}

func allIdentifiers(m reflect.Value) bool {
	for _, k := range m.MapKeys() {
		if !hclsyntax.ValidIdentifier(k.String()) {
			return false
		}
	}
	return true
}

// preferredOrder puts the attributes people look for first in a driver's
// config block; the rest follow alphabetically.
var preferredOrder = []string{"command", "args"}

func encodeMapAttributes(body *hclwrite.Body, m reflect.Value) {
	keys := make([]string, 0, m.Len())
	for _, k := range m.MapKeys() {
		keys = append(keys, k.String())
	}
	sort.Slice(keys, func(i, j int) bool {
		pi, pj := slices.Index(preferredOrder, keys[i]), slices.Index(preferredOrder, keys[j])
		if pi >= 0 || pj >= 0 {
			if pi < 0 {
				return false
			}
			if pj < 0 {
				return true
			}
			return pi < pj
		}
		return keys[i] < keys[j]
	})
	for _, k := range keys {
		if tokens, ok := valueTokens(m.MapIndex(reflect.ValueOf(k))); ok {
			body.SetAttributeRaw(k, tokens)
		}
	}
}

func encodeBlock(body *hclwrite.Body, name string, v reflect.Value, path string, notes Notes) {
	var labels []string
	for _, f := range fieldsOf(v) {
		if f.kind == "label" {
			labels = append(labels, fmt.Sprint(deref(f.value.Interface())))
		}
	}
	switch t := v.Addr().Interface().(type) {
	case *api.TaskGroup:
		labels = []string{deref(t.Name)}
	case *api.Task:
		labels = []string{t.Name}
	}
	blockPath := join(path, name)
	switch t := v.Addr().Interface().(type) {
	case *api.Service:
		// Services and checks have no label in a job file; their names
		// tell them apart in Notes paths.
		blockPath += "." + t.Name
	case *api.ServiceCheck:
		blockPath += "." + t.Name
	default:
		if len(labels) > 0 {
			blockPath += "." + labels[0]
		}
	}
	if note, ok := notes[blockPath]; ok {
		appendComment(body, note)
	}
	if t, ok := v.Addr().Interface().(*api.Task); ok && t.Identity != nil {
		// The task's default identity has no hcl tag: a job file writes
		// it as an identity block without a name, which Nomad's parser
		// moves from Identities back to Identity.
		c := *t
		c.Identities = append([]*api.WorkloadIdentity{t.Identity}, t.Identities...)
		c.Identity = nil
		v = reflect.ValueOf(&c).Elem()
	}
	block := body.AppendNewBlock(name, labels)
	encodeStruct(block.Body(), v, blockPath, notes)
}

// encodePorts writes static and dynamic ports alike as port blocks, which
// is how the job specification spells both.
func encodePorts(body *hclwrite.Body, n *api.NetworkResource, path string, notes Notes) {
	for _, p := range append(slices.Clone(n.ReservedPorts), n.DynamicPorts...) {
		encodeBlock(body, "port", reflect.ValueOf(&p).Elem(), path, notes)
	}
}

func deref(v any) string {
	switch s := v.(type) {
	case *string:
		if s == nil {
			return ""
		}
		return *s
	case string:
		return s
	}
	return fmt.Sprint(v)
}

var durationType = reflect.TypeOf(time.Duration(0))

// valueTokens renders a Go value as an HCL expression.
func valueTokens(v reflect.Value) (hclwrite.Tokens, bool) {
	for v.Kind() == reflect.Interface || v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil, false
		}
		v = v.Elem()
	}
	if v.Type() == durationType {
		return quoted(FormatDuration(time.Duration(v.Int()))), true
	}
	switch v.Kind() {
	case reflect.String:
		s := v.String()
		// A heredoc's text ends with a newline; only such strings can be
		// written as one without changing them.
		if strings.HasSuffix(s, "\n") && strings.Contains(strings.TrimSuffix(s, "\n"), "\n") {
			return heredoc(s), true
		}
		return quoted(s), true
	case reflect.Bool:
		return hclwrite.TokensForValue(cty.BoolVal(v.Bool())), true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return hclwrite.TokensForValue(cty.NumberIntVal(v.Int())), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return hclwrite.TokensForValue(cty.NumberUIntVal(v.Uint())), true
	case reflect.Float32, reflect.Float64:
		return hclwrite.TokensForValue(cty.NumberFloatVal(v.Float())), true
	case reflect.Slice:
		var elems []hclwrite.Tokens
		for i := 0; i < v.Len(); i++ {
			t, ok := valueTokens(v.Index(i))
			if !ok {
				return nil, false
			}
			elems = append(elems, t)
		}
		return tuple(elems), true
	case reflect.Map:
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
		var items []hclwrite.ObjectAttrTokens
		for _, k := range keys {
			t, ok := valueTokens(v.MapIndex(k))
			if !ok {
				return nil, false
			}
			items = append(items, hclwrite.ObjectAttrTokens{Name: quoted(k.String()), Value: t})
		}
		return hclwrite.TokensForObject(items), true
	}
	return nil, false
}

// runtimeInterpolation matches what Nomad itself fills in when it places a
// task (${NOMAD_PORT_rpc}, ${node.unique.id}, ${attr.x}, ${meta.x}). These
// are written as they are, the way people write them; any other "${" or
// "%{" is escaped so that HCL keeps it literal.
var runtimeInterpolation = regexp.MustCompile(`\$\{(NOMAD_[A-Za-z0-9_]+|node\.[A-Za-z0-9_.-]+|attr\.[A-Za-z0-9_.-]+|meta\.[A-Za-z0-9_.-]+)\}`)

func escapeTemplate(s string) string {
	var b strings.Builder
	last := 0
	for _, m := range runtimeInterpolation.FindAllStringIndex(s, -1) {
		b.WriteString(escapeSequences(s[last:m[0]]))
		b.WriteString(s[m[0]:m[1]])
		last = m[1]
	}
	b.WriteString(escapeSequences(s[last:]))
	return b.String()
}

func escapeSequences(s string) string {
	return strings.NewReplacer("${", "$${", "%{", "%%{").Replace(s)
}

func quoted(s string) hclwrite.Tokens {
	var b strings.Builder
	for _, r := range escapeTemplate(s) {
		switch r {
		case '\\':
			b.WriteString(`\\`)
		case '"':
			b.WriteString(`\"`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			b.WriteRune(r)
		}
	}
	return hclwrite.Tokens{
		{Type: hclsyntax.TokenOQuote, Bytes: []byte(`"`)},
		{Type: hclsyntax.TokenQuotedLit, Bytes: []byte(b.String())},
		{Type: hclsyntax.TokenCQuote, Bytes: []byte(`"`)},
	}
}

// heredoc writes multi-line text (templates) as a heredoc so that the job
// file shows it as it will be rendered.
func heredoc(s string) hclwrite.Tokens {
	marker := "EOT"
	for strings.Contains(s, marker) {
		marker += "X"
	}
	text := escapeTemplate(s)
	return hclwrite.Tokens{
		{Type: hclsyntax.TokenOHeredoc, Bytes: []byte("<<" + marker + "\n")},
		{Type: hclsyntax.TokenStringLit, Bytes: []byte(text)},
		{Type: hclsyntax.TokenCHeredoc, Bytes: []byte(marker)},
	}
}

// tuple writes a list on one line when it is short, one element per line
// when not, as people lay out long args lists.
func tuple(elems []hclwrite.Tokens) hclwrite.Tokens {
	width := 0
	for _, e := range elems {
		width += len(e.Bytes()) + 2
	}
	if width <= 60 {
		return hclwrite.TokensForTuple(elems)
	}
	tokens := hclwrite.Tokens{{Type: hclsyntax.TokenOBrack, Bytes: []byte("[")}, newline()}
	for _, e := range elems {
		tokens = append(tokens, e...)
		tokens = append(tokens, &hclwrite.Token{Type: hclsyntax.TokenComma, Bytes: []byte(",")}, newline())
	}
	return append(tokens, &hclwrite.Token{Type: hclsyntax.TokenCBrack, Bytes: []byte("]")})
}

func newline() *hclwrite.Token {
	return &hclwrite.Token{Type: hclsyntax.TokenNewline, Bytes: []byte("\n")}
}

func appendComment(body *hclwrite.Body, text string) {
	var tokens hclwrite.Tokens
	for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		line = strings.TrimRight("# "+line, " ")
		tokens = append(tokens, &hclwrite.Token{Type: hclsyntax.TokenComment, Bytes: []byte(line + "\n")})
	}
	body.AppendUnstructuredTokens(tokens)
}

// FormatDuration writes d the short way people write it in job files:
// "30s", "5m", "1h30m", "250ms".
func FormatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	var b strings.Builder
	if d < 0 {
		b.WriteByte('-')
		d = -d
	}
	if d < time.Second {
		return b.String() + d.String()
	}
	for _, u := range []struct {
		unit time.Duration
		name string
	}{{time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if d >= u.unit {
			fmt.Fprintf(&b, "%d%s", d/u.unit, u.name)
			d %= u.unit
		}
	}
	if d > 0 {
		fmt.Fprintf(&b, "%dms", d/time.Millisecond)
	}
	return b.String()
}
