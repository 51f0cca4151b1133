//go:build devstack

package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// The integration tests talk to a real SMTP server (go-smtp, with STARTTLS
// under a test CA and PLAIN auth) and a local server speaking Twilio's
// Messages API. Both record what arrived.

var codePattern = regexp.MustCompile(`\b(\d{6})\b`)

// received is one message as a provider got it.
type received struct {
	To, From, Subject, Text, HTML string
}

// inbox collects messages by recipient.
type inbox struct {
	mu   sync.Mutex
	msgs []received
	cond *sync.Cond
}

func newInbox() *inbox {
	in := &inbox{}
	in.cond = sync.NewCond(&in.mu)
	return in
}

func (in *inbox) add(m received) {
	in.mu.Lock()
	in.msgs = append(in.msgs, m)
	in.mu.Unlock()
	in.cond.Broadcast()
}

// all returns the messages to to.
func (in *inbox) all(to string) []received {
	in.mu.Lock()
	defer in.mu.Unlock()
	var out []received
	for _, m := range in.msgs {
		if m.To == to {
			out = append(out, m)
		}
	}
	return out
}

// wait returns the n-th message (1-based) to to, waiting up to 15 s.
func (in *inbox) wait(to string, n int) (received, error) {
	deadline := time.Now().Add(15 * time.Second)
	for {
		if ms := in.all(to); len(ms) >= n {
			return ms[n-1], nil
		}
		if time.Now().After(deadline) {
			return received{}, fmt.Errorf("no message #%d to %s within 15s", n, to)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func codeIn(text string) string {
	if m := codePattern.FindStringSubmatch(text); m != nil {
		return m[1]
	}
	return ""
}

// smtpServer is a real SMTP server requiring STARTTLS and PLAIN auth.
type smtpServer struct {
	*inbox
	addr   string
	caFile string
	mu     sync.Mutex
	srv    *smtp.Server
	tlsCfg *tls.Config
}

func startSMTP(dir string) (*smtpServer, error) {
	caPEM, cert, err := testCertificate("127.0.0.1")
	if err != nil {
		return nil, err
	}
	caFile := filepath.Join(dir, "smtp-ca.pem")
	if err := os.WriteFile(caFile, caPEM, 0o644); err != nil {
		return nil, err
	}
	s := &smtpServer{inbox: newInbox(), caFile: caFile, tlsCfg: &tls.Config{Certificates: []tls.Certificate{cert}}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.addr = l.Addr().String()
	s.serve(l)
	return s, nil
}

func (s *smtpServer) serve(l net.Listener) {
	srv := smtp.NewServer(smtpBackend{s.inbox})
	srv.Domain = "127.0.0.1"
	srv.TLSConfig = s.tlsCfg
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	go srv.Serve(l)
}

// URL is SMTP_URL for this server.
func (s *smtpServer) URL() string { return "smtp://mailer:mail-pass@" + s.addr }

// stop makes the server unreachable (an outage) until restart.
func (s *smtpServer) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.srv.Close()
}

// restart listens again on the same address.
func (s *smtpServer) restart() error {
	l, err := net.Listen("tcp", s.addr)
	if err != nil {
		return err
	}
	s.serve(l)
	return nil
}

type smtpBackend struct{ in *inbox }

func (b smtpBackend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &smtpSession{in: b.in, conn: c}, nil
}

type smtpSession struct {
	in     *inbox
	conn   *smtp.Conn
	authed bool
	from   string
	to     []string
}

func (s *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *smtpSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != "mailer" || password != "mail-pass" {
			return errors.New("invalid credentials")
		}
		s.authed = true
		return nil
	}), nil
}

func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if _, isTLS := s.conn.TLSConnectionState(); !isTLS || !s.authed {
		return &smtp.SMTPError{Code: 530, Message: "STARTTLS and AUTH first"}
	}
	s.from = from
	return nil
}

func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if strings.HasSuffix(to, "@bounce.example.com") {
		return &smtp.SMTPError{Code: 550, Message: "no such mailbox"}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *smtpSession) Data(r io.Reader) error {
	msg, err := mail.ReadMessage(r)
	if err != nil {
		return err
	}
	dec := new(mime.WordDecoder)
	subject, _ := dec.DecodeHeader(msg.Header.Get("Subject"))
	got := received{From: s.from, Subject: subject}
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		return err
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart() // quoted-printable is decoded by NextPart
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(p)
		if strings.HasPrefix(p.Header.Get("Content-Type"), "text/html") {
			got.HTML = string(b)
		} else {
			got.Text = string(b)
		}
	}
	for _, to := range s.to {
		m := got
		m.To = to
		s.in.add(m)
	}
	return nil
}

func (s *smtpSession) Reset()        { s.from, s.to = "", nil }
func (s *smtpSession) Logout() error { return nil }

// twilioServer speaks Twilio's Messages API: POST
// /2010-04-01/Accounts/{sid}/Messages.json, basic auth, form To/From/Body;
// 201 with a message resource, or Twilio's error JSON.
type twilioServer struct {
	*inbox
	url      string
	sid      string
	token    string
	mu       sync.Mutex
	failNext int // answer this many requests with 503
}

func startTwilio() (*twilioServer, error) {
	t := &twilioServer{inbox: newInbox(), sid: "AC00000000000000000000000000000000", token: "twilio-token"}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	t.url = "http://" + l.Addr().String()
	go http.Serve(l, t)
	return t, nil
}

func (t *twilioServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	fail := func(status, code int, msg string) {
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]any{"code": code, "message": msg, "status": status})
	}
	if r.Method != http.MethodPost || r.URL.Path != "/2010-04-01/Accounts/"+t.sid+"/Messages.json" {
		fail(404, 20404, "The requested resource was not found")
		return
	}
	if user, pass, ok := r.BasicAuth(); !ok || user != t.sid || pass != t.token {
		fail(401, 20003, "Authenticate")
		return
	}
	t.mu.Lock()
	if t.failNext > 0 {
		t.failNext--
		t.mu.Unlock()
		fail(503, 20503, "Service unavailable")
		return
	}
	t.mu.Unlock()
	to, from, body := r.PostFormValue("To"), r.PostFormValue("From"), r.PostFormValue("Body")
	if !regexp.MustCompile(`^(whatsapp:)?\+[1-9]\d{6,14}$`).MatchString(to) {
		fail(400, 21211, "The 'To' number is not a valid phone number.")
		return
	}
	if body == "" || from == "" {
		fail(400, 21602, "Message body is required.")
		return
	}
	t.add(received{To: to, From: from, Text: body})
	w.WriteHeader(201)
	json.NewEncoder(w).Encode(map[string]any{"sid": "SM" + strings.Repeat("0", 32), "status": "queued", "to": to, "from": from, "body": body})
}

// testCertificate makes a CA and a server certificate for host, returning the
// CA in PEM (for SMTP_CA_FILE) and the server's key pair.
func testCertificate(host string) ([]byte, tls.Certificate, error) {
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "blink-consent test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP(host)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
