package confload

import (
	"bytes"
	"encoding"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// redacted replaces the value of a non-empty secret field in EncodeRedacted.
const redacted = "<redacted>"

// Encode renders src, a struct or a non-nil pointer to one, as YAML that
// Decode reads back to an equal value: every tagged field in struct order
// (inline structs flattened), nested structs as mappings, slices as
// sequences ("[]" when empty or nil), maps sorted by key ("{}" when empty or
// nil), nil pointers as null, time.Duration as FormatDuration, unit:"bytes"
// integers as FormatSize, encoding.TextMarshaler types as their text, and
// strings quoted only where YAML needs it. Indentation is two spaces.
//
// It is meant for the effective config (defaults filled in) shown by the
// admin API and written by tools; see EncodeRedacted for anything that
// leaves the process.
func Encode(src any) ([]byte, error) {
	return encode(src, false)
}

// EncodeRedacted is Encode with the value of every field tagged
// `secret:"true"` that is not empty (not the zero value, and not an empty
// slice or map) replaced by the string "<redacted>". The result is for
// people and logs, and in general does not decode.
func EncodeRedacted(src any) ([]byte, error) {
	return encode(src, true)
}

func encode(src any, redact bool) (out []byte, err error) {
	v := reflect.ValueOf(src)
	if v.Kind() == reflect.Pointer && !v.IsNil() {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return nil, fmt.Errorf("confload: Encode needs a struct or a non-nil pointer to one, got %T", src)
	}
	if err := checkRoot(v.Type()); err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("%w: panic while encoding: %v", errInternal, r)
		}
	}()
	e := encoder{redact: redact}
	root, err := e.node(v, "", false)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return nil, fmt.Errorf("confload: encode: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("confload: encode: %w", err)
	}
	return buf.Bytes(), nil
}

type encoder struct {
	redact bool
}

func scalar(tag, value string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: value}
}

// stringNode is a !!str scalar; the YAML emitter quotes it when the plain
// form would read as another type ("true", "123", "null") or is not valid
// plain YAML. Invalid UTF-8 is written as !!binary, which Decode reads back.
func stringNode(s string) *yaml.Node {
	if !utf8.ValidString(s) {
		n := &yaml.Node{}
		n.SetString(s)
		return n
	}
	n := scalar(tagStr, s)
	if strings.Contains(s, "\n") {
		// The emitter picks a literal block (|) for any multi-line string,
		// and writes some of them in a form its own parser rejects (a line
		// starting with a tab, found by TestEncodeRoundTripRandomStrings).
		// Keep the block only for plain text; quote everything else.
		if literalSafe(s) {
			n.Style = yaml.LiteralStyle
		} else {
			n.Style = yaml.DoubleQuotedStyle
		}
	}
	return n
}

// literalSafe reports whether s can be written as a YAML literal block:
// printable text and newlines only, no line starting with white space (the
// indentation would be ambiguous) and no white space before a line break.
func literalSafe(s string) bool {
	for _, line := range strings.Split(s, "\n") {
		if line == "" {
			continue
		}
		if first := line[0]; first == ' ' || first == '\t' {
			return false
		}
		if last := line[len(line)-1]; last == ' ' || last == '\t' {
			return false
		}
		for _, r := range line {
			if r == '\t' || r == '\ufeff' || r == '\u0085' || r == '\u2028' || r == '\u2029' || !unicode.IsPrint(r) && r != ' ' {
				return false
			}
		}
	}
	return true
}

