package sysstat

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
)

// Memory is a snapshot of the process's resident memory, in bytes, from
// /proc/self/status. Fields are 0 where the system does not report them.
type Memory struct {
	RSS     int64 // VmRSS: resident now
	Peak    int64 // VmHWM: peak resident since start (or since ResetPeak)
	Anon    int64 // RssAnon: anonymous resident memory (heap, stacks)
	File    int64 // RssFile: file-backed resident memory (mapped files, code)
	Present bool  // the values come from /proc (Linux)
}

// ReadMemory reads the process's resident memory.
func ReadMemory() Memory {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return Memory{}
	}
	m := Memory{Present: true}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, rest, ok := bytes.Cut(sc.Bytes(), []byte(":"))
		if !ok {
			continue
		}
		var dst *int64
		switch string(name) {
		case "VmRSS":
			dst = &m.RSS
		case "VmHWM":
			dst = &m.Peak
		case "RssAnon":
			dst = &m.Anon
		case "RssFile":
			dst = &m.File
		default:
			continue
		}
		f := bytes.Fields(rest)
		if len(f) == 0 {
			continue
		}
		if kb, err := strconv.ParseInt(string(f[0]), 10, 64); err == nil {
			*dst = kb << 10
		}
	}
	return m
}

// ResetPeak resets the peak resident size (VmHWM) to the current one by
// writing 5 to /proc/self/clear_refs. It reports whether that worked.
func ResetPeak() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}
