//go:build spooldebug

package journal

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/spoolhq/spool/stream"
)

// panicOf runs f on a goroutine of its own and returns what it panicked
// with, or "" if it returned. Without the checks the calls under test
// deadlock rather than return; the limit is only a guard that turns that
// into a failure.
func panicOf(t *testing.T, f func()) string {
	t.Helper()
	got := make(chan string, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				got <- fmt.Sprint(r)
				return
			}
			got <- ""
		}()
		f()
	}()
	select {
	case msg := <-got:
		return msg
	case <-time.After(60 * time.Second):
		t.Fatal("no panic after 60s: the call deadlocked")
		return ""
	}
}

// The spooldebug lock checker panics when a goroutine takes a lock of the
// journal while holding one that comes after it (lockorder.go).
func TestLockOrderViolationPanics(t *testing.T) {
	j := mustOpen(t, t.TempDir(), testOpts())
	defer j.Close()
	if _, err := j.AppendBytes([]byte("x")); err != nil { // a segment whose locks join the order
		t.Fatal(err)
	}
	seg := j.segs.Load().segs[0]
	locks := []struct {
		name string
		m    *orderedMutex
	}{
		{"mu", &j.mu},
		{"sealOrder", &j.sealOrder},
		{"segment.sealMu", &seg.sealMu},
		{"meta.mu", &j.meta.mu},
		{"spareMaker.mu", &j.spareMaker.mu},
		{"segment.loadMu", &seg.loadMu},
		{"syncMu", &j.syncMu},
	}
	for hi := range locks {
		for lo := range hi {
			held, taken := locks[hi], locks[lo]
			msg := panicOf(t, func() {
				held.m.Lock()
				defer held.m.Unlock()
				taken.m.Lock()
				taken.m.Unlock()
			})
			if !strings.Contains(msg, "lock order violated") {
				t.Errorf("%s taken while holding %s: panic %q, want a lock order violation", taken.name, held.name, msg)
			}
		}
	}
	// The documented order itself passes, all of them nested.
	if msg := panicOf(t, func() {
		for _, l := range locks {
			l.m.Lock()
		}
		for i := len(locks) - 1; i >= 0; i-- {
			locks[i].m.Unlock()
		}
	}); msg != "" {
		t.Fatalf("locks taken in order: panic %q", msg)
	}
	// Order binds one goroutine: another may take mu while this one
	// holds sealOrder (it waits for nothing here).
	j.sealOrder.Lock()
	msg := panicOf(t, func() { j.mu.Lock(); j.mu.Unlock() })
	j.sealOrder.Unlock()
	if msg != "" {
		t.Fatalf("mu on another goroutine while sealOrder is held: panic %q", msg)
	}
	// And the journal still works after the panics above.
	if _, err := j.AppendBytes([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := j.Sync(); err != nil {
		t.Fatal(err)
	}
}

// An append callback that calls back into the journal panics under
// spooldebug instead of deadlocking (or, for the methods that take no
// writer lock, instead of running where the API forbids it).
func TestAppendCallbackReentryPanics(t *testing.T) {
	calls := map[string]func(j *Journal){
		"AppendBytes": func(j *Journal) { _, _ = j.AppendBytes([]byte("y")) },
		"Append": func(j *Journal) {
			_, _ = j.Append(func(*stream.Writer) error { return nil })
		},
		"AppendBatch":  func(j *Journal) { _, _, _ = j.AppendBatch(func(*Batch) error { return nil }) },
		"TruncateBack": func(j *Journal) { _ = j.TruncateBack(1) },
		"TruncateFront": func(j *Journal) {
			_ = j.TruncateFront(2)
		},
		"Reset":       func(j *Journal) { _ = j.Reset(10) },
		"Sync":        func(j *Journal) { _ = j.Sync() },
		"WaitDurable": func(j *Journal) { _ = j.WaitDurable(context.Background(), 1) },
		"SetMeta":     func(j *Journal) { _ = j.SetMeta("k", []byte("v")) },
		"UpdateMeta":  func(j *Journal) { _ = j.UpdateMeta(false, MetaUpdate{Key: "k"}) },
		"Close":       func(j *Journal) { _ = j.Close() },
	}
	for name, call := range calls {
		for _, batch := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/batch=%v", name, batch), func(t *testing.T) {
				j := mustOpen(t, t.TempDir(), testOpts())
				if _, err := j.AppendBytes([]byte("x")); err != nil {
					t.Fatal(err)
				}
				msg := panicOf(t, func() {
					if batch {
						_, _, _ = j.AppendBatch(func(*Batch) error { call(j); return nil })
						return
					}
					_, _ = j.Append(func(*stream.Writer) error { call(j); return nil })
				})
				if !strings.Contains(msg, "re-entrant call") || !strings.Contains(msg, "callback must not call back into the journal") {
					t.Fatalf("panic %q, want a re-entrant call", msg)
				}
				// The panic left the outer append holding the
				// writer lock (appends do not unlock on panic).
				j.mu.Unlock()
				j.crashClose()
			})
		}
	}
}
