package main

import (
	"crypto/subtle"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"time"
)

// proxyMain runs the bare reverse proxy (b) as a child process:
// `bench proxy -addr 127.0.0.1:0 -target URL -key KEY`.
// It does a key check and httputil.ReverseProxy, nothing else: the floor any
// gateway pays on this machine.
func proxyMain(args []string) {
	fs := flag.NewFlagSet("proxy", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address (loopback)")
	target := fs.String("target", "", "upstream base URL")
	key := fs.String("key", proxyKey, "accepted bearer key")
	_ = fs.Parse(args)
	u, err := url.Parse(*target)
	if err != nil || u.Host == "" {
		log.Fatalf("proxy: bad -target %q", *target)
	}
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        0, // no global limit
		MaxIdleConnsPerHost: 1024,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	rp := &httputil.ReverseProxy{
		Rewrite:       func(r *httputil.ProxyRequest) { r.SetURL(u) },
		Transport:     tr,
		FlushInterval: -1,
		ErrorLog:      log.New(os.Stderr, "bench proxy: ", 0),
	}
	want := []byte("Bearer " + *key)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":{"message":"invalid key"}}`)
			return
		}
		// Without full duplex, writing the response headers closes the
		// inbound body while the transport may still do its final EOF read
		// of it, which tears down the upstream connection mid-stream
		// (golang/go#40747).
		_ = http.NewResponseController(w).EnableFullDuplex()
		rp.ServeHTTP(w, r)
	})
	ln, err := listenLoopback(*addr)
	if err != nil {
		log.Fatalf("proxy: %v", err)
	}
	srv := &http.Server{Handler: h, ErrorLog: log.New(io.Discard, "", 0)}
	fmt.Printf("LISTEN %s\n", ln.Addr())
	exitOnStdinEOF()
	log.Fatal(srv.Serve(ln))
}
