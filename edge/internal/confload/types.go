package confload

import (
	"encoding"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"
)

var (
	durationType        = reflect.TypeFor[time.Duration]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	textMarshalerType   = reflect.TypeFor[encoding.TextMarshaler]()
)

// field is one decodable struct field, after flattening inline structs.
type field struct {
	name   string       // YAML key, from the yaml tag
	goName string       // Go field name, dotted through inline structs; for type errors
	index  []int        // for reflect.Value.FieldByIndex
	typ    reflect.Type // the field's type
	bytes  bool         // tagged unit:"bytes": integers are sizes such as "512MiB"
	secret bool         // tagged secret:"true": EncodeRedacted hides the value
}

// structInfo lists the decodable fields of one struct type in struct order.
type structInfo struct {
	fields []field
	byName map[string]int // YAML key to index in fields
}

type infoResult struct {
	info *structInfo
	err  error
}

var (
	structInfos sync.Map // reflect.Type -> infoResult
	checkedRoot sync.Map // reflect.Type -> error (nil when the type is usable)
)

// isText reports whether values of t are decoded from a scalar with
// encoding.TextUnmarshaler. Pointers and interfaces are handled by their own
// rules first, so only concrete non-pointer types qualify.
func isText(t reflect.Type) bool {
	return t.Kind() != reflect.Pointer && t.Kind() != reflect.Interface &&
		reflect.PointerTo(t).Implements(textUnmarshalerType)
}

// infoFor returns the field table of struct type t. It was validated by
// checkType before any decoding or encoding starts.
func infoFor(t reflect.Type) *structInfo {
	r, _ := getInfo(t)
	return r
}

func getInfo(t reflect.Type) (*structInfo, error) {
	if r, ok := structInfos.Load(t); ok {
		r := r.(infoResult)
		return r.info, r.err
	}
	info, err := buildInfo(t)
	structInfos.Store(t, infoResult{info, err})
	return info, err
}

// buildInfo reads the yaml, unit and secret tags of struct type t.
func buildInfo(t reflect.Type) (*structInfo, error) {
	info := &structInfo{byName: map[string]int{}}
	add := func(f field) error {
		if prev, dup := info.byName[f.name]; dup {
			return fmt.Errorf("fields %s and %s both use the YAML key %q", info.fields[prev].goName, f.goName, f.name)
		}
		info.byName[f.name] = len(info.fields)
		info.fields = append(info.fields, f)
		return nil
	}
	for i := range t.NumField() {
		sf := t.Field(i)
		tag, _ := sf.Tag.Lookup("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if hasOption(opts, "inline") {
			if sf.Type.Kind() != reflect.Struct {
				return nil, fmt.Errorf("field %s: yaml inline needs a struct, not %s", sf.Name, sf.Type)
			}
			if !sf.IsExported() && !sf.Anonymous {
				return nil, fmt.Errorf("field %s: yaml inline field is unexported", sf.Name)
			}
			sub, err := getInfo(sf.Type)
			if err != nil {
				return nil, fmt.Errorf("field %s: %w", sf.Name, err)
			}
			for _, f := range sub.fields {
				f.index = append([]int{i}, f.index...)
				f.goName = sf.Name + "." + f.goName
				if err := add(f); err != nil {
					return nil, err
				}
			}
			continue
		}
		if name == "" {
			continue // untagged fields are not part of the config
		}
		if !sf.IsExported() {
			return nil, fmt.Errorf("field %s has yaml tag %q but is unexported", sf.Name, name)
		}
		f := field{name: name, goName: sf.Name, index: []int{i}, typ: sf.Type}
		switch u := sf.Tag.Get("unit"); u {
		case "":
		case "bytes":
			f.bytes = true
		default:
			return nil, fmt.Errorf("field %s: unknown unit tag %q (only \"bytes\" is known)", sf.Name, u)
		}
		switch s := sf.Tag.Get("secret"); s {
		case "", "false":
		case "true":
			f.secret = true
		default:
			return nil, fmt.Errorf("field %s: secret tag must be \"true\" or \"false\", not %q", sf.Name, s)
		}
		if err := add(f); err != nil {
			return nil, err
		}
	}
	return info, nil
}

func hasOption(opts, want string) bool {
	for opts != "" {
		var o string
		o, opts, _ = strings.Cut(opts, ",")
		if o == want {
			return true
		}
	}
	return false
}

// checkRoot validates struct type t and every type reachable from its
// fields, once per type. Problems here are programmer errors (an interface
// field, a unit tag on a string...), reported before any input is read so
// that they show up in the owning package's tests.
func checkRoot(t reflect.Type) error {
	if err, ok := checkedRoot.Load(t); ok {
		if err == nil {
			return nil
		}
		return err.(error)
	}
	err := checkType(t, false, t.String(), map[reflect.Type]bool{})
	if err != nil {
		err = fmt.Errorf("confload: unsupported config type %s: %w", t, err)
		checkedRoot.Store(t, err)
		return err
	}
	checkedRoot.Store(t, nil)
	return nil
}

func checkType(t reflect.Type, bytes bool, where string, seen map[reflect.Type]bool) error {
	notBytes := func() error {
		if bytes {
			return fmt.Errorf("%s: unit:\"bytes\" needs an integer type, not %s", where, t)
		}
		return nil
	}
	switch {
	case t.Kind() == reflect.Interface:
		return fmt.Errorf("%s: interface type %s is not allowed; config fields must have a concrete type", where, t)
	case t.Kind() == reflect.Pointer:
		return checkType(t.Elem(), bytes, where, seen)
	case isText(t):
		return notBytes()
	case t == durationType:
		return notBytes()
	}
	switch t.Kind() {
	case reflect.Bool, reflect.String, reflect.Float32, reflect.Float64:
		return notBytes()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return nil
	case reflect.Slice, reflect.Array:
		return checkType(t.Elem(), bytes, where+"[]", seen)
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return fmt.Errorf("%s: map key type %s is not allowed; map keys must be strings", where, t.Key())
		}
		return checkType(t.Elem(), bytes, where+"[key]", seen)
	case reflect.Struct:
		if err := notBytes(); err != nil {
			return err
		}
		if seen[t] {
			return nil
		}
		seen[t] = true
		info, err := getInfo(t)
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		for _, f := range info.fields {
			if err := checkType(f.typ, f.bytes, fmt.Sprintf("%s.%s (yaml %q)", where, f.goName, f.name), seen); err != nil {
				return err
			}
		}
		return nil
	default:
		return fmt.Errorf("%s: type %s (kind %s) is not supported", where, t, t.Kind())
	}
}
