package repo

import (
	"fmt"
	"reflect"
	"sync"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"
)

// schemaCaches holds one schema cache (a *sync.Map, as schema.Parse
// wants) per naming strategy, keyed by the strategy's printed value.
var schemaCaches sync.Map

func schemaCache(namer schema.Namer) *sync.Map {
	key := fmt.Sprintf("%T %#v", namer, namer)
	if c, ok := schemaCaches.Load(key); ok {
		return c.(*sync.Map)
	}
	c, _ := schemaCaches.LoadOrStore(key, &sync.Map{})
	return c.(*sync.Map)
}

// model is T's parsed schema and what the methods need from it.
type model struct {
	sch *schema.Schema
	err error         // why T cannot be used; every method returns it
	pk  *schema.Field // the single primary key, nil when there is none
	pkC clause.Column // its column
	ins []string      // fields Update must not write: creation time, soft delete

	omitUpdate []string        // ins and every association: Update writes T's own row only
	upTime     []*schema.Field // update-time fields (autoUpdateTime), updatable ones
	softDel    *schema.Field   // the gorm.DeletedAt field, or nil
}

// parseModel resolves T's schema once per naming strategy. It never
// panics: a type GORM cannot map gives a model whose err is set.
func parseModel[T any](namer schema.Namer) (m *model) {
	m = &model{}
	defer func() {
		if r := recover(); r != nil {
			m = &model{err: fmt.Errorf("%w: %T: %v", ErrInvalidModel, *new(T), r)}
		}
	}()
	if namer == nil {
		namer = schema.NamingStrategy{IdentifierMaxLength: 64} // gorm.Open's default
	}
	var zero T
	if t := reflect.TypeOf(zero); t == nil || t.Kind() != reflect.Struct {
		return &model{err: fmt.Errorf("%w: %T is not a struct", ErrInvalidModel, zero)}
	}
	s, err := schema.Parse(&zero, schemaCache(namer), namer)
	if err != nil {
		return &model{err: fmt.Errorf("%w: %T: %w", ErrInvalidModel, zero, err)}
	}
	return modelOf(s)
}

// models caches the model of each parsed schema (relations' schemas
// included), keyed by *schema.Schema.
var models sync.Map

// modelOf is the model of the parsed schema s.
func modelOf(s *schema.Schema) *model {
	if v, ok := models.Load(s); ok {
		return v.(*model)
	}
	m := &model{sch: s}
	if len(s.PrimaryFields) == 1 {
		m.pk = s.PrimaryFields[0]
		m.pkC = clause.Column{Table: clause.CurrentTable, Name: m.pk.DBName}
	}
	for _, f := range s.Fields {
		if f.DBName == "" {
			continue
		}
		if f.AutoCreateTime > 0 || f.FieldType == reflect.TypeOf(gorm.DeletedAt{}) {
			m.ins = append(m.ins, f.DBName)
		}
		if f.FieldType == reflect.TypeOf(gorm.DeletedAt{}) && m.softDel == nil {
			m.softDel = f
		}
		if f.AutoUpdateTime > 0 && f.Updatable && !f.PrimaryKey {
			m.upTime = append(m.upTime, f)
		}
	}
	m.omitUpdate = append(append(m.omitUpdate, m.ins...), clause.Associations)
	v, _ := models.LoadOrStore(s, m)
	return v.(*model)
}

// softDeleted is the condition that leaves out m's soft-deleted rows
// (table refers to them), or nothing when m has no gorm.DeletedAt.
func (m *model) softDeleted(table string) []clause.Expression {
	if m.softDel == nil {
		return nil
	}
	return []clause.Expression{clause.Expr{SQL: "? IS NULL", Vars: []any{col(table, m.softDel.DBName)}}}
}

// needPK is the error of a method that needs a single primary key.
func (m *model) needPK() error {
	if m.err != nil {
		return m.err
	}
	if m.pk == nil {
		return fmt.Errorf("%w: %s has %d primary key fields, this method needs exactly one",
			ErrInvalidModel, m.sch.Name, len(m.sch.PrimaryFields))
	}
	return nil
}

