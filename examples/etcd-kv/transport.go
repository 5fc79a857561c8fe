package main

import (
	"context"
	"net"
	"sync"
	"time"

	"github.com/spoolhq/spool/raftadapter/etcdwire"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
)

// peerQueue sends one node's messages to one peer over a TCP connection,
// in order, each batch with a single vectored write (etcdwire.Writer),
// which also releases the zero-copy entries once written. Messages that
// cannot be sent are released and reported to raft as unreachable.
type peerQueue struct {
	nd   *kvNode
	to   uint64
	addr string

	mu     sync.Mutex
	queue  []*pb.Message
	wake   chan struct{}
	done   chan struct{}
	closed bool
}

const maxQueued = 4096

func newPeerQueue(nd *kvNode, to uint64, addr string) *peerQueue {
	return &peerQueue{nd: nd, to: to, addr: addr, wake: make(chan struct{}, 1), done: make(chan struct{})}
}

func (q *peerQueue) push(m *pb.Message) {
	q.mu.Lock()
	if q.closed || len(q.queue) >= maxQueued {
		q.mu.Unlock()
		q.drop([]*pb.Message{m})
		return
	}
	q.queue = append(q.queue, m)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *peerQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	close(q.done)
}

// drop releases messages that will not be sent and tells raft.
func (q *peerQueue) drop(ms []*pb.Message) {
	for _, m := range ms {
		q.nd.st.ReleaseMessage(m)
		if m.GetType() == pb.MsgSnap {
			q.nd.n.ReportSnapshot(q.to, raft.SnapshotFailure)
		}
	}
	if len(ms) > 0 {
		q.nd.n.ReportUnreachable(q.to)
	}
}

func (q *peerQueue) take() []*pb.Message {
	q.mu.Lock()
	defer q.mu.Unlock()
	ms := q.queue
	q.queue = nil
	return ms
}

func (q *peerQueue) run() {
	var conn net.Conn
	var w *etcdwire.Writer
	defer func() {
		if conn != nil {
			_ = conn.Close()
		}
		q.drop(q.take())
	}()
	for {
		select {
		case <-q.done:
			return
		case <-q.wake:
		}
		ms := q.take()
		if len(ms) == 0 {
			continue
		}
		if conn == nil {
			c, err := net.DialTimeout("tcp", q.addr, 200*time.Millisecond)
			if err != nil {
				q.drop(ms)
				continue
			}
			conn, w = c, etcdwire.NewWriter(c, q.nd.st)
		}
		_ = conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
		if err := w.WriteMessages(ms); err != nil { // releases the pins
			_ = conn.Close()
			conn = nil
			q.nd.n.ReportUnreachable(q.to)
			for _, m := range ms {
				if m.GetType() == pb.MsgSnap {
					q.nd.n.ReportSnapshot(q.to, raft.SnapshotFailure)
				}
			}
			continue
		}
		for _, m := range ms {
			if m.GetType() == pb.MsgSnap {
				q.nd.n.ReportSnapshot(q.to, raft.SnapshotFinish)
			}
		}
	}
}

// accept serves the node's raft listener: each connection carries frames
// from one peer, decoded with Data aliasing the frame (no extra copy) and
// stepped into the node.
func (nd *kvNode) accept() {
	for {
		c, err := nd.ln.Accept()
		if err != nil {
			return
		}
		nd.conns.Store(c, nil)
		nd.wg.Go(func() {
			defer func() {
				nd.conns.Delete(c)
				_ = c.Close()
			}()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() {
				select {
				case <-nd.stop:
					cancel()
				case <-ctx.Done():
				}
			}()
			r := etcdwire.NewReader(c)
			for {
				m, err := r.ReadMessage()
				if err != nil { // peer gone (io.EOF), node stopping, or a bad frame
					return
				}
				sctx, cancel := ctx, context.CancelFunc(func() {})
				if m.GetType() == pb.MsgProp {
					// A forwarded proposal blocks in Step until this node
					// knows a leader; holding up the messages behind it
					// (the leader's among them) would keep it from
					// learning one. Give it a deadline; the client retries.
					sctx, cancel = context.WithTimeout(ctx, 100*time.Millisecond)
				}
				err = nd.n.Step(sctx, m)
				cancel()
				if err != nil && ctx.Err() != nil {
					return
				}
			}
		})
	}
}
