// Package freeport hands out free loopback TCP ports for processes the kit
// starts itself (victim processes, test servers), outside the kernel's
// ephemeral range.
//
// Listening on port 0 and closing returns a port from the ephemeral range,
// which the kernel also hands to outgoing connections: under load a client
// connection can take the port before the process that was told to use it
// binds it ("address already in use"). Ports below the ephemeral range are
// never used that way. Ports are also never handed out twice by one process.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// low is the lowest port handed out.
const low = 10000

var (
	mu     sync.Mutex
	given  = map[int]bool{}
	bounds = sync.OnceValues(ephemeral)
)

// ephemeral reads the kernel's ephemeral port range, defaulting to Linux's.
func ephemeral() (int, int) {
	lo, hi := 32768, 60999
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			l, err1 := strconv.Atoi(f[0])
			h, err2 := strconv.Atoi(f[1])
			if err1 == nil && err2 == nil && l <= h {
				lo, hi = l, h
			}
		}
	}
	return lo, hi
}

// Port returns a loopback port that was free a moment ago, below the
// ephemeral range when there is room there (else anywhere), and not returned
// before by this process.
func Port() (int, error) {
	lo, _ := bounds()
	top := lo
	if top-low < 1000 {
		top = 65535
	}
	mu.Lock()
	defer mu.Unlock()
	for range 1000 {
		p := low + rand.IntN(top-low)
		if given[p] {
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		l.Close()
		given[p] = true
		return p, nil
	}
	return 0, fmt.Errorf("no free loopback port found in [%d, %d)", low, top)
}

// Addr is Port as a "127.0.0.1:PORT" address.
func Addr() (string, error) {
	p, err := Port()
	if err != nil {
		return "", err
	}
	return "127.0.0.1:" + strconv.Itoa(p), nil
}
