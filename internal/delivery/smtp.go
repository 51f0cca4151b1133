package delivery

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"net/url"
	"os"
	"strings"
	"time"
)

// SMTP sends email. smtp:// requires STARTTLS, smtps:// is implicit TLS, and
// plain SMTP needs ?disable_starttls=true (local test servers only), as in Ory
// Kratos' courier. TLS 1.2 or newer, certificates verified.
type SMTP struct {
	addr     string
	host     string
	implicit bool
	starttls bool
	username string
	password string
	from     mail.Address
	tls      *tls.Config
	timeout  time.Duration
}

// NewSMTP parses SMTP_URL, SMTP_FROM and the optional SMTP_CA_FILE (a PEM
// bundle trusted in addition to the system roots, for private relays).
func NewSMTP(rawURL, from, caFile string) (*SMTP, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return nil, errors.New("SMTP_URL: must be smtp://user:pass@host:port or smtps://…")
	}
	s := &SMTP{host: u.Hostname(), timeout: 30 * time.Second}
	port := u.Port()
	switch u.Scheme {
	case "smtp":
		s.starttls = u.Query().Get("disable_starttls") != "true"
		if port == "" {
			port = "587"
		}
	case "smtps":
		s.implicit = true
		if port == "" {
			port = "465"
		}
	default:
		return nil, errors.New("SMTP_URL: the scheme must be smtp or smtps")
	}
	s.addr = net.JoinHostPort(s.host, port)
	if u.User != nil {
		s.username = u.User.Username()
		s.password, _ = u.User.Password()
	}
	addr, err := mail.ParseAddress(from)
	if err != nil {
		return nil, errors.New("SMTP_FROM: must be an address such as Blink <no-reply@blink.sv>")
	}
	s.from = *addr
	s.tls = &tls.Config{ServerName: s.host, MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("SMTP_CA_FILE: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("SMTP_CA_FILE: no PEM certificate in it")
		}
		s.tls.RootCAs = pool
	}
	return s, nil
}

// Send delivers one email with a text and an HTML part.
func (s *SMTP) Send(ctx context.Context, e Envelope) error {
	msg, err := s.compose(e)
	if err != nil {
		return Permanent(err)
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	var conn net.Conn
	if s.implicit {
		conn, err = (&tls.Dialer{NetDialer: dialer, Config: s.tls}).DialContext(ctx, "tcp", s.addr)
	} else {
		conn, err = dialer.DialContext(ctx, "tcp", s.addr)
	}
	if err != nil {
		return fmt.Errorf("smtp: connect: %w", err)
	}
	defer conn.Close()
	deadline := time.Now().Add(s.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	conn.SetDeadline(deadline)

	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		return classifySMTP("greeting", err)
	}
	defer c.Close()
	if err := c.Hello("localhost"); err != nil {
		return classifySMTP("EHLO", err)
	}
	if s.starttls {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return errors.New("smtp: the server does not offer STARTTLS, which SMTP_URL requires")
		}
		if err := c.StartTLS(s.tls); err != nil {
			return fmt.Errorf("smtp: STARTTLS: %w", err)
		}
	}
	if s.username != "" {
		if err := c.Auth(smtp.PlainAuth("", s.username, s.password, s.host)); err != nil {
			return classifySMTP("AUTH", err)
		}
	}
	if err := c.Mail(s.from.Address); err != nil {
		return classifySMTP("MAIL", err)
	}
	if err := c.Rcpt(e.To); err != nil {
		return classifySMTP("RCPT", err)
	}
	w, err := c.Data()
	if err != nil {
		return classifySMTP("DATA", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("smtp: writing: %w", err)
	}
	if err := w.Close(); err != nil {
		return classifySMTP("end of DATA", err)
	}
	return c.Quit()
}

// classifySMTP makes a 5xx reply permanent; 4xx and network errors are retried.
func classifySMTP(step string, err error) error {
	var te *textproto.Error
	if errors.As(err, &te) && te.Code >= 500 {
		return Permanent(fmt.Errorf("smtp: %s: %d %s", step, te.Code, te.Msg))
	}
	return fmt.Errorf("smtp: %s: %w", step, err)
}

func (s *SMTP) compose(e Envelope) ([]byte, error) {
	if strings.ContainsAny(e.To, "\r\n") || strings.ContainsAny(e.Subject, "\r\n") {
		return nil, errors.New("smtp: header injection refused")
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, part := range []struct{ ctype, content string }{{"text/plain; charset=utf-8", e.Text}, {"text/html; charset=utf-8", e.HTML}} {
		if part.content == "" {
			continue
		}
		pw, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {part.ctype}, "Content-Transfer-Encoding": {"quoted-printable"}})
		if err != nil {
			return nil, err
		}
		qp := quotedprintable.NewWriter(pw)
		qp.Write([]byte(part.content))
		qp.Close()
	}
	mw.Close()

	id := make([]byte, 12)
	rand.Read(id)
	domain := s.from.Address[strings.LastIndex(s.from.Address, "@")+1:]
	var msg bytes.Buffer
	fmt.Fprintf(&msg, "From: %s\r\n", s.from.String())
	fmt.Fprintf(&msg, "To: %s\r\n", e.To)
	fmt.Fprintf(&msg, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", e.Subject))
	fmt.Fprintf(&msg, "Date: %s\r\n", time.Now().Format(time.RFC1123Z))
	fmt.Fprintf(&msg, "Message-ID: <%s@%s>\r\n", hex.EncodeToString(id), domain)
	fmt.Fprintf(&msg, "MIME-Version: 1.0\r\n")
	fmt.Fprintf(&msg, "Auto-Submitted: auto-generated\r\n")
	fmt.Fprintf(&msg, "Content-Type: multipart/alternative; boundary=%q\r\n\r\n", mw.Boundary())
	msg.Write(body.Bytes())
	return msg.Bytes(), nil
}
