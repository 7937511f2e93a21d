// Command fakevictim stands in for the victim binary in the local backend's
// tests: it accepts the victim's command line, serves /metrics, /healthz and
// /readyz on the admin address and POST /orders/{id}/pay on the app address
// (forwarding to --ledger-url or the first --orders-url when given), and can
// be told through the environment to crash:
//
//	FAKEVICTIM_CRASH=ROLE          crash processes of that role
//	FAKEVICTIM_CRASH_AFTER=300ms   how long after start (default 100ms)
//	FAKEVICTIM_CRASH_ONCE=DIR      crash only once per pod (marker file in DIR)
//
// Before crashing it writes "ts=<unix nanoseconds>" to stderr so a test can
// measure how long the supervisor takes to report the exit.
package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() {
	flags := map[string]string{}
	for _, a := range os.Args[1:] {
		k, v, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		flags[k] = v
	}
	role := flags["role"]
	upstream := flags["ledger-url"]
	if u := flags["orders-url"]; u != "" {
		upstream = strings.Split(u, ",")[0]
	}
	if role == "loadgen" {
		upstream = flags["target"]
	}
	fmt.Fprintf(os.Stderr, "fakevictim role=%s listen=%s admin=%s upstream=%s\n", role, flags["listen"], flags["admin-listen"], upstream)

	admin := http.NewServeMux()
	admin.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "# TYPE go_goroutines gauge\ngo_goroutines 7\n")
	})
	ok := func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") }
	admin.HandleFunc("/healthz", ok)
	admin.HandleFunc("/readyz", ok)
	serve(flags["admin-listen"], admin)

	if role != "loadgen" {
		app := http.NewServeMux()
		client := &http.Client{Timeout: 5 * time.Second}
		app.HandleFunc("POST /orders/{id}/pay", func(w http.ResponseWriter, r *http.Request) {
			if upstream == "" {
				fmt.Fprintf(w, `{"id":%q,"state":"PAID"}`, r.PathValue("id"))
				return
			}
			resp, err := client.Post(upstream+r.URL.Path, "application/json", r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			defer resp.Body.Close()
			w.WriteHeader(resp.StatusCode)
			io.Copy(w, resp.Body)
		})
		serve(flags["listen"], app)
	}

	if os.Getenv("FAKEVICTIM_CRASH") == role {
		after, err := time.ParseDuration(os.Getenv("FAKEVICTIM_CRASH_AFTER"))
		if err != nil {
			after = 100 * time.Millisecond
		}
		crash := true
		if dir := os.Getenv("FAKEVICTIM_CRASH_ONCE"); dir != "" {
			marker := filepath.Join(dir, "crashed-"+strings.ReplaceAll(flags["admin-listen"], ":", "_"))
			if _, err := os.Stat(marker); err == nil {
				crash = false
			} else {
				os.WriteFile(marker, nil, 0o644)
			}
		}
		if crash {
			go func() {
				time.Sleep(after)
				fmt.Fprintf(os.Stderr, "ts=%d\nfatal error: concurrent map writes\n\ngoroutine 7 [running]:\nmain.main()\n", time.Now().UnixNano())
				os.Exit(2)
			}()
		}
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	fmt.Fprintln(os.Stderr, "fakevictim: terminated")
}

func serve(addr string, h http.Handler) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "listen %s: %v\n", addr, err)
		os.Exit(1)
	}
	go http.Serve(ln, h)
}
