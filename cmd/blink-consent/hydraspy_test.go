//go:build devstack

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// hydraSpy stands between the service and Hydra's admin API and records every
// login accept Hydra received, so a test can assert on what Hydra was told.
type hydraSpy struct {
	URL     string
	server  *http.Server
	mu      sync.Mutex
	accepts []loginAccept
	calls   []spyCall
	// holdAccepts delays every login accept by this many nanoseconds, to keep
	// a request in flight.
	holdAccepts atomic.Int64
}

// spyCall is one admin call as it reached Hydra: its path, the login
// challenge it names (if any) and its trace context.
type spyCall struct {
	Method, Path, LoginChallenge, Traceparent, Baggage string
}

// loginAccept is one accept body Hydra answered with 200.
type loginAccept struct {
	Challenge string
	Subject   string   `json:"subject"`
	ACR       string   `json:"acr"`
	AMR       []string `json:"amr"`
}

func startHydraSpy(adminURL string) (*hydraSpy, error) {
	target, err := url.Parse(adminURL)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &hydraSpy{URL: "http://" + l.Addr().String()}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(resp *http.Response) error {
		req := resp.Request
		if req.Method != http.MethodPut || !strings.HasSuffix(req.URL.Path, "/requests/login/accept") || resp.StatusCode != http.StatusOK {
			return nil
		}
		body, _ := req.Context().Value(spyBodyKey{}).([]byte)
		var a loginAccept
		if err := json.Unmarshal(body, &a); err == nil {
			a.Challenge = req.URL.Query().Get("login_challenge")
			s.mu.Lock()
			s.accepts = append(s.accepts, a)
			s.mu.Unlock()
		}
		return nil
	}
	s.server = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		s.mu.Lock()
		s.calls = append(s.calls, spyCall{Method: r.Method, Path: r.URL.Path, LoginChallenge: r.URL.Query().Get("login_challenge"),
			Traceparent: r.Header.Get("traceparent"), Baggage: r.Header.Get("baggage")})
		s.mu.Unlock()
		if r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/requests/login/accept") {
			time.Sleep(time.Duration(s.holdAccepts.Load()))
		}
		proxy.ServeHTTP(w, r.WithContext(contextWithBody(r, body)))
	})}
	go s.server.Serve(l)
	return s, nil
}

// Close stops the spy.
func (s *hydraSpy) Close() { s.server.Close() }

// Accepts returns the login accepts Hydra received for challenge.
func (s *hydraSpy) Accepts(challenge string) []loginAccept {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []loginAccept
	for _, a := range s.accepts {
		if a.Challenge == challenge {
			out = append(out, a)
		}
	}
	return out
}

// LoginRejects counts the login rejects Hydra received for challenge.
func (s *hydraSpy) LoginRejects(challenge string) int {
	n := 0
	for _, c := range s.Calls() {
		if c.Method == http.MethodPut && strings.HasSuffix(c.Path, "/requests/login/reject") && c.LoginChallenge == challenge {
			n++
		}
	}
	return n
}

// Calls returns every admin call Hydra received through the spy.
func (s *hydraSpy) Calls() []spyCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]spyCall(nil), s.calls...)
}

type spyBodyKey struct{}

func contextWithBody(r *http.Request, body []byte) context.Context {
	return context.WithValue(r.Context(), spyBodyKey{}, body)
}
