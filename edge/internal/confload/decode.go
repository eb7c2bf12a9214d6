package confload

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Limits that keep a hostile or broken document from using unbounded time
// or memory. See the package documentation.
const (
	// maxNodes caps the YAML nodes visited while decoding, counting a node
	// again each time an alias or merge key reaches it.
	maxNodes = 1_000_000
	// maxAliasDepth caps how many aliases may be expanded inside each other.
	maxAliasDepth = 64
	// maxErrors caps the field errors collected before Decode gives up.
	maxErrors = 1000
)

// Short YAML tags, as yaml.Node.ShortTag returns them.
const (
	tagNull      = "!!null"
	tagBool      = "!!bool"
	tagStr       = "!!str"
	tagInt       = "!!int"
	tagFloat     = "!!float"
	tagTimestamp = "!!timestamp"
	tagBinary    = "!!binary"
	tagMerge     = "!!merge"
	tagMap       = "!!map"
	tagSeq       = "!!seq"
)

// errInternal marks a panic inside this package recovered by Decode or
// Encode: a bug here, never a problem with the input. The fuzz tests fail
// on it.
var errInternal = errors.New("confload: internal error")

// Decode decodes one YAML document into dst, which must be a non-nil pointer
// to a struct. The rules (strict keys, field paths, sizes, durations, null
// handling, limits) are in the package documentation.
//
// Every problem in the document is reported: the result is errors.Join of
// one *FieldError per problem at a field, followed by a "confload: " error
// if a limit stopped the walk (see the package documentation) or the top
// level is not a mapping. YAML syntax errors, a second document and an
// unsupported Go type for dst give a single "confload: " error instead.
// A panic (which would be a bug here or in a field's UnmarshalText) is
// returned as an error rather than propagated.
//
// On error dst may be partly filled, so decode into a fresh value and
// discard it on error. Decode never writes through pointers, maps or slices
// that dst already held: it replaces them with new ones, so defaults shared
// with other values are never modified.
func Decode(data []byte, dst any) (err error) {
	rv := reflect.ValueOf(dst)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("confload: Decode needs a non-nil pointer to a struct, got %T", dst)
	}
	if err := checkRoot(rv.Elem().Type()); err != nil {
		return err
	}
	root, err := parse(data)
	if err != nil || root == nil {
		return err
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: panic while decoding: %v", errInternal, r)
		}
	}()
	d := &decoder{active: map[*yaml.Node]bool{}}
	d.document(root, rv.Elem())
	return d.result()
}

