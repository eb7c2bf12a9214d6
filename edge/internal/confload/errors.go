package confload

import (
	"errors"
	"strconv"
	"strings"
)

// FieldError is one problem at one field of the document. Decode returns
// every FieldError it finds joined with errors.Join; use errors.As to reach
// them one by one.
type FieldError struct {
	// Path names the field from the top of the document: "http.listen",
	// "sites[0].origins[1].url", `headers["x.y"]`. Empty only for a problem
	// with the document as a whole.
	Path string
	// Line is the 1-based line in the YAML text, or 0 when unknown (for
	// example for errors from a Validate method wrapped by Prefix).
	Line int
	// Err says what is wrong, as a lowercase phrase without the path, such as
	// `unknown field "max_tl" (did you mean "max_ttl"?)`.
	Err error
}

// Error returns "path (line N): message", leaving out the parts that are
// unknown: "path: message" when Line is 0, "line N: message" when Path is
// empty.
func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString(e.Path)
	if e.Line > 0 {
		if e.Path != "" {
			b.WriteString(" (line ")
			b.WriteString(strconv.Itoa(e.Line))
			b.WriteString(")")
		} else {
			b.WriteString("line ")
			b.WriteString(strconv.Itoa(e.Line))
		}
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	} else {
		b.WriteString("invalid value")
	}
	return b.String()
}

// Unwrap returns Err, so errors.Is and errors.As see what it wraps (for
// example the error returned by a field type's UnmarshalText).
func (e *FieldError) Unwrap() error { return e.Err }

// Prefix returns err with every message prefixed by prefix + ".". It
// descends into errors.Join trees (and anything else whose Unwrap() []error
// children make up its message line by line), so each line of the result
// carries the prefix. A *FieldError is copied with prefix in front of its
// Path and the same Line and Err; any other error is wrapped so that its
// message is prefixed and errors.Is and errors.As still find it and
// everything it wraps. A FieldError whose Path starts with an index
// ("[2].url") is joined without the dot.
//
// edge uses it to put "cache" in front of the errors of
// cache.Config.Validate, whose messages start with the path inside that
// section: "max_memory: must be at least 1MiB" becomes
// "cache.max_memory: must be at least 1MiB".
//
// Prefix(p, nil) is nil, and Prefix("", err) is err.
func Prefix(prefix string, err error) error {
	if err == nil || prefix == "" {
		return err
	}
	if fe, ok := err.(*FieldError); ok && fe != nil {
		c := *fe
		c.Path = joinPath(prefix, fe.Path)
		return &c
	}
	if kids, ok := joinedChildren(err); ok {
		out := make([]error, 0, len(kids))
		for _, k := range kids {
			out = append(out, Prefix(prefix, k))
		}
		return errors.Join(out...)
	}
	return &prefixedError{prefix: prefix, err: err}
}

func joinPath(prefix, path string) string {
	switch {
	case path == "":
		return prefix
	case strings.HasPrefix(path, "["):
		return prefix + path
	default:
		return prefix + "." + path
	}
}

// joinedChildren returns the children of an error that behaves like
// errors.Join: it has Unwrap() []error and its message is exactly the
// children's messages, one per line. An error made by fmt.Errorf with
// several %w verbs is not such a tree (its message is one sentence) and is
// prefixed as a whole.
func joinedChildren(err error) ([]error, bool) {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return nil, false
	}
	kids := j.Unwrap()
	var nonNil []error
	var msgs []string
	for _, k := range kids {
		if k != nil {
			nonNil = append(nonNil, k)
			msgs = append(msgs, k.Error())
		}
	}
	if len(nonNil) == 0 || strings.Join(msgs, "\n") != err.Error() {
		return nil, false
	}
	return nonNil, true
}

// prefixedError is a non-FieldError leaf with a path prefix in front.
type prefixedError struct {
	prefix string
	err    error
}

func (e *prefixedError) Error() string { return e.prefix + "." + e.err.Error() }
func (e *prefixedError) Unwrap() error { return e.err }

// Interface guards.
var (
	_ error                       = (*FieldError)(nil)
	_ interface{ Unwrap() error } = (*FieldError)(nil)
	_ interface{ Unwrap() error } = (*prefixedError)(nil)
)
