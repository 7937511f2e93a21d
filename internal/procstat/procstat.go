// Package procstat reads a process's CPU time and the machine's load
// average from /proc, for the measurement benchmarks (Linux only).
package procstat

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"strings"
	"time"
)

// SelfCPU is this process's user+system CPU time, from /proc/self/stat.
func SelfCPU() (time.Duration, error) { return cpu("/proc/self/stat") }

// CPU is process pid's user+system CPU time, from /proc/<pid>/stat.
func CPU(pid int) (time.Duration, error) { return cpu("/proc/" + strconv.Itoa(pid) + "/stat") }

func cpu(path string) (time.Duration, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	// The fields after the command name (which may hold spaces), from field 3.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 > len(b) {
		return 0, errors.New("procstat: unexpected /proc/self/stat")
	}
	f := strings.Fields(string(b[i+2:]))
	if len(f) < 13 {
		return 0, errors.New("procstat: unexpected /proc/self/stat")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(utime+stime) * time.Second / 100, nil // USER_HZ is 100 on Linux
}

// LoadAverage is the 1, 5 and 15 minute load averages as /proc/loadavg
// writes them ("?" when unreadable).
func LoadAverage() string {
	b, _ := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "?"
}