// field resolves a name given by a caller to a column of the model: the
// exact Go field name or the exact column name, nothing looser (GORM's
// own LookUpField also guesses through the naming strategy). Fields with
// no column (relations, `gorm:"-"`) are unknown.
func (m *model) field(name string) (*schema.Field, error) {
	f, ok := m.sch.FieldsByDBName[name]
	if !ok {
		f, ok = m.sch.FieldsByName[name]
	}
	if !ok || f.DBName == "" || !f.Readable {
		if rel, ok := m.sch.Relationships.Relations[name]; ok {
			hint := fmt.Sprintf("filter with Has(%q, ...)", name)
			if rel.Type == schema.BelongsTo || rel.Type == schema.HasOne {
				hint = fmt.Sprintf("use a path such as %q, or Has(%q, ...)", name+".ID", name)
			}
			return nil, fmt.Errorf("%w %q for %s (a %s relation: %s)", ErrUnknownField, name, m.sch.Name, rel.Type, hint)
		}
		return nil, fmt.Errorf("%w %q for %s", ErrUnknownField, name, m.sch.Name)
	}
	return f, nil
}

// updatable is the error for a field (named name by the caller) that an
// UPDATE may not set: the primary key (that would re-key the row), and
// fields GORM does not update (`gorm:"<-:create"`, read-only `->`), which
// it would drop without a word. Both are ErrInvalidQuery.
func (m *model) updatable(name string, f *schema.Field) error {
	switch {
	case f.PrimaryKey:
		return fmt.Errorf("%w: %q is the primary key of %s and is not updated", ErrInvalidQuery, name, m.sch.Name)
	case !f.Updatable:
		return fmt.Errorf("%w: %q of %s is not updatable (a create-only or read-only field)", ErrInvalidQuery, name, m.sch.Name)
	}
	return nil
}

// column resolves name to a quoted-on-build column of the current table.
func (m *model) column(name string) (clause.Column, *schema.Field, error) {
	f, err := m.field(name)
	if err != nil {
		return clause.Column{}, nil, err
	}
	return clause.Column{Table: clause.CurrentTable, Name: f.DBName}, f, nil
}

// pkValue checks that id can be the primary key's value and converts
// it: numbers convert between numeric kinds, anything else must be
// assignable. A string for an integer key is refused rather than sent.
func (m *model) pkValue(id any) (any, error) {
	if id == nil {
		return nil, fmt.Errorf("%w: nil primary key", ErrInvalidQuery)
	}
	want := m.pk.FieldType
	for want.Kind() == reflect.Pointer {
		want = want.Elem()
	}
	v := reflect.ValueOf(id)
	switch {
	case v.Type() == want:
		return id, nil
	case isNumber(v.Kind()) && isNumber(want.Kind()):
		if !fitsNumber(v, want) {
			return nil, fmt.Errorf("%w: primary key %v does not fit %s", ErrInvalidQuery, id, want)
		}
		return v.Convert(want).Interface(), nil
	case v.Type().AssignableTo(want):
		return id, nil
	}
	return nil, fmt.Errorf("%w: primary key of %s is %s, got %T", ErrInvalidQuery, m.sch.Name, want, id)
}

func isNumber(k reflect.Kind) bool {
	switch k {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return true
	}
	return false
}

func fitsNumber(v reflect.Value, t reflect.Type) bool {
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n := v.Int()
		switch t.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			return !reflect.Zero(t).OverflowInt(n)
		default:
			return n >= 0 && !reflect.Zero(t).OverflowUint(uint64(n))
		}
	default:
		n := v.Uint()
		switch t.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			return n <= 1<<63-1 && !reflect.Zero(t).OverflowInt(int64(n))
		default:
			return !reflect.Zero(t).OverflowUint(n)
		}
	}
}

// upsertAll is the column list of an Upsert that names no update
// column: every column an UPDATE may write (not the primary key, not
// create-only or read-only, not the creation time), including columns
// whose default is a database expression, which GORM's UpdateAll leaves
// out, and except the conflict columns and the update times (set to
// the current time by updateTimes).
func (m *model) upsertAll(conflict map[string]bool) []string {
	var cols []string
	for _, name := range m.sch.DBNames {
		f := m.sch.FieldsByDBName[name]
		if f.PrimaryKey || !f.Updatable || f.AutoCreateTime > 0 || f.AutoUpdateTime > 0 || conflict[name] {
			continue
		}
		cols = append(cols, name)
	}
	return cols
}

// updateTimes sets the model's update-time fields to now, in each
// field's unit, as GORM's UpdateAll does.
func (m *model) updateTimes(now time.Time) []clause.Assignment {
	var out []clause.Assignment
	for _, f := range m.upTime {
		a := clause.Assignment{Column: clause.Column{Name: f.DBName}, Value: now}
		switch f.AutoUpdateTime {
		case schema.UnixNanosecond:
			a.Value = now.UnixNano()
		case schema.UnixMillisecond:
			a.Value = now.UnixMilli()
		case schema.UnixSecond:
			a.Value = now.Unix()
		}
		out = append(out, a)
	}
	return out
}