// parse reads exactly one YAML document and returns its root node, or nil
// for an empty document. It uses a yaml.Decoder rather than yaml.Unmarshal,
// which parses the same way but silently ignores documents after the first.
func parse(data []byte) (root *yaml.Node, err error) {
	defer func() {
		if r := recover(); r != nil {
			root, err = nil, fmt.Errorf("confload: yaml parser failed: %v", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil // nothing but whitespace and comments
		}
		return nil, fmt.Errorf("confload: %w", err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, fmt.Errorf("confload: %w", err)
	default:
		return nil, fmt.Errorf("confload: line %d: more than one YAML document; a config file holds exactly one", extra.Line)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, nil
	}
	return doc.Content[0], nil
}

// decoder walks the node tree and the Go value side by side, collecting
// errors instead of stopping at the first.
type decoder struct {
	errs       []error
	fatal      error               // set when a limit is hit; stops the walk
	nodes      int                 // nodes visited, aliases counted each time
	aliasDepth int                 // aliases currently being expanded
	active     map[*yaml.Node]bool // alias targets currently being expanded
}

func (d *decoder) result() error {
	errs := d.errs
	if d.fatal != nil {
		errs = append(errs, d.fatal)
	}
	return errors.Join(errs...)
}

// fail records a problem at path.
func (d *decoder) fail(path string, line int, err error) {
	if d.fatal != nil {
		return
	}
	d.errs = append(d.errs, &FieldError{Path: path, Line: line, Err: err})
	if len(d.errs) >= maxErrors {
		d.fatal = fmt.Errorf("confload: too many errors; stopped after %d", maxErrors)
	}
}

func (d *decoder) failf(path string, line int, format string, args ...any) {
	d.fail(path, line, fmt.Errorf(format, args...))
}

// visit counts one node against maxNodes and reports whether to go on.
func (d *decoder) visit() bool {
	if d.fatal != nil {
		return false
	}
	d.nodes++
	if d.nodes > maxNodes {
		d.fatal = fmt.Errorf("confload: document too large: more than %d nodes after expanding aliases", maxNodes)
		return false
	}
	return true
}

// enterAlias starts expanding alias node n (at path) and returns its target,
// or nil after recording why it cannot be expanded. Call leaveAlias(target)
// when done.
func (d *decoder) enterAlias(n *yaml.Node, path string) *yaml.Node {
	t := n.Alias
	switch {
	case t == nil:
		d.failf(path, n.Line, "alias *%s has no anchor", n.Value)
		return nil
	case d.active[t]:
		d.failf(path, n.Line, "alias *%s refers to a value that contains the alias", n.Value)
		return nil
	case d.aliasDepth >= maxAliasDepth:
		d.fatal = fmt.Errorf("confload: line %d: aliases nested more than %d deep", n.Line, maxAliasDepth)
		return nil
	}
	d.active[t] = true
	d.aliasDepth++
	return t
}

func (d *decoder) leaveAlias(t *yaml.Node) {
	delete(d.active, t)
	d.aliasDepth--
}

// document decodes the top-level node, which must be a mapping (or null).
func (d *decoder) document(n *yaml.Node, v reflect.Value) {
	if n.Kind == yaml.AliasNode { // cannot happen at the top, but be safe
		if t := d.enterAlias(n, ""); t != nil {
			d.document(t, v)
			d.leaveAlias(t)
		}
		return
	}
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.fatal = fmt.Errorf("confload: line %d: the document must be a mapping of config fields, got %s", n.Line, describe(n))
		return
	}
	d.value(n, v, "", false)
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == tagNull
}

// describe names what node n holds, for "want X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		if n.Alias != nil {
			return describe(n.Alias)
		}
		return "an alias"
	case yaml.DocumentNode:
		return "a document"
	}
	switch n.ShortTag() {
	case tagNull:
		return "null"
	case tagBool:
		return "a bool"
	case tagInt:
		return "an integer"
	case tagFloat:
		return "a number"
	case tagTimestamp:
		return "a timestamp"
	case tagBinary:
		return "binary data"
	default:
		return "a string"
	}
}

// describeValue is describe plus the scalar's text, for scalar targets.
func describeValue(n *yaml.Node) string {
	if n.Kind != yaml.ScalarNode {
		return describe(n)
	}
	return describe(n) + " " + quoteShort(n.Value)
}

// quoteShort quotes s for a message, shortening very long values.
func quoteShort(s string) string {
	const max = 80
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return strconv.Quote(s[:cut]) + "..."
	}
	return strconv.Quote(s)
}

// numText is the text of a numeric scalar for a message: as written when it
// looks like a number, quoted otherwise.
func numText(n *yaml.Node) string {
	if len(n.Value) == 0 || len(n.Value) > 40 {
		return quoteShort(n.Value)
	}
	for _, c := range n.Value {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || strings.ContainsRune("_.+-", c)) {
			return quoteShort(n.Value)
		}
	}
	return n.Value
}

// checkTag rejects nodes whose YAML tag this package does not understand,
// such as "!foo" or "!!set".
func (d *decoder) checkTag(n *yaml.Node, path string) bool {
	tag := n.ShortTag()
	ok := false
	switch n.Kind {
	case yaml.ScalarNode:
		switch tag {
		case tagNull, tagBool, tagStr, tagInt, tagFloat, tagTimestamp, tagBinary, tagMerge:
			ok = true
		}
	case yaml.MappingNode:
		ok = tag == tagMap
	case yaml.SequenceNode:
		ok = tag == tagSeq
	}
	if !ok {
		d.failf(path, n.Line, "unsupported YAML tag %s", quoteShort(tag))
	}
	return ok
}

