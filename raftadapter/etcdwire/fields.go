package etcdwire

import pb "go.etcd.io/raft/v3/raftpb"

// The field tables: the one declaration of raft.proto's field numbers and
// what each field holds (and so its wire type), read by Size, Marshal and
// Unmarshal alike. Rows are in number order, the order proto.Marshal
// writes; TestTablesMatchDescriptors checks every row against the
// descriptors compiled into raftpb.

// Scalar fields are proto2 optional, so a decoded message points at its
// values: each decode of a message stores them in one block of its own
// (for entries, in the same allocation as the entry).
type (
	msgScalars struct {
		typ                                                      pb.MessageType
		to, from, term, logTerm, index, commit, vote, rejectHint uint64
		reject                                                   bool
	}
	entryScalars struct {
		term, index uint64
		typ         pb.EntryType
	}
	metaScalars struct{ index, term uint64 }
	csScalars   struct{ autoLeave bool }
	noScalars   struct{}
)

var (
	messageTable  table[pb.Message, msgScalars]
	entryTable    table[pb.Entry, entryScalars]
	snapshotTable table[pb.Snapshot, noScalars]
	metaTable     table[pb.SnapshotMetadata, metaScalars]
	confTable     table[pb.ConfState, csScalars]
)

// init builds the tables here rather than in their declarations because
// Message.responses refers to messageTable itself.
func init() {
	type (
		M  = pb.Message
		MS = msgScalars
	)
	messageTable = newTable((*M).ProtoReflect,
		number(1, func(m *M) **pb.MessageType { return &m.Type }, func(s *MS) *pb.MessageType { return &s.typ }),
		number(2, func(m *M) **uint64 { return &m.To }, func(s *MS) *uint64 { return &s.to }),
		number(3, func(m *M) **uint64 { return &m.From }, func(s *MS) *uint64 { return &s.from }),
		number(4, func(m *M) **uint64 { return &m.Term }, func(s *MS) *uint64 { return &s.term }),
		number(5, func(m *M) **uint64 { return &m.LogTerm }, func(s *MS) *uint64 { return &s.logTerm }),
		number(6, func(m *M) **uint64 { return &m.Index }, func(s *MS) *uint64 { return &s.index }),
		repeated[M, MS](7, func(m *M) *[]*pb.Entry { return &m.Entries }, &entryTable, 0),
		number(8, func(m *M) **uint64 { return &m.Commit }, func(s *MS) *uint64 { return &s.commit }),
		optional[M, MS](9, func(m *M) **pb.Snapshot { return &m.Snapshot }, &snapshotTable),
		boolean(10, func(m *M) **bool { return &m.Reject }, func(s *MS) *bool { return &s.reject }),
		number(11, func(m *M) **uint64 { return &m.RejectHint }, func(s *MS) *uint64 { return &s.rejectHint }),
		bytesField[M, MS](12, func(m *M) *[]byte { return &m.Context }, false),
		number(13, func(m *M) **uint64 { return &m.Vote }, func(s *MS) *uint64 { return &s.vote }),
		// Responses nest messages in messages: the only recursion, so the
		// only field that counts against maxDepth.
		repeated[M, MS](14, func(m *M) *[]*M { return &m.Responses }, &messageTable, 1),
	)

	type (
		E  = pb.Entry
		ES = entryScalars
	)
	entryTable = newTable((*E).ProtoReflect,
		number(1, func(e *E) **pb.EntryType { return &e.Type }, func(s *ES) *pb.EntryType { return &s.typ }),
		number(2, func(e *E) **uint64 { return &e.Term }, func(s *ES) *uint64 { return &s.term }),
		number(3, func(e *E) **uint64 { return &e.Index }, func(s *ES) *uint64 { return &s.index }),
		bytesField[E, ES](4, func(e *E) *[]byte { return &e.Data }, true),
	)

	type S = pb.Snapshot
	snapshotTable = newTable((*S).ProtoReflect,
		bytesField[S, noScalars](1, func(s *S) *[]byte { return &s.Data }, true),
		optional[S, noScalars](2, func(s *S) **pb.SnapshotMetadata { return &s.Metadata }, &metaTable),
	)

	type (
		SM  = pb.SnapshotMetadata
		SMS = metaScalars
	)
	metaTable = newTable((*SM).ProtoReflect,
		optional[SM, SMS](1, func(m *SM) **pb.ConfState { return &m.ConfState }, &confTable),
		number(2, func(m *SM) **uint64 { return &m.Index }, func(s *SMS) *uint64 { return &s.index }),
		number(3, func(m *SM) **uint64 { return &m.Term }, func(s *SMS) *uint64 { return &s.term }),
	)

	type (
		C  = pb.ConfState
		CS = csScalars
	)
	confTable = newTable((*C).ProtoReflect,
		list[C, CS](1, func(c *C) *[]uint64 { return &c.Voters }),
		list[C, CS](2, func(c *C) *[]uint64 { return &c.Learners }),
		list[C, CS](3, func(c *C) *[]uint64 { return &c.VotersOutgoing }),
		list[C, CS](4, func(c *C) *[]uint64 { return &c.LearnersNext }),
		boolean(5, func(c *C) **bool { return &c.AutoLeave }, func(s *CS) *bool { return &s.autoLeave }),
	)
}
