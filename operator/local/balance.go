package local

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// entryURL is the base URL the load generator lg sends to: the entry pod's
// proxy when there is one (gateway-0, or a target's only replica), else a
// round-robin balancer over one proxy per replica, as a Service spreads
// connections over its pods. Each replica keeps its own inbound edge, so a
// network fault selecting some replicas acts on their share of the load.
func (b *Backend) entryURL(lg *pod, entry []*pod) (string, error) {
	if len(entry) == 0 {
		return "", errors.New("local backend: no process to send the load to")
	}
	var ups []string
	for _, p := range entry {
		e, err := b.connect(lg, p)
		if err != nil {
			return "", err
		}
		ups = append(ups, e.proxy.Listen)
	}
	if len(ups) == 1 {
		return "http://" + ups[0], nil
	}
	lb, err := newBalancer(ups)
	if err != nil {
		return "", err
	}
	b.mu.Lock()
	b.lb = lb
	b.mu.Unlock()
	return "http://" + lb.addr(), nil
}

// balancer accepts TCP connections on loopback and pipes each to the next
// upstream in turn.
type balancer struct {
	ln   net.Listener
	ups  []string
	next atomic.Uint64
	wg   sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func newBalancer(ups []string) (*balancer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	lb := &balancer{ln: ln, ups: ups, conns: map[net.Conn]struct{}{}}
	lb.wg.Add(1)
	go lb.serve()
	return lb, nil
}

func (lb *balancer) addr() string { return lb.ln.Addr().String() }

func (lb *balancer) serve() {
	defer lb.wg.Done()
	for {
		c, err := lb.ln.Accept()
		if err != nil {
			return
		}
		up := lb.ups[(lb.next.Add(1)-1)%uint64(len(lb.ups))]
		lb.wg.Add(1)
		go lb.pipe(c, up)
	}
}

// pipe copies both ways between c and a new connection to up until either
// side closes.
func (lb *balancer) pipe(c net.Conn, up string) {
	defer lb.wg.Done()
	u, err := net.DialTimeout("tcp", up, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	if !lb.track(c, u) {
		c.Close()
		u.Close()
		return
	}
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		dst.Close()
		src.Close()
		done <- struct{}{}
	}
	go cp(u, c)
	go cp(c, u)
	<-done
	<-done
	lb.mu.Lock()
	delete(lb.conns, c)
	delete(lb.conns, u)
	lb.mu.Unlock()
}

// track records a pair of connections for close; false once closed.
func (lb *balancer) track(cs ...net.Conn) bool {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if lb.conns == nil {
		return false
	}
	for _, c := range cs {
		lb.conns[c] = struct{}{}
	}
	return true
}

// close stops accepting, closes every connection and waits for the pipes.
func (lb *balancer) close() {
	lb.ln.Close()
	lb.mu.Lock()
	for c := range lb.conns {
		c.Close()
	}
	lb.conns = nil
	lb.mu.Unlock()
	lb.wg.Wait()
}
