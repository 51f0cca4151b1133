//go:build devstack

package main

import (
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// sink is an SMTP server in this process that keeps the sign-in codes it is
// sent, by recipient, for the simulated browsers to type in.
type sink struct {
	addr  string
	srv   *smtp.Server
	mu    sync.Mutex
	codes map[string]chan arrival
}

// arrival is one code and when the sink had its whole message.
type arrival struct {
	code string
	at   time.Time
}

var codePattern = regexp.MustCompile(`\b(\d{6})\b`)

func startSink() (*sink, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &sink{addr: l.Addr().String(), codes: map[string]chan arrival{}}
	s.srv = smtp.NewServer(s)
	s.srv.Domain = "127.0.0.1"
	s.srv.ReadTimeout, s.srv.WriteTimeout = 10*time.Second, 10*time.Second
	go s.srv.Serve(l)
	return s, nil
}

// URL is SMTP_URL for the service: plain SMTP, which DEV_MODE allows.
func (s *sink) URL() string { return "smtp://" + s.addr + "?disable_starttls=true" }

func (s *sink) Close() { s.srv.Close() }

func (s *sink) inbox(to string) chan arrival {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.codes[to]
	if c == nil {
		c = make(chan arrival, 16)
		s.codes[to] = c
	}
	return c
}

// code waits for the next code sent to to.
func (s *sink) code(to string, timeout time.Duration) (arrival, error) {
	select {
	case a := <-s.inbox(to):
		return a, nil
	case <-time.After(timeout):
		return arrival{}, errors.New("no code by email within " + timeout.String())
	}
}

func (s *sink) NewSession(*smtp.Conn) (smtp.Session, error) { return &sinkSession{sink: s}, nil }

type sinkSession struct {
	sink *sink
	to   []string
}

func (ss *sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (ss *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, strings.ToLower(to))
	return nil
}
func (ss *sinkSession) Reset()        { ss.to = nil }
func (ss *sinkSession) Logout() error { return nil }

func (ss *sinkSession) Data(r io.Reader) error {
	msg, err := mail.ReadMessage(r)
	if err != nil {
		return err
	}
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		return err
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart() // quoted-printable is decoded by NextPart
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if !strings.HasPrefix(p.Header.Get("Content-Type"), "text/plain") {
			continue
		}
		b, _ := io.ReadAll(p)
		if m := codePattern.FindSubmatch(b); m != nil {
			a := arrival{code: string(m[1]), at: time.Now()}
			for _, to := range ss.to {
				select {
				case ss.sink.inbox(to) <- a:
				default: // nobody is waiting for that many codes
				}
			}
		}
	}
}
