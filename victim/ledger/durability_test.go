package ledger_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cascadelab/cascadelab/victim/api"
	"github.com/cascadelab/cascadelab/victim/ledger"
)

// childDirEnv makes the test binary a ledger server on the data directory it
// names (see init): the kill -9 must hit a real process, not a goroutine.
const childDirEnv = "CASCADELAB_LEDGER_CHILD_DIR"

func init() {
	dir := os.Getenv(childDirEnv)
	if dir == "" {
		return
	}
	os.Exit(serveChild(dir))
}

// serveChild runs a CAS ledger on a free loopback port, prints the address
// on stdout and serves until it is killed.
func serveChild(dir string) int {
	store, err := ledger.Open(dir, ledger.ModeCAS, ledger.DefaultWindow)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	srv, err := ledger.NewServer(context.Background(), store, nil, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(ln.Addr().String())
	err = http.Serve(ln, srv)
	fmt.Fprintln(os.Stderr, err)
	return 1
}

// ledgerChild is one ledger server process.
type ledgerChild struct {
	cmd    *exec.Cmd
	url    string
	stderr bytes.Buffer
	done   chan struct{}
}

func startLedgerChild(t *testing.T, dir string) *ledgerChild {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := &ledgerChild{cmd: exec.Command(exe, "-test.run=^$"), done: make(chan struct{})}
	c.cmd.Env = append(os.Environ(), childDirEnv+"="+dir)
	c.cmd.Stderr = &c.stderr
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			addr <- sc.Text()
		}
		close(addr)
		_, _ = io.Copy(io.Discard, out)
	}()
	go func() { _ = c.cmd.Wait(); close(c.done) }()
	t.Cleanup(func() { c.kill() })
	select {
	case a, ok := <-addr:
		if !ok {
			<-c.done
			t.Fatalf("ledger child printed no address; stderr:\n%s", c.stderr.String())
		}
		c.url = "http://" + a
	case <-time.After(30 * time.Second):
		t.Fatalf("ledger child did not start within 30s")
	}
	return c
}

// kill sends SIGKILL and waits for the process to be gone.
func (c *ledgerChild) kill() {
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.done
}

// A CAS ledger killed with SIGKILL at a random point while 16 clients charge
// concurrently (a fifth of them re-sending an order ID already sent) loses no
// acknowledged charge: after the restart every order that got a 200 is PAID
// with its amount, nothing is charged twice and the books balance. Five kills
// on the same database, so later rounds also check earlier rounds survived a
// second and third crash.
func TestKilledLedgerLosesNoCommittedCharge(t *testing.T) {
	if testing.Short() {
		t.Skip("kills real ledger processes")
	}
	dir := t.TempDir()
	tr := &http.Transport{MaxIdleConnsPerHost: 32}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	acked := map[string]int64{} // order ID → amount, every 200 so far
	const rounds, workers = 5, 16
	for round := range rounds {
		c := startLedgerChild(t, dir)
		if round > 0 {
			checkBooks(t, client, c.url, acked, round)
		}
		killAfter := time.Duration(100+rng.Intn(900)) * time.Millisecond
		var mu sync.Mutex
		var sent, ok, failed atomic.Int64
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewSource(int64(round*workers + w)))
				var mine []string
				for n := 0; ; n++ {
					select {
					case <-stop:
						return
					default:
					}
					id := fmt.Sprintf("r%d-w%d-%d", round, w, n)
					if len(mine) > 0 && r.Intn(5) == 0 { // 20 % re-sends
						id = mine[r.Intn(len(mine))]
					}
					amount := amountOf(id)
					sent.Add(1)
					code, o, err := postCharge(client, c.url, id, amount)
					if err != nil || code != http.StatusOK {
						failed.Add(1)
						continue
					}
					if o.Status != api.StatusPaid || o.AmountCents != amount {
						t.Errorf("charge %s answered %+v", id, o)
					}
					ok.Add(1)
					mine = append(mine, id)
					mu.Lock()
					acked[id] = amount
					mu.Unlock()
				}
			}()
		}
		time.Sleep(killAfter)
		c.kill()
		close(stop)
		wg.Wait()
		t.Logf("round %d: SIGKILL after %s: %d requests, %d acknowledged, %d failed by the kill; %d orders acknowledged so far",
			round, killAfter, sent.Load(), ok.Load(), failed.Load(), len(acked))
		if ok.Load() == 0 {
			t.Errorf("round %d: no charge acknowledged before the kill", round)
		}
	}
	c := startLedgerChild(t, dir)
	checkBooks(t, client, c.url, acked, rounds)
}

// amountOf gives every order ID one fixed amount, as the loadgen does.
func amountOf(id string) int64 {
	var h int64
	for _, b := range []byte(id) {
		h = h*31 + int64(b)
	}
	if h < 0 {
		h = -h
	}
	return 100 + h%10_000
}

func postCharge(client *http.Client, base, id string, amount int64) (int, api.Order, error) {
	body := fmt.Sprintf(`{"order_id":%q,"amount_cents":%d}`, id, amount)
	resp, err := client.Post(base+"/charges", "application/json", strings.NewReader(body))
	if err != nil {
		return 0, api.Order{}, err
	}
	defer resp.Body.Close()
	var o api.Order
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&o); err != nil {
			return 0, o, err
		}
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, o, nil
}

// checkBooks asserts every acknowledged order is PAID with its amount, no
// duplicate charge, one charge per paid order, and balanced books.
func checkBooks(t *testing.T, client *http.Client, base string, acked map[string]int64, round int) {
	t.Helper()
	lost := 0
	for id, amount := range acked {
		resp, err := client.Get(base + "/orders/" + id)
		if err != nil {
			t.Fatal(err)
		}
		var o api.Order
		err = json.NewDecoder(resp.Body).Decode(&o)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || err != nil || o.Status != api.StatusPaid || o.AmountCents != amount {
			lost++
			if lost <= 5 {
				t.Errorf("after kill %d: acknowledged order %s (%d cents) reads %d %+v (%v)", round, id, amount, resp.StatusCode, o, err)
			}
		}
	}
	resp, err := client.Get(base + "/balance")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tot ledger.Totals
	if err := json.NewDecoder(resp.Body).Decode(&tot); err != nil {
		t.Fatal(err)
	}
	t.Logf("after kill %d: %d acknowledged orders, %d lost; books %+v", round, len(acked), lost, tot)
	if lost > 0 {
		t.Errorf("after kill %d: %d of %d acknowledged charges lost", round, lost, len(acked))
	}
	if tot.DuplicateCharges != 0 || tot.DuplicateCents != 0 {
		t.Errorf("after kill %d: %d duplicate charges (%d cents)", round, tot.DuplicateCharges, tot.DuplicateCents)
	}
	if !tot.Balanced || tot.ChargedCents != tot.PaidCents {
		t.Errorf("after kill %d: books do not balance: charged %d, paid %d", round, tot.ChargedCents, tot.PaidCents)
	}
	if tot.PaidOrders < int64(len(acked)) || tot.Charges != tot.PaidOrders {
		t.Errorf("after kill %d: %d paid orders, %d charges, %d acknowledged", round, tot.PaidOrders, tot.Charges, len(acked))
	}
}