// node builds the YAML node for v. path is only for error messages.
func (e *encoder) node(v reflect.Value, path string, bytes bool) (*yaml.Node, error) {
	t := v.Type()
	switch {
	case t.Kind() == reflect.Pointer:
		if v.IsNil() {
			return scalar(tagNull, "null"), nil
		}
		return e.node(v.Elem(), path, bytes)
	case t.Kind() == reflect.Interface:
		return nil, fmt.Errorf("confload: encode %s: interface type %s is not supported", pathOrTop(path), t)
	case isText(t):
		var m encoding.TextMarshaler
		switch {
		case t.Implements(textMarshalerType):
			m = v.Interface().(encoding.TextMarshaler)
		case reflect.PointerTo(t).Implements(textMarshalerType):
			p := reflect.New(t)
			p.Elem().Set(v)
			m = p.Interface().(encoding.TextMarshaler)
		default:
			return nil, fmt.Errorf("confload: encode %s: type %s implements encoding.TextUnmarshaler but not encoding.TextMarshaler", pathOrTop(path), t)
		}
		text, err := m.MarshalText()
		if err != nil {
			return nil, fmt.Errorf("confload: encode %s: %w", pathOrTop(path), err)
		}
		return stringNode(string(text)), nil
	case t == durationType:
		return scalar(tagStr, FormatDuration(time.Duration(v.Int()))), nil
	}
	switch t.Kind() {
	case reflect.String:
		return stringNode(v.String()), nil
	case reflect.Bool:
		return scalar(tagBool, strconv.FormatBool(v.Bool())), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if bytes {
			return sizeNode(FormatSize(v.Int())), nil
		}
		return scalar(tagInt, strconv.FormatInt(v.Int(), 10)), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if bytes && v.Uint() <= math.MaxInt64 {
			return sizeNode(FormatSize(int64(v.Uint()))), nil
		}
		return scalar(tagInt, strconv.FormatUint(v.Uint(), 10)), nil
	case reflect.Float32, reflect.Float64:
		f := v.Float()
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, fmt.Errorf("confload: encode %s: %v is not a finite number", pathOrTop(path), f)
		}
		// No tag: the emitter writes the text plain, and Decode accepts
		// both "1" (an integer) and "1.5" or "1e+21" (floats) for floats.
		return scalar("", strconv.FormatFloat(f, 'g', -1, t.Bits())), nil
	case reflect.Struct:
		return e.structure(v, path)
	case reflect.Slice, reflect.Array:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: tagSeq}
		if v.Len() == 0 {
			n.Style = yaml.FlowStyle
		}
		for i := range v.Len() {
			c, err := e.node(v.Index(i), indexPath(path, i), bytes)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, c)
		}
		return n, nil
	case reflect.Map:
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: tagMap}
		if v.Len() == 0 {
			n.Style = yaml.FlowStyle
		}
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int {
			switch as, bs := a.String(), b.String(); {
			case as < bs:
				return -1
			case as > bs:
				return 1
			}
			return 0
		})
		for _, k := range keys {
			c, err := e.node(v.MapIndex(k), keyPath(path, k.String()), bytes)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, stringNode(k.String()), c)
		}
		return n, nil
	default:
		return nil, fmt.Errorf("confload: encode %s: type %s is not supported", pathOrTop(path), t)
	}
}

func (e *encoder) structure(v reflect.Value, path string) (*yaml.Node, error) {
	info := infoFor(v.Type())
	n := &yaml.Node{Kind: yaml.MappingNode, Tag: tagMap}
	if len(info.fields) == 0 {
		n.Style = yaml.FlowStyle
	}
	for _, f := range info.fields {
		fv := v.FieldByIndex(f.index)
		fp := keyPath(path, f.name)
		var c *yaml.Node
		if e.redact && f.secret && !isEmpty(fv) {
			c = scalar(tagStr, redacted)
		} else {
			var err error
			if c, err = e.node(fv, fp, f.bytes); err != nil {
				return nil, err
			}
		}
		n.Content = append(n.Content, stringNode(f.name), c)
	}
	return n, nil
}

// sizeNode is a FormatSize result: a string such as "512MiB" or an integer.
func sizeNode(s string) *yaml.Node {
	if _, err := strconv.ParseInt(s, 10, 64); err == nil {
		return scalar(tagInt, s)
	}
	return scalar(tagStr, s)
}

// isEmpty reports whether a secret field has nothing to hide.
func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Slice, reflect.Map, reflect.String:
		return v.Len() == 0
	}
	return v.IsZero()
}

func pathOrTop(path string) string {
	if path == "" {
		return "top level"
	}
	return path
}
