package repo

import (
	"database/sql/driver"
	"fmt"
	"reflect"
	"strings"
	"sync"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// maxValueDepth bounds how deep checkValue looks into a value; a value
// nested deeper (or one that contains itself) is refused.
const maxValueDepth = 32

var (
	expressionType  = reflect.TypeFor[clause.Expression]()
	clauseIfaceType = reflect.TypeFor[clause.Interface]()
	gormValuerType  = reflect.TypeFor[gorm.Valuer]()
	driverValuer    = reflect.TypeFor[driver.Valuer]()
	bytesType       = reflect.TypeFor[[]byte]()
)

// sqlType reports whether GORM writes a value of type t into the SQL
// text instead of binding it: expressions (clause.Expr, clause.Eq...,
// GORM's generic chains), whole clauses, gorm.Valuer (whose GormValue is
// an expression), sub-queries (*gorm.DB), column and table references.
// Pointer receivers count too.
func sqlType(t reflect.Type) bool {
	switch t {
	case reflect.TypeFor[*gorm.DB](), reflect.TypeFor[gorm.DB](),
		reflect.TypeFor[clause.Column](), reflect.TypeFor[clause.Table](),
		reflect.TypeFor[[]clause.Column](), reflect.TypeFor[[]clause.Table]():
		return true
	}
	for _, it := range [...]reflect.Type{expressionType, clauseIfaceType, gormValuerType} {
		if t.Implements(it) || (t.Kind() != reflect.Pointer && reflect.PointerTo(t).Implements(it)) {
			return true
		}
	}
	return false
}

// safeTypes caches, per type, whether no value of it can hold SQL: a
// type built only from basic kinds, driver.Valuer leaves and structs
// (which GORM binds whole), with no interface anywhere.
var safeTypes sync.Map // reflect.Type -> bool

func safeType(t reflect.Type) bool {
	if v, ok := safeTypes.Load(t); ok {
		return v.(bool)
	}
	safe := safeTypeOf(t, 0)
	safeTypes.Store(t, safe)
	return safe
}

func safeTypeOf(t reflect.Type, depth int) bool {
	if depth > maxValueDepth || sqlType(t) {
		return false
	}
	if t.Implements(driverValuer) || t == bytesType {
		return true
	}
	switch t.Kind() {
	case reflect.Interface:
		return false
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return safeTypeOf(t.Elem(), depth+1)
	case reflect.Map:
		return safeTypeOf(t.Key(), depth+1) && safeTypeOf(t.Elem(), depth+1)
	case reflect.Chan, reflect.Func, reflect.UnsafePointer:
		return true // not SQL; the driver refuses them
	}
	return true // basic kinds, structs (bound as one value)
}

// checkValue refuses a value GORM would write into the SQL text instead
// of binding, at any depth: inside slices, arrays, maps, pointers and
// interfaces. A driver.Valuer that is not also SQL is a bound leaf, and
// so is a struct, which GORM binds whole.
func checkValue(field string, v any) error {
	if v == nil {
		return nil
	}
	if bad, t := sqlInside(reflect.ValueOf(v), 0); bad {
		if t == nil {
			return fmt.Errorf("%w: %s: value nested deeper than %d levels", ErrInvalidQuery, field, maxValueDepth)
		}
		return fmt.Errorf("%w: %s: %s is SQL, not a value", ErrInvalidQuery, field, t)
	}
	return nil
}

// sqlInside finds SQL in v; t is its type, nil when v is too deep.
func sqlInside(v reflect.Value, depth int) (bad bool, t reflect.Type) {
	if !v.IsValid() {
		return false, nil
	}
	if depth > maxValueDepth {
		return true, nil
	}
	t = v.Type()
	if safeType(t) {
		return false, nil
	}
	if sqlType(t) {
		return true, t
	}
	if t.Implements(driverValuer) {
		return false, nil
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return false, nil
		}
		return sqlInside(v.Elem(), depth+1)
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if bad, t := sqlInside(v.Index(i), depth+1); bad {
				return true, t
			}
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			if bad, t := sqlInside(it.Key(), depth+1); bad {
				return true, t
			}
			if bad, t := sqlInside(it.Value(), depth+1); bad {
				return true, t
			}
		}
	}
	return false, nil
}

// likeEscape is the escape character Like declares on every dialect.
const likeEscape = `\`

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// EscapeLike escapes s for a Like pattern: the result matches s
// literally, with `\` as the escape character that Like declares
// (LIKE ... ESCAPE '\') on every dialect. Add the wildcards around it:
//
//	repo.Where("title", repo.Like, "%"+repo.EscapeLike(term)+"%")
func EscapeLike(s string) string { return likeEscaper.Replace(s) }

// keyText is how an error names a key the caller gave: its value when it
// is a plain scalar (or a pointer to one), else only its type, so that a
// hostile or self-referencing value is never printed.
func keyText(v any) string {
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer && !rv.IsNil() {
		rv = rv.Elem()
	}
	switch rv.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64, reflect.String:
		return fmt.Sprint(rv.Interface())
	case reflect.Invalid:
		return "<nil>"
	}
	if s, ok := v.(fmt.Stringer); ok && rv.Kind() == reflect.Array { // uuid.UUID and the like
		return s.String()
	}
	return fmt.Sprintf("(%T)", v)
}
