// Package kvpb holds a protobuf KV command (kvpb.proto) that the codec
// benchmarks and the protocodec tests encode: the same fields as the tests'
// hand-written Put codec, so the two compare like for like.
package kvpb
