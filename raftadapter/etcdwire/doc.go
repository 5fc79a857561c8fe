// Package etcdwire is spool's message stream for go.etcd.io/raft/v3 (v3.7,
// pointer protobuf types): a codec of raftpb.Message that writes exactly
// proto.Marshal's bytes without reflection and decodes exactly what
// proto.Unmarshal accepts without copying bytes fields, and a framing of
// those messages on a byte stream (a TCP connection between peers).
package etcdwire