// value decodes node n into v. bytes is set for values of unit:"bytes"
// fields (and their elements).
func (d *decoder) value(n *yaml.Node, v reflect.Value, path string, bytes bool) {
	if !d.visit() {
		return
	}
	if n.Kind == yaml.AliasNode {
		if t := d.enterAlias(n, path); t != nil {
			d.value(t, v, path, bytes)
			d.leaveAlias(t)
		}
		return
	}
	if !d.checkTag(n, path) || isNull(n) {
		return // null leaves the value as it was
	}
	t := v.Type()
	switch {
	case t.Kind() == reflect.Pointer:
		// Allocate a fresh value even when v already points somewhere, so
		// that a default shared with other configs is never written to.
		p := reflect.New(t.Elem())
		if !v.IsNil() {
			p.Elem().Set(v.Elem())
		}
		d.value(n, p.Elem(), path, bytes)
		v.Set(p)
		return
	case t.Kind() == reflect.Interface:
		d.failf(path, n.Line, "cannot decode into interface type %s; config fields must have a concrete type", t)
		return
	case isText(t):
		d.text(n, v, path)
		return
	case t == durationType:
		d.duration(n, v, path)
		return
	}
	switch t.Kind() {
	case reflect.String:
		if s, ok := d.str(n, path, "a string"); ok {
			v.SetString(s)
		}
	case reflect.Bool:
		d.boolean(n, v, path)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if bytes {
			d.size(n, v, path)
		} else {
			d.integer(n, v, path)
		}
	case reflect.Float32, reflect.Float64:
		d.float(n, v, path)
	case reflect.Struct:
		d.structure(n, v, path)
	case reflect.Slice:
		d.slice(n, v, path, bytes)
	case reflect.Array:
		d.array(n, v, path, bytes)
	case reflect.Map:
		d.mapping(n, v, path, bytes)
	default: // rejected by checkRoot; kept so that a gap there cannot panic
		d.failf(path, n.Line, "cannot decode into %s", t)
	}
}

// str returns the text of scalar n. want names the expected kind for the
// mismatch message.
func (d *decoder) str(n *yaml.Node, path, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.failf(path, n.Line, "want %s, got %s", want, describe(n))
		return "", false
	}
	if n.ShortTag() == tagBinary {
		b, err := base64.StdEncoding.DecodeString(strings.Map(dropSpace, n.Value))
		if err != nil {
			d.failf(path, n.Line, "invalid !!binary value: %v", err)
			return "", false
		}
		return string(b), true
	}
	return n.Value, true
}

func dropSpace(r rune) rune {
	if unicode.IsSpace(r) {
		return -1
	}
	return r
}

func (d *decoder) text(n *yaml.Node, v reflect.Value, path string) {
	s, ok := d.str(n, path, "a string")
	if !ok {
		return
	}
	p := reflect.New(v.Type())
	if err := p.Interface().(interface{ UnmarshalText([]byte) error }).UnmarshalText([]byte(s)); err != nil {
		d.fail(path, n.Line, fmt.Errorf("invalid %s %s: %w", v.Type(), quoteShort(s), err))
		return
	}
	v.Set(p.Elem())
}

func (d *decoder) boolean(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.ScalarNode {
		switch n.Value {
		case "true", "True", "TRUE":
			if n.ShortTag() == tagBool {
				v.SetBool(true)
				return
			}
		case "false", "False", "FALSE":
			if n.ShortTag() == tagBool {
				v.SetBool(false)
				return
			}
		}
		switch strings.ToLower(n.Value) {
		case "y", "yes", "n", "no", "on", "off":
			d.failf(path, n.Line, "want true or false, got %s (YAML 1.1 booleans such as yes, no, on and off are not accepted)", quoteShort(n.Value))
			return
		}
	}
	d.failf(path, n.Line, "want true or false, got %s", describeValue(n))
}

func (d *decoder) duration(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.failf(path, n.Line, `want a duration such as "30s", got %s`, describe(n))
		return
	}
	switch tag := n.ShortTag(); {
	case n.Value == "0" && (tag == tagInt || tag == tagStr):
		v.SetInt(0)
	case tag == tagInt || tag == tagFloat:
		d.failf(path, n.Line, `want a duration such as "30s", got the bare number %s; add a unit (ns, us, ms, s, m, h)`, n.Value)
	case tag == tagStr:
		dur, err := time.ParseDuration(n.Value)
		if err != nil {
			d.failf(path, n.Line, `invalid duration %s: want a number and a unit (ns, us, ms, s, m, h), such as "250ms" or "1h30m"`, quoteShort(n.Value))
			return
		}
		v.SetInt(int64(dur))
	default:
		d.failf(path, n.Line, `want a duration such as "30s", got %s`, describeValue(n))
	}
}

// intRange describes the range of integer type t, for messages.
func intRange(t reflect.Type) string {
	if t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uint64 {
		return fmt.Sprintf("%s (0 to %d)", t, uint64(1)<<t.Bits()-1)
	}
	return fmt.Sprintf("%s (%d to %d)", t, -int64(1)<<(t.Bits()-1), int64(1)<<(t.Bits()-1)-1)
}

