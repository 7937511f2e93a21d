package local

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// childSysProcAttr puts a child in its own process group and has the kernel
// send it SIGKILL when the runner dies, even by SIGKILL.
func childSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// growPipe raises a pipe's buffer to n bytes where the kernel allows (best
// effort: a smaller buffer still works, it only blocks sooner).
func growPipe(w *os.File, n int) {
	_, _ = unix.FcntlInt(w.Fd(), unix.F_SETPIPE_SZ, n)
}
