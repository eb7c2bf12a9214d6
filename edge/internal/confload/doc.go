// Package confload decodes the node's YAML config file into the plain Go
// config structs owned by edge, cache, origin and the other packages, and
// encodes them back for GET /config. Those packages import nothing of
// ours: their Config types hold only standard types and struct tags, and
// this package does the decoding by reflection over the yaml.Node tree from
// go.yaml.in/yaml/v3, so that every error names the field path and line
// ("sites[0].origins[1].url (line 12): ...") rather than a Go type.
//
// Decode is step one of the three in CONVENTIONS section 5; defaults and
// Validate stay with the owning package. Prefix puts a section name in
// front of the errors a Validate method returns. Decode replaces yaml's own
// struct decoding and its KnownFields(true) option, which stop at the first
// error and name Go types instead of paths.
//
// # Struct tags
//
//   - yaml:"name" maps a field to the key name; options after the comma
//     are ignored except inline. Fields with no yaml tag, an empty name or
//     yaml:"-" are not part of the config: their keys are unknown fields,
//     and Encode leaves them out.
//   - yaml:",inline" on a struct field (usually embedded) flattens its
//     fields into the parent, as if written there.
//   - unit:"bytes" on an integer field (or a slice, array, map or pointer
//     of integers) makes it a size: a YAML integer or a string such as
//     "512MiB". See ParseSize.
//   - secret:"true" makes EncodeRedacted print "<redacted>" instead of
//     the value when the value is not empty.
//
// A config type with an interface field (including []any or map[string]any),
// a map whose key is not a string, a tagged unexported field, a unit tag
// on a non-integer, or a func, chan or complex field is rejected by Decode
// and Encode with a "confload: unsupported config type" error before any
// input is read: config must be typed.
//
// # Decoding
//
// Decoding is strict. Keys match yaml tags exactly (case-sensitive). It is
// an error to have:
//
//   - an unknown key: `http.lisen (line 3): unknown field "lisen" (did you
//     mean "listen"?)`; a known field within edit distance 2 is suggested;
//   - the same key twice in one mapping;
//   - a value of the wrong kind: `sites[0].hosts (line 7): want a list,
//     got a string`; a single scalar is never taken as a one-item list;
//   - a YAML tag other than the standard ones (!!str, !!int, ...);
//   - more than one YAML document (a second "---" is an error even when
//     the document after it is empty), or a top level that is not a
//     mapping.
//
// All problems in the document are collected and returned together, joined
// with errors.Join, each a *FieldError. A path is dotted from the top of
// the document without a leading dot: "cache.max_ttl"; list items are
// indexed from 0, "sites[3]"; map entries are "headers.key", or
// `headers["key.x"]` when the key is empty or holds a dot, a bracket, a
// quote, a space or an unprintable character.
//
// Values:
//
//   - Strings take any scalar as written: `id: 0123` is "0123".
//   - Bools are true or false (also True, TRUE, False, FALSE). The YAML
//     1.1 words yes, no, on, off, y and n are rejected with a message
//     saying so, and so is a quoted "true".
//   - Integers of every width accept YAML integers, including 0x, 0o and
//     0b prefixes and _ separators; a value that does not fit the field is
//     an error, never truncated. Quoted numbers are strings, so an error.
//   - Floats accept integers and decimals; .inf and .nan are rejected
//     (config values must be finite).
//   - time.Duration takes a string for time.ParseDuration ("250ms",
//     "1h30m", "-5s") or the number 0. Any other bare number, such as 30,
//     is an error: `want a duration such as "30s"`. Negative durations are
//     decoded; rejecting them is the owner's Validate job.
//   - Sizes (unit:"bytes") take a YAML integer or a string for ParseSize:
//     "512MiB", "64KiB", "1.5GiB", "10MB", "1kB", "4096", "4096B". Binary
//     and SI units must be written exactly so; shorthand such as "512M" or
//     "1G" is rejected as ambiguous. Negative sizes and sizes that do not
//     fit the field are errors.
//   - A type whose pointer implements encoding.TextUnmarshaler (netip.Addr,
//     netip.Prefix, ...) gets the scalar's text, before any other rule.
//   - A struct takes a mapping and is merged: fields not in the document
//     keep the value dst already had.
//   - A slice takes a sequence and is replaced by a new slice; an empty
//     sequence [] sets it to nil. An array takes a sequence of exactly its
//     length.
//   - A map[string]T takes a mapping and is replaced by a new map; an empty
//     mapping {} sets it to nil.
//   - A pointer is allocated when the key is present and not null; a
//     pointer dst already held is copied, not written through.
//
// So that Encode and Decode round-trip under reflect.DeepEqual, decoded
// values never hold an empty non-nil slice or map: [] and {} decode to nil,
// and Encode writes nil and empty alike as [] and {}. Test for emptiness
// with len(x) == 0, not x == nil. A field that must tell "not set" from
// "set to empty" can be a pointer to a slice: null or absent leaves it nil,
// [] makes it point to a nil slice.
//
// Null (null, ~, or nothing after the colon) leaves a field as it was: the
// zero value, or a default the caller set before Decode. A null list item
// or map value is the element type's zero value (nil for a pointer). An
// empty document (or one with only comments) decodes to nothing and is not
// an error.
//
// Anchors, aliases and merge keys ("<<: *defaults") are resolved; keys
// written in a mapping win over merged ones, and earlier merged mappings
// over later ones. To stop alias bombs, decoding gives up after visiting
// 1,000,000 nodes (a node reached through N aliases counts N times), or
// when aliases nest more than 64 deep, or when an alias refers to a node
// that contains it. It also stops after 1000 field errors.
//
// Decode never panics on any input (it is fuzzed). On error, dst may be
// partly filled: decode into a fresh value and throw it away on error.
// Decode never writes through pointers, maps or slices that dst held
// before the call; it replaces them, so defaults shared between values
// stay untouched.
//
// # Encoding
//
// Encode writes every field, in struct order, with the same names, so
// the effective config (defaults filled in) can be shown and read back:
// durations as FormatDuration ("250ms", "1h30m", "0s"), sizes as
// FormatSize ("512MiB", or plain bytes such as "1000" when not a whole
// number of KiB), TextMarshaler types as their text, nil pointers as null,
// maps sorted by key. EncodeRedacted also hides secret fields.
//
// # Errors
//
// Field problems are *FieldError values whose message starts with the
// path; problems with the document or the Go type start with "confload: ".
// ParseSize errors read `invalid size "512M": ...` for the caller to wrap.
package confload