// looksInteger reports whether s is a decimal integer, possibly with a sign
// and underscores: YAML resolves such a scalar as a float when it does not
// fit in 64 bits.
func looksInteger(s string) bool {
	s = strings.TrimLeft(s, "+-")
	if s == "" {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

func (d *decoder) integer(n *yaml.Node, v reflect.Value, path string) {
	t := v.Type()
	if n.Kind != yaml.ScalarNode {
		d.failf(path, n.Line, "want an integer, got %s", describe(n))
		return
	}
	switch tag := n.ShortTag(); {
	case tag == tagInt:
	case tag == tagFloat && looksInteger(n.Value):
		d.failf(path, n.Line, "%s is out of range for %s", numText(n), intRange(t))
		return
	case tag == tagFloat:
		d.failf(path, n.Line, "want a whole number, got %s", numText(n))
		return
	default:
		d.failf(path, n.Line, "want an integer, got %s", describeValue(n))
		return
	}
	plain := strings.ReplaceAll(n.Value, "_", "")
	signed := t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64
	if signed {
		i, err := strconv.ParseInt(plain, 0, t.Bits())
		if err != nil {
			d.intError(n, path, t, err)
			return
		}
		v.SetInt(i)
		return
	}
	plain = strings.TrimPrefix(plain, "+")
	if strings.HasPrefix(plain, "-") {
		if i, err := strconv.ParseInt(plain, 0, 64); err == nil && i == 0 {
			v.SetUint(0)
			return
		}
		d.failf(path, n.Line, "%s is out of range for %s", numText(n), intRange(t))
		return
	}
	u, err := strconv.ParseUint(plain, 0, t.Bits())
	if err != nil {
		d.intError(n, path, t, err)
		return
	}
	v.SetUint(u)
}

func (d *decoder) intError(n *yaml.Node, path string, t reflect.Type, err error) {
	if errors.Is(err, strconv.ErrRange) {
		d.failf(path, n.Line, "%s is out of range for %s", numText(n), intRange(t))
		return
	}
	d.failf(path, n.Line, "invalid integer %s", quoteShort(n.Value))
}

// size decodes a unit:"bytes" integer: a YAML integer or a ParseSize string.
func (d *decoder) size(n *yaml.Node, v reflect.Value, path string) {
	t := v.Type()
	if n.Kind != yaml.ScalarNode {
		d.failf(path, n.Line, `want a size such as "512MiB", got %s`, describe(n))
		return
	}
	var size int64
	switch tag := n.ShortTag(); tag {
	case tagInt:
		plain := strings.ReplaceAll(n.Value, "_", "")
		i, err := strconv.ParseInt(plain, 0, 64)
		switch {
		case err == nil && i < 0:
			d.failf(path, n.Line, "size %s must not be negative", numText(n))
			return
		case errors.Is(err, strconv.ErrRange) && strings.HasPrefix(plain, "-"):
			d.failf(path, n.Line, "size %s must not be negative", numText(n))
			return
		case errors.Is(err, strconv.ErrRange):
			d.failf(path, n.Line, "size %s is too large for %s", numText(n), intRange(t))
			return
		case err != nil:
			d.failf(path, n.Line, "invalid size %s", quoteShort(n.Value))
			return
		}
		size = i
	case tagStr, tagFloat:
		// A float tag means a plain scalar like "1.5" or "1e9": ParseSize
		// gives the precise reason it is not a size.
		s, err := ParseSize(n.Value)
		if err != nil {
			d.fail(path, n.Line, err)
			return
		}
		size = s
	default:
		d.failf(path, n.Line, `want a size such as "512MiB", got %s`, describeValue(n))
		return
	}
	if t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uint64 {
		if t.Bits() < 64 && uint64(size) > uint64(1)<<t.Bits()-1 {
			d.failf(path, n.Line, "size %s is too large for %s", numText(n), intRange(t))
			return
		}
		v.SetUint(uint64(size))
		return
	}
	if t.Bits() < 64 && size > int64(1)<<(t.Bits()-1)-1 {
		d.failf(path, n.Line, "size %s is too large for %s", numText(n), intRange(t))
		return
	}
	v.SetInt(size)
}

func (d *decoder) float(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.failf(path, n.Line, "want a number, got %s", describe(n))
		return
	}
	plain := strings.ReplaceAll(n.Value, "_", "")
	var f float64
	switch n.ShortTag() {
	case tagInt:
		// Integers follow YAML's (and Go's) base prefixes: 0x10, 0o17, 017.
		if i, err := strconv.ParseInt(plain, 0, 64); err == nil {
			f = float64(i)
		} else if u, err := strconv.ParseUint(strings.TrimPrefix(plain, "+"), 0, 64); err == nil {
			f = float64(u)
		} else {
			d.failf(path, n.Line, "invalid number %s", quoteShort(n.Value))
			return
		}
	case tagFloat:
		switch strings.ToLower(strings.TrimLeft(plain, "+-")) {
		case ".inf", ".nan", "inf", "nan", "infinity":
			d.failf(path, n.Line, "want a finite number, got %s", numText(n))
			return
		}
		var err error
		f, err = strconv.ParseFloat(plain, v.Type().Bits())
		if err != nil {
			if errors.Is(err, strconv.ErrRange) {
				d.failf(path, n.Line, "%s is out of range for %s", numText(n), v.Type())
			} else {
				d.failf(path, n.Line, "invalid number %s", quoteShort(n.Value))
			}
			return
		}
	default:
		// YAML resolves a plain number too large for float64 as a string.
		if _, err := strconv.ParseFloat(plain, 64); n.Style == 0 && errors.Is(err, strconv.ErrRange) {
			d.failf(path, n.Line, "%s is out of range for %s", numText(n), v.Type())
			return
		}
		d.failf(path, n.Line, "want a number, got %s", describeValue(n))
		return
	}
	if math.IsInf(f, 0) || math.IsNaN(f) {
		d.failf(path, n.Line, "want a finite number, got %s", numText(n))
		return
	}
	v.SetFloat(f)
}

// pair is one key and value of a mapping, after merge keys are applied.
type pair struct {
	key  string
	line int // line of the key
	val  *yaml.Node
	path string
}

// pairs returns the entries of mapping n in document order, followed by the
// entries merged in with "<<" keys that are not already present. It reports
// duplicate keys, non-string keys and bad merge values.
func (d *decoder) pairs(n *yaml.Node, path string) []pair {
	var out []pair
	d.collect(n, path, map[string]int{}, &out, false)
	return out
}

func (d *decoder) collect(n *yaml.Node, path string, seen map[string]int, out *[]pair, merged bool) {
	local := map[string]int{}
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		if !d.visit() {
			return
		}
		kn, vn := n.Content[i], n.Content[i+1]
		key, isMerge, ok := d.key(kn, path)
		if !ok {
			continue
		}
		if isMerge {
			merges = append(merges, vn)
			continue
		}
		kp := keyPath(path, key)
		if first, dup := local[key]; dup {
			// A merged mapping with an anchor is reported where it is
			// written; report it here only when it is written inline.
			if !merged || n.Anchor == "" {
				d.failf(kp, kn.Line, "duplicate key %s (first on line %d)", quoteShort(key), first)
			}
			continue
		}
		local[key] = kn.Line
		if _, done := seen[key]; done {
			continue // set by the mapping that merges this one
		}
		seen[key] = kn.Line
		*out = append(*out, pair{key: key, line: kn.Line, val: vn, path: kp})
	}
	for _, m := range merges {
		d.merge(m, path, seen, out, false)
	}
}

