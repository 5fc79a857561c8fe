package etcdwire

import (
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// TestTablesMatchDescriptors holds each field table to the descriptor
// compiled into raftpb: the same field numbers, a kind (and so a wire
// type) that fits the field's, and accessors that reach that very field
// (a value stored through a row is the one protobuf reflection reads from
// the field of that number, and no other field is set).
func TestTablesMatchDescriptors(t *testing.T) {
	checkTable(t, &messageTable)
	checkTable(t, &entryTable)
	checkTable(t, &snapshotTable)
	checkTable(t, &metaTable)
	checkTable(t, &confTable)
}

func checkTable[T, S any](t *testing.T, tbl *table[T, S]) {
	t.Helper()
	desc := tbl.refl(new(T)).Descriptor()
	fds := desc.Fields()
	if len(tbl.fields) != fds.Len() {
		t.Errorf("%s: %d rows, %d fields", desc.FullName(), len(tbl.fields), fds.Len())
	}
	for i := range tbl.fields {
		f := &tbl.fields[i]
		fd := fds.ByNumber(f.num)
		if fd == nil {
			t.Errorf("%s: row %d: no field number %d", desc.FullName(), i, f.num)
			continue
		}
		name := string(desc.FullName()) + "." + string(fd.Name())
		if fd.IsPacked() {
			t.Errorf("%s: packed, written unpacked", name)
		}
		m := new(T)
		var want protoreflect.Value
		switch f.kind {
		case scalarKind:
			if fd.IsList() {
				t.Errorf("%s: a list, not a scalar", name)
				continue
			}
			f.set(m, new(S), 1)
			switch fd.Kind() {
			case protoreflect.Uint64Kind:
				want = protoreflect.ValueOfUint64(1)
			case protoreflect.EnumKind:
				want = protoreflect.ValueOfEnum(1)
			case protoreflect.BoolKind:
				want = protoreflect.ValueOfBool(true)
			default:
				t.Errorf("%s: kind %v is no scalar row", name, fd.Kind())
				continue
			}
			if v, ok := f.get(m); !ok || v != 1 {
				t.Errorf("%s: get after set: %d, %v", name, v, ok)
			}
		case bytesKind:
			if fd.Kind() != protoreflect.BytesKind || fd.IsList() {
				t.Errorf("%s: kind %v is no bytes row", name, fd.Kind())
				continue
			}
			*f.bytes(m) = []byte{1}
			want = protoreflect.ValueOfBytes([]byte{1})
		case listKind:
			if fd.Kind() != protoreflect.Uint64Kind || !fd.IsList() {
				t.Errorf("%s: kind %v is no list row", name, fd.Kind())
				continue
			}
			*f.list(m) = []uint64{1}
		case messageKind:
			md, isList := f.sub.describe()
			if fd.Kind() != protoreflect.MessageKind || fd.Message().FullName() != md.FullName() || fd.IsList() != isList {
				t.Errorf("%s: a row for %s (list %v)", name, md.FullName(), isList)
			}
			continue
		}
		// The row reached field fd, and only fd.
		r := tbl.refl(m)
		r.Range(func(got protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			if got.Number() != fd.Number() {
				t.Errorf("%s: the row set %s", name, got.FullName())
			}
			return true
		})
		if !r.Has(fd) {
			t.Errorf("%s: the row left the field unset", name)
			continue
		}
		if f.kind == listKind {
			if l := r.Get(fd).List(); l.Len() != 1 || l.Get(0).Uint() != 1 {
				t.Errorf("%s: list %v", name, l)
			}
		} else if !r.Get(fd).Equal(want) {
			t.Errorf("%s: %v, want %v", name, r.Get(fd), want)
		}
	}
}
