package etcdwire

import (
	"fmt"
	"slices"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// The codec walks the field tables of fields.go: Size and Marshal write
// each row's present values in row order, Unmarshal looks each tag up in
// the table of the message being decoded. A tag the table does not hold,
// or holds with another wire type, is an unknown field and is kept as
// bytes, as protobuf-go does.

// kind is what a field holds; it fixes the field's wire type.
type kind uint8

const (
	scalarKind  kind = iota + 1 // optional uint64, enum or bool: a varint
	bytesKind                   // optional bytes: length-delimited
	listKind                    // repeated uint64: one varint each (packed accepted when decoding)
	messageKind                 // optional or repeated message: length-delimited
)

func (k kind) wireType() protowire.Type {
	if k == scalarKind || k == listKind {
		return protowire.VarintType
	}
	return protowire.BytesType
}

// maxNumber bounds the field numbers a table holds (raft.proto's are all
// below it), so that every tag is one byte and a lookup is an index.
const maxNumber = 16

// field is one row of a table: a field of message T, whose decoded
// scalars are stored in a block S.
type field[T, S any] struct {
	num  protowire.Number
	kind kind
	tag  uint64 // the encoded tag (number and wire type)

	// scalarKind: the value as a varint, and whether it is present
	get func(*T) (uint64, bool)
	// scalarKind, a uint64 field: the field, which Size and Marshal read
	// in one call instead of two through get
	u64 func(*T) **uint64
	// scalarKind: stores v in s and points the field at it
	set func(m *T, s *S, v uint64)
	// bytesKind: the field (nil is absent)
	bytes func(*T) *[]byte
	// bytesKind: a Writer passes the bytes by reference
	payload bool
	// listKind: the field
	list func(*T) *[]uint64
	// messageKind
	sub submessage[T]
}

// submessage codes a message field of a message P: the table of the
// field's message type, and whether it is optional or repeated.
type submessage[P any] interface {
	has(p *P) bool // whether the field is present (a list not empty)
	size(p *P) int // of every occurrence, tags and lengths included
	// encode takes and returns the encoder by value: a pointer passed
	// through an interface escapes, and Marshal's encoder would then be
	// allocated on every call. The copies cost more than a call, so
	// encode is called only for a field that is present.
	encode(c encoder, p *P, tag uint64) encoder
	// decode decodes the occurrence whose value starts b (after its tag)
	// and returns the value's length; a repeated field decodes every
	// later occurrence in b at the same time and returns all true.
	decode(p *P, num protowire.Number, b []byte, depth int) (n int, all bool, err error)
	// describe names the field's message type (for the tests that hold
	// the tables to raftpb's descriptors).
	describe() (msg protoreflect.MessageDescriptor, isList bool)
}

// table describes message type T (whose scalars decode into S).
type table[T, S any] struct {
	fields []field[T, S]
	byNum  [maxNumber]int8 // index in fields + 1, 0 for none
	refl   func(*T) protoreflect.Message
}

func newTable[T, S any](refl func(*T) protoreflect.Message, fields ...field[T, S]) table[T, S] {
	t := table[T, S]{fields: fields, refl: refl}
	for i := range t.fields {
		f := &t.fields[i]
		if f.num <= 0 || f.num >= maxNumber || t.byNum[f.num] != 0 || (i > 0 && f.num < t.fields[i-1].num) {
			panic(fmt.Sprintf("etcdwire: field table: number %d out of order, repeated or too large", f.num))
		}
		f.tag = protowire.EncodeTag(f.num, f.kind.wireType())
		t.byNum[f.num] = int8(i + 1)
	}
	return t
}

// lookup returns the row for a tag, or nil for an unknown field.
func (t *table[T, S]) lookup(num protowire.Number, typ protowire.Type) *field[T, S] {
	if num >= maxNumber || t.byNum[num] == 0 {
		return nil
	}
	f := &t.fields[t.byNum[num]-1]
	if typ != f.kind.wireType() && (f.kind != listKind || typ != protowire.BytesType) {
		return nil
	}
	return f
}

// ---- the rows ----

// number is an optional uint64 or enum field.
func number[T, S any, V ~uint64 | ~int32](num protowire.Number, ptr func(*T) **V, slot func(*S) *V) field[T, S] {
	u64, _ := any(ptr).(func(*T) **uint64)
	return field[T, S]{num: num, kind: scalarKind, u64: u64,
		get: func(m *T) (uint64, bool) {
			if p := *ptr(m); p != nil {
				return uint64(int64(*p)), true // an enum's negative values take ten bytes, as in protobuf
			}
			return 0, false
		},
		set: func(m *T, s *S, v uint64) {
			p := slot(s)
			*p = V(v)
			*ptr(m) = p
		},
	}
}

// boolean is an optional bool field.
func boolean[T, S any](num protowire.Number, ptr func(*T) **bool, slot func(*S) *bool) field[T, S] {
	return field[T, S]{num: num, kind: scalarKind,
		get: func(m *T) (uint64, bool) {
			if p := *ptr(m); p != nil {
				return protowire.EncodeBool(*p), true
			}
			return 0, false
		},
		set: func(m *T, s *S, v uint64) {
			p := slot(s)
			*p = protowire.DecodeBool(v)
			*ptr(m) = p
		},
	}
}

// bytesField is an optional bytes field; a Writer passes a payload's
// bytes to the kernel by reference.
func bytesField[T, S any](num protowire.Number, ptr func(*T) *[]byte, payload bool) field[T, S] {
	return field[T, S]{num: num, kind: bytesKind, bytes: ptr, payload: payload}
}

// list is a repeated uint64 field.
func list[T, S any](num protowire.Number, ptr func(*T) *[]uint64) field[T, S] {
	return field[T, S]{num: num, kind: listKind, list: ptr}
}

// optional is an optional message field.
func optional[P, PS, C, CS any](num protowire.Number, ptr func(*P) **C, t *table[C, CS]) field[P, PS] {
	return field[P, PS]{num: num, kind: messageKind, sub: optionalMsg[P, C, CS]{ptr, t}}
}

// repeated is a repeated message field; depthStep is 1 where the field
// nests a message in a message of its own type.
func repeated[P, PS, C, CS any](num protowire.Number, ptr func(*P) *[]*C, t *table[C, CS], depthStep int) field[P, PS] {
	return field[P, PS]{num: num, kind: messageKind, sub: repeatedMsg[P, C, CS]{ptr, t, depthStep}}
}

// ---- size and encoding ----

func (t *table[T, S]) size(m *T) int {
	if m == nil {
		return 0
	}
	n := 0
	for i := range t.fields {
		f := &t.fields[i]
		switch f.kind {
		case scalarKind:
			if f.u64 != nil {
				if p := *f.u64(m); p != nil {
					n += 1 + protowire.SizeVarint(*p)
				}
			} else if v, ok := f.get(m); ok {
				n += 1 + protowire.SizeVarint(v)
			}
		case bytesKind:
			if b := *f.bytes(m); b != nil {
				n += 1 + protowire.SizeBytes(len(b))
			}
		case listKind:
			for _, v := range *f.list(m) {
				n += 1 + protowire.SizeVarint(v)
			}
		case messageKind:
			n += f.sub.size(m)
		}
	}
	return n + len(t.refl(m).GetUnknown())
}

// encoder appends the encoding of a message to buf and, unless inline,
// records payloads (entry and snapshot data) as holes to be written by
// reference.
type encoder struct {
	buf    []byte
	holes  []hole
	inline bool
}

type hole struct {
	at int // position in buf before which p goes
	p  []byte
}

func (c *encoder) payload(p []byte) {
	if c.inline || len(p) == 0 {
		c.buf = append(c.buf, p...)
		return
	}
	c.holes = append(c.holes, hole{at: len(c.buf), p: p})
}

func (c *encoder) lenPrefix(tag uint64, n int) {
	c.buf = protowire.AppendVarint(protowire.AppendVarint(c.buf, tag), uint64(n))
}

func (t *table[T, S]) encode(c *encoder, m *T) {
	for i := range t.fields {
		f := &t.fields[i]
		switch f.kind {
		case scalarKind:
			if f.u64 != nil {
				if p := *f.u64(m); p != nil {
					c.buf = protowire.AppendVarint(protowire.AppendVarint(c.buf, f.tag), *p)
				}
			} else if v, ok := f.get(m); ok {
				c.buf = protowire.AppendVarint(protowire.AppendVarint(c.buf, f.tag), v)
			}
		case bytesKind:
			if b := *f.bytes(m); b != nil {
				c.lenPrefix(f.tag, len(b))
				if f.payload {
					c.payload(b)
				} else {
					c.buf = append(c.buf, b...)
				}
			}
		case listKind:
			for _, v := range *f.list(m) {
				c.buf = protowire.AppendVarint(protowire.AppendVarint(c.buf, f.tag), v)
			}
		case messageKind:
			if f.sub.has(m) {
				*c = f.sub.encode(*c, m, f.tag)
			}
		}
	}
	c.buf = append(c.buf, t.refl(m).GetUnknown()...)
}

type optionalMsg[P, C, CS any] struct {
	ptr func(*P) **C
	t   *table[C, CS]
}

func (o optionalMsg[P, C, CS]) has(p *P) bool { return *o.ptr(p) != nil }

func (o optionalMsg[P, C, CS]) size(p *P) int {
	if c := *o.ptr(p); c != nil {
		return 1 + protowire.SizeBytes(o.t.size(c))
	}
	return 0
}

func (o optionalMsg[P, C, CS]) encode(e encoder, p *P, tag uint64) encoder {
	if c := *o.ptr(p); c != nil {
		e.lenPrefix(tag, o.t.size(c))
		o.t.encode(&e, c)
	}
	return e
}

func (o optionalMsg[P, C, CS]) describe() (protoreflect.MessageDescriptor, bool) {
	return o.t.refl(new(C)).Descriptor(), false
}

type repeatedMsg[P, C, CS any] struct {
	ptr       func(*P) *[]*C
	t         *table[C, CS]
	depthStep int
}

func (r repeatedMsg[P, C, CS]) describe() (protoreflect.MessageDescriptor, bool) {
	return r.t.refl(new(C)).Descriptor(), true
}

func (r repeatedMsg[P, C, CS]) has(p *P) bool { return len(*r.ptr(p)) > 0 }

func (r repeatedMsg[P, C, CS]) size(p *P) int {
	n := 0
	for _, c := range *r.ptr(p) {
		n += 1 + protowire.SizeBytes(r.t.size(c))
	}
	return n
}

func (r repeatedMsg[P, C, CS]) encode(e encoder, p *P, tag uint64) encoder {
	for _, c := range *r.ptr(p) {
		e.lenPrefix(tag, r.t.size(c)) // a nil element is an empty message
		if c != nil {
			r.t.encode(&e, c)
		}
	}
	return e
}

// ---- decoding ----

// maxDepth bounds the nesting of Responses a decoder follows.
const maxDepth = 64

var errDecode = fmt.Errorf("%w: invalid protobuf encoding", ErrFormat)

// nextTag reads the next tag, refusing an invalid one.
func nextTag(b []byte) (protowire.Number, protowire.Type, int, error) {
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 || num > protowire.MaxValidNumber || typ == protowire.EndGroupType {
		return 0, 0, 0, errDecode
	}
	return num, typ, n, nil
}

func varint(b []byte) (uint64, int, error) {
	v, n := protowire.ConsumeVarint(b)
	if n < 0 {
		return 0, 0, errDecode
	}
	return v, n, nil
}

func lenDelim(b []byte) ([]byte, int, error) {
	v, n := protowire.ConsumeBytes(b)
	if n < 0 {
		return nil, 0, errDecode
	}
	return v[:len(v):len(v)], n, nil
}

// skipValue returns the length of a field value that is not decoded.
func skipValue(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
	n := protowire.ConsumeFieldValue(num, typ, b)
	if n < 0 {
		return 0, errDecode
	}
	return n, nil
}

// decode merges the encoding b into m, as proto.Unmarshal does: scalars
// and bytes replace, lists and repeated messages append, messages merge.
// s, if not nil, is the block m's scalars go to; otherwise one is
// allocated at the first scalar. Bytes fields alias b.
func (t *table[T, S]) decode(m *T, s *S, b []byte, depth int) error {
	var (
		unk  []byte
		done uint32 // rows of repeated messages already decoded (bit per row)
	)
	for len(b) > 0 {
		num, typ, n, err := nextTag(b)
		if err != nil {
			return err
		}
		b = b[n:]
		f := t.lookup(num, typ)
		if f == nil || (f.kind == messageKind && done&(1<<uint(t.byNum[num])) != 0) {
			if n, err = skipValue(num, typ, b); err != nil {
				return err
			}
			if f == nil {
				if unk == nil {
					unk = t.refl(m).GetUnknown() // a message decoded twice merges
				}
				// The tag re-encoded, as protobuf-go keeps it.
				unk = append(protowire.AppendTag(unk, num, typ), b[:n]...)
			}
			b = b[n:]
			continue
		}
		if s == nil && f.kind == scalarKind {
			s = new(S)
		}
		all := false
		if n, all, err = decodeField(f, m, s, typ, b, depth); err != nil {
			return err
		}
		if all {
			done |= 1 << uint(t.byNum[num])
		}
		b = b[n:]
	}
	if unk != nil {
		t.refl(m).SetUnknown(unk)
	}
	return nil
}

// decodeField decodes the value of f at the start of b and returns its
// length (see submessage.decode for all).
func decodeField[T, S any](f *field[T, S], m *T, s *S, typ protowire.Type, b []byte, depth int) (int, bool, error) {
	switch {
	case f.kind == scalarKind:
		v, n, err := varint(b)
		if err == nil {
			f.set(m, s, v)
		}
		return n, false, err
	case f.kind == bytesKind:
		v, n, err := lenDelim(b)
		if err == nil {
			*f.bytes(m) = v
		}
		return n, false, err
	case f.kind == listKind && typ == protowire.VarintType:
		v, n, err := varint(b)
		if err == nil {
			l := f.list(m)
			*l = append(*l, v)
		}
		return n, false, err
	case f.kind == listKind: // packed, accepted like any protobuf parser does
		v, n, err := lenDelim(b)
		l := f.list(m)
		for err == nil && len(v) > 0 {
			var x uint64
			var k int
			if x, k, err = varint(v); err == nil {
				*l = append(*l, x)
				v = v[k:]
			}
		}
		return n, false, err
	default:
		return f.sub.decode(m, f.num, b, depth)
	}
}

func (o optionalMsg[P, C, CS]) decode(p *P, _ protowire.Number, b []byte, depth int) (int, bool, error) {
	v, n, err := lenDelim(b)
	if err != nil {
		return 0, false, err
	}
	c := o.ptr(p)
	if *c == nil {
		*c = new(C)
	}
	return n, false, o.t.decode(*c, nil, v, depth)
}

// cell holds a decoded element of a repeated message and its scalars:
// the elements of one field are allocated in one block.
type cell[C, CS any] struct {
	msg C
	sc  CS
}

func (r repeatedMsg[P, C, CS]) decode(p *P, num protowire.Number, b []byte, depth int) (int, bool, error) {
	depth += r.depthStep
	if depth > maxDepth {
		return 0, false, fmt.Errorf("%w: responses nested deeper than %d", ErrFormat, maxDepth)
	}
	v, first, err := lenDelim(b)
	if err != nil {
		return 0, false, err
	}
	count, err := countField(b[first:], num)
	if err != nil {
		return 0, false, err
	}
	cells := make([]cell[C, CS], count+1)
	l := r.ptr(p)
	*l = slices.Grow(*l, count+1)
	for i := range cells {
		if i > 0 {
			if v, b, err = nextOccurrence(b, num); err != nil {
				return 0, false, err
			}
		} else {
			b = b[first:]
		}
		c := &cells[i]
		if err := r.t.decode(&c.msg, &c.sc, v, depth); err != nil {
			return 0, false, err
		}
		*l = append(*l, &c.msg)
	}
	return first, true, nil
}

// countField counts the occurrences of message field num in b.
func countField(b []byte, num protowire.Number) (int, error) {
	count := 0
	for len(b) > 0 {
		n, typ, k, err := nextTag(b)
		if err != nil {
			return 0, err
		}
		b = b[k:]
		if n == num && typ == protowire.BytesType {
			count++
		}
		if k, err = skipValue(n, typ, b); err != nil {
			return 0, err
		}
		b = b[k:]
	}
	return count, nil
}

// nextOccurrence returns the value of the next occurrence of message
// field num in b, and the bytes after it.
func nextOccurrence(b []byte, num protowire.Number) (v, rest []byte, err error) {
	for {
		n, typ, k, err := nextTag(b)
		if err != nil {
			return nil, nil, err
		}
		b = b[k:]
		if n == num && typ == protowire.BytesType {
			v, k, err := lenDelim(b)
			return v, b[k:], err
		}
		if k, err = skipValue(n, typ, b); err != nil {
			return nil, nil, err
		}
		b = b[k:]
	}
}

// ---- the message API ----

// Size returns the length of m's protobuf encoding (proto.Size).
func Size(m *pb.Message) int { return messageTable.size(m) }

// Marshal appends m's protobuf encoding to dst: the bytes proto.Marshal
// returns, produced without reflection.
func Marshal(dst []byte, m *pb.Message) []byte {
	c := encoder{buf: dst, inline: true}
	if m != nil {
		messageTable.encode(&c, m)
	}
	return c.buf
}

// Unmarshal decodes b like proto.Unmarshal, except that bytes fields
// (entry and snapshot data, context) alias b instead of being copied, and
// that entries and scalar fields are allocated in a few blocks. b must
// not be modified while the message is in use.
func Unmarshal(b []byte) (*pb.Message, error) {
	m := new(pb.Message)
	if err := messageTable.decode(m, nil, b, 0); err != nil {
		return nil, err
	}
	return m, nil
}