// merge applies the value of a "<<" key: a mapping or a list of mappings,
// each usually an alias. Earlier mappings win over later ones. inList is set
// for the items of such a list, which must be mappings.
func (d *decoder) merge(m *yaml.Node, path string, seen map[string]int, out *[]pair, inList bool) {
	if !d.visit() {
		return
	}
	switch {
	case m.Kind == yaml.AliasNode:
		if t := d.enterAlias(m, path); t != nil {
			d.merge(t, path, seen, out, inList)
			d.leaveAlias(t)
		}
	case m.Kind == yaml.MappingNode:
		if d.checkTag(m, path) {
			d.collect(m, path, seen, out, true)
		}
	case m.Kind == yaml.SequenceNode && !inList:
		if d.checkTag(m, path) {
			for _, item := range m.Content {
				d.merge(item, path, seen, out, true)
			}
		}
	case isNull(m) && !inList:
	default:
		d.failf(path, m.Line, "merge key << wants a mapping or a list of mappings, got %s", describe(m))
	}
}

// key returns the text of mapping key kn, and whether it is the merge key.
func (d *decoder) key(kn *yaml.Node, path string) (key string, isMerge, ok bool) {
	if kn.Kind == yaml.AliasNode {
		if kn.Alias == nil {
			d.failf(path, kn.Line, "alias *%s has no anchor", kn.Value)
			return "", false, false
		}
		kn = kn.Alias
	}
	if kn.Kind != yaml.ScalarNode || isNull(kn) {
		d.failf(path, kn.Line, "mapping keys must be strings, got %s", describe(kn))
		return "", false, false
	}
	if !d.checkTag(kn, path) {
		return "", false, false
	}
	if kn.ShortTag() == tagMerge {
		return "", true, true
	}
	s, ok := d.str(kn, path, "a string key")
	return s, false, ok
}

