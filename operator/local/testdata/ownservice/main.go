// Command ownservice is a small Go HTTP service for the local backend's
// own-service tests: it is nobody's victim, just a service as users write
// them. GET / answers 200; GET /leak answers 200 and leaks a goroutine
// blocked for ever on a channel send; GET /fail answers 500. It serves
// go_goroutines at /metrics and, unless -no-pprof, net/http/pprof.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime"
)

func main() {
	listen := flag.String("listen", ":"+os.Getenv("PORT"), "address to serve on")
	noPprof := flag.Bool("no-pprof", false, "do not serve /debug/pprof/")
	flag.Parse()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /leak", func(w http.ResponseWriter, _ *http.Request) {
		ch := make(chan int)
		go func() { ch <- 1 }() // nobody ever receives: leaked
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /fail", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "failing on purpose", http.StatusInternalServerError)
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "# TYPE go_goroutines gauge\ngo_goroutines %d\n", runtime.NumGoroutine())
	})
	if !*noPprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
	}
	log.Fatal(http.ListenAndServe(*listen, mux))
}
