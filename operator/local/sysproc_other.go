//go:build !linux

package local

import (
	"os"
	"syscall"
)

// childSysProcAttr puts a child in its own process group. Outside Linux there
// is no parent-death signal: the runner stops its children on every exit it
// sees (a signal, the end of the drill), but a runner killed with SIGKILL
// leaves them running (`pkill -f victim` ends them).
func childSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// growPipe does nothing outside Linux: the pipe keeps the system's size.
func growPipe(*os.File, int) {}