// keyPath is the path of entry key inside path: "a.key", or a["key.x"] when
// the key would be ambiguous or unreadable in the dotted form.
func keyPath(path, key string) string {
	if needsQuote(key) {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func needsQuote(key string) bool {
	if key == "" {
		return true
	}
	for _, r := range key {
		switch {
		case r == '.', r == '[', r == ']', r == '"', r == '\'':
			return true
		case unicode.IsSpace(r), !unicode.IsPrint(r):
			return true
		}
	}
	return false
}

func indexPath(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

func (d *decoder) structure(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.failf(path, n.Line, "want a mapping, got %s", describe(n))
		return
	}
	info := infoFor(v.Type())
	for _, p := range d.pairs(n, path) {
		i, ok := info.byName[p.key]
		if !ok {
			d.failf(p.path, p.line, "unknown field %s%s", quoteShort(p.key), suggest(p.key, info))
			continue
		}
		f := info.fields[i]
		d.value(p.val, v.FieldByIndex(f.index), p.path, f.bytes)
	}
}

// suggest returns ` (did you mean "x"?)` for the known field nearest to key,
// if one is within edit distance 2.
func suggest(key string, info *structInfo) string {
	if len(key) > 64 {
		return ""
	}
	best, bestDist := "", 3
	for _, f := range info.fields {
		if abs(len(f.name)-len(key)) >= bestDist {
			continue
		}
		if dist := editDistance(key, f.name); dist < bestDist {
			best, bestDist = f.name, dist
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// slice decodes a sequence into a new slice. An empty sequence makes a nil
// slice, so that decoded values never hold empty non-nil slices.
func (d *decoder) slice(n *yaml.Node, v reflect.Value, path string, bytes bool) {
	if n.Kind != yaml.SequenceNode {
		d.failf(path, n.Line, "want a list, got %s", describe(n))
		return
	}
	if len(n.Content) == 0 {
		v.SetZero()
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		d.value(item, s.Index(i), indexPath(path, i), bytes)
		if d.fatal != nil {
			break
		}
	}
	v.Set(s)
}

func (d *decoder) array(n *yaml.Node, v reflect.Value, path string, bytes bool) {
	if n.Kind != yaml.SequenceNode {
		d.failf(path, n.Line, "want a list, got %s", describe(n))
		return
	}
	if len(n.Content) != v.Len() {
		d.failf(path, n.Line, "want a list of exactly %d items, got %d", v.Len(), len(n.Content))
		return
	}
	a := reflect.New(v.Type()).Elem()
	for i, item := range n.Content {
		d.value(item, a.Index(i), indexPath(path, i), bytes)
		if d.fatal != nil {
			break
		}
	}
	v.Set(a)
}

// mapping decodes a YAML mapping into a new map, replacing any map v held.
// An empty mapping makes a nil map.
func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string, bytes bool) {
	if n.Kind != yaml.MappingNode {
		d.failf(path, n.Line, "want a mapping, got %s", describe(n))
		return
	}
	t := v.Type()
	pairs := d.pairs(n, path)
	if len(pairs) == 0 {
		v.SetZero()
		return
	}
	m := reflect.MakeMapWithSize(t, len(pairs))
	for _, p := range pairs {
		e := reflect.New(t.Elem()).Elem()
		d.value(p.val, e, p.path, bytes)
		if d.fatal != nil {
			break
		}
		m.SetMapIndex(reflect.ValueOf(p.key).Convert(t.Key()), e)
	}
	v.Set(m)
}
