package codec

import (
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"

	"github.com/spoolhq/spool/journal"
	"github.com/spoolhq/spool/stream"
)

// Options configure a Registry. The zero value is usable: no compression,
// journal.DefaultMaxEntrySize.
type Options struct {
	// Compression is the compression policy for appends. It is not
	// persisted: each entry records whether it is compressed, so the policy
	// may change between opens and a journal may mix both kinds.
	Compression Compression
	// MaxEntrySize bounds the uncompressed length a compressed entry may
	// claim and the length fields decoded from it; set it to the
	// journal's Options.MaxEntrySize. 0 means journal.DefaultMaxEntrySize.
	MaxEntrySize int64
}

// Registry maps stable numeric type ids to codecs, both ways: id to codec
// for replay, Go type to codec for append. Register every type once, at
// start-up, before appending or replaying; ids are persisted in every entry
// and must never be reused for another type.
//
// A Registry is safe for concurrent use; lookups take no lock.
type Registry struct {
	opts Options
	mu   sync.Mutex // serialises registrations
	tab  atomic.Pointer[table]
}

// table is an immutable snapshot of the registrations, replaced whole on
// each Register so that lookups need no lock.
type table struct {
	byID   map[uint32]registered
	byType map[reflect.Type]registered
}

// registered is the type-erased side of a binding, used for replay by id.
type registered interface {
	typeID() uint32
	typeName() string
	version() uint32
	decodeAny(r *stream.Reader, version uint32) (any, error)
}

// NewRegistry returns an empty Registry with the given options (nil means
// the zero Options).
func NewRegistry(opts *Options) *Registry {
	reg := &Registry{}
	if opts != nil {
		reg.opts = *opts
	}
	if reg.opts.MaxEntrySize <= 0 {
		reg.opts.MaxEntrySize = journal.DefaultMaxEntrySize
	}
	reg.tab.Store(&table{byID: map[uint32]registered{}, byType: map[reflect.Type]registered{}})
	return reg
}

// Options returns the registry's options with defaults filled in.
func (reg *Registry) Options() Options { return reg.opts }

// Register adds codec c for Go type T under type id id. It fails with
// ErrReservedID for id 0 or an id at or above ReservedMin, and with
// ErrDuplicate if id or T is already registered.
//
//	err := codec.Register(reg, 7, PutCodec{}) // T inferred from PutCodec's methods
func Register[T any](reg *Registry, id uint32, c Codec[T]) error {
	b := &binding[T]{id: id, c: c, ver: c.Version(), name: reflect.TypeFor[T]().String()}
	b.sizer, _ = c.(Sizer[T])
	b.borrow, _ = c.(BorrowDecoder[T])
	_, b.oneShot = c.(interface{ oneShot() })
	if id == 0 || id >= ReservedMin {
		return &Error{Err: ErrReservedID, Detail: fmt.Sprintf("%d for %s", id, b.name), Offset: -1}
	}
	reg.mu.Lock()
	defer reg.mu.Unlock()
	old := reg.tab.Load()
	if prev, ok := old.byID[id]; ok {
		return &Error{Err: ErrDuplicate, Detail: fmt.Sprintf("type id %d: %s already has it, cannot register %s", id, prev.typeName(), b.name), Offset: -1}
	}
	t := reflect.TypeFor[T]()
	if prev, ok := old.byType[t]; ok {
		return &Error{Err: ErrDuplicate, Detail: fmt.Sprintf("type %s: already registered as id %d, cannot register id %d", b.name, prev.typeID(), id), Offset: -1}
	}
	next := &table{byID: make(map[uint32]registered, len(old.byID)+1), byType: make(map[reflect.Type]registered, len(old.byType)+1)}
	for k, v := range old.byID {
		next.byID[k] = v
	}
	for k, v := range old.byType {
		next.byType[k] = v
	}
	next.byID[id], next.byType[t] = b, b
	reg.tab.Store(next)
	return nil
}

// TypeName returns the Go type registered under id, and whether there is one.
func (reg *Registry) TypeName(id uint32) (string, bool) {
	r, ok := reg.tab.Load().byID[id]
	if !ok {
		return "", false
	}
	return r.typeName(), true
}

// bindingOf returns the binding of Go type T.
func bindingOf[T any](reg *Registry) (*binding[T], error) {
	r, ok := reg.tab.Load().byType[reflect.TypeFor[T]()]
	if !ok {
		return nil, &Error{Err: ErrNotRegistered, Detail: reflect.TypeFor[T]().String(), Offset: -1}
	}
	return r.(*binding[T]), nil
}

// binding is one registration: a codec with its optional interfaces
// resolved once, so the append and decode paths make no type assertions.
type binding[T any] struct {
	id     uint32
	ver    uint32
	name   string
	c      Codec[T]
	sizer  Sizer[T]         // nil if the codec gives no size
	borrow BorrowDecoder[T] // nil if the codec always copies
	// oneShot codecs consume their input (Blob's Src): never encoded
	// twice, so never counted, so stored uncompressed without a size.
	oneShot bool
}

func (b *binding[T]) typeID() uint32   { return b.id }
func (b *binding[T]) typeName() string { return b.name }
func (b *binding[T]) version() uint32  { return b.ver }

func (b *binding[T]) decodeAny(r *stream.Reader, version uint32) (any, error) {
	v := new(T)
	if err := b.c.Decode(r, version, v); err != nil {
		return nil, err
	}
	return *v, nil
}

// size returns the exact body size of v, or -1 if the codec does not say.
func (b *binding[T]) size(v T) int64 {
	if b.sizer == nil {
		return -1
	}
	if n := b.sizer.Size(v); n >= 0 {
		return int64(n)
	}
	return -1
}
