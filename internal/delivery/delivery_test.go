package delivery

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/blinkbitcoin/blink-consent/internal/i18n"
	"github.com/blinkbitcoin/blink-consent/internal/secret"
	"github.com/blinkbitcoin/blink-consent/internal/store"
)

// plainSMTP is a go-smtp server without TLS, answering RCPT with rcptCode.
func plainSMTP(t *testing.T, rcptCode int) (addr string, got chan string) {
	got = make(chan string, 4)
	srv := smtp.NewServer(backend{got: got, rcptCode: rcptCode})
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String(), got
}

type backend struct {
	got      chan string
	rcptCode int
}

func (b backend) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{b: b}, nil }

type session struct{ b backend }

func (s *session) Mail(string, *smtp.MailOptions) error { return nil }
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.b.rcptCode != 0 {
		return &smtp.SMTPError{Code: s.b.rcptCode, Message: "no"}
	}
	return nil
}
func (s *session) Data(r io.Reader) error {
	b, _ := io.ReadAll(r)
	s.b.got <- string(b)
	return nil
}
func (s *session) Reset()        {}
func (s *session) Logout() error { return nil }

var env = Envelope{Channel: "email", To: "maria@example.com", Subject: "Your Blink sign-in code", Text: "Code 123456", HTML: "<p>123456</p>"}

func TestSMTPRequiresSTARTTLSUnlessDisabled(t *testing.T) {
	addr, got := plainSMTP(t, 0)
	strict, err := NewSMTP("smtp://"+addr, "Blink <no-reply@blink.sv>", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := strict.Send(context.Background(), env); err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("smtp:// to a server without STARTTLS: %v", err)
	}
	plain, _ := NewSMTP("smtp://"+addr+"?disable_starttls=true", "Blink <no-reply@blink.sv>", "")
	if err := plain.Send(context.Background(), env); err != nil {
		t.Fatalf("plain SMTP when allowed: %v", err)
	}
	msg := <-got
	for _, want := range []string{"From: \"Blink\" <no-reply@blink.sv>", "To: maria@example.com", "Subject: Your Blink sign-in code",
		"multipart/alternative", "text/plain; charset=utf-8", "text/html; charset=utf-8", "Code 123456"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the message lacks %q:\n%s", want, msg)
		}
	}
}

func TestSMTPFailures(t *testing.T) {
	addr, _ := plainSMTP(t, 550)
	s, _ := NewSMTP("smtp://"+addr+"?disable_starttls=true", "no-reply@blink.sv", "")
	var perm *PermanentError
	if err := s.Send(context.Background(), env); !errors.As(err, &perm) {
		t.Errorf("550: %v, want permanent", err)
	}
	addr, _ = plainSMTP(t, 451)
	s, _ = NewSMTP("smtp://"+addr+"?disable_starttls=true", "no-reply@blink.sv", "")
	if err := s.Send(context.Background(), env); err == nil || errors.As(err, &perm) {
		t.Errorf("451: %v, want a temporary error", err)
	}
	s, _ = NewSMTP("smtps://127.0.0.1:1", "no-reply@blink.sv", "")
	if err := s.Send(context.Background(), env); err == nil || errors.As(err, &perm) {
		t.Errorf("unreachable: %v, want a temporary error", err)
	}
	bad := env
	bad.To = "a@b.c\r\nBcc: x@y.z"
	if err := s.Send(context.Background(), bad); !errors.As(err, &perm) {
		t.Errorf("header injection: %v", err)
	}
	for _, u := range []string{"http://x", "smtp://", "%%"} {
		if _, err := NewSMTP(u, "a@b.c", ""); err == nil {
			t.Errorf("NewSMTP(%q) accepted", u)
		}
	}
}

func TestTwilioWireFormatAndErrors(t *testing.T) {
	var status int
	var form map[string]string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, _ := r.BasicAuth()
		r.ParseForm()
		form = map[string]string{"path": r.URL.Path, "user": user, "pass": pass, "To": r.PostForm.Get("To"), "From": r.PostForm.Get("From"), "Body": r.PostForm.Get("Body")}
		w.WriteHeader(status)
		w.Write([]byte(`{"code": 21211, "message": "The 'To' number +50370000000 is not valid"}`))
	}))
	defer srv.Close()
	tw := Twilio{APIURL: srv.URL, AccountSID: "AC1", AuthToken: "tok", From: "+15005550006"}
	sms := Envelope{Channel: "sms", To: "+50370000000", Text: "Code 123456"}
	status = 201
	if err := tw.Send(context.Background(), sms); err != nil {
		t.Fatal(err)
	}
	if form["path"] != "/2010-04-01/Accounts/AC1/Messages.json" || form["user"] != "AC1" || form["pass"] != "tok" ||
		form["To"] != "+50370000000" || form["From"] != "+15005550006" || form["Body"] != "Code 123456" {
		t.Errorf("request %v", form)
	}
	tw.WhatsApp = true
	tw.Send(context.Background(), sms)
	if form["To"] != "whatsapp:+50370000000" || form["From"] != "whatsapp:+15005550006" {
		t.Errorf("WhatsApp request %v", form)
	}
	var perm *PermanentError
	for code, permanent := range map[int]bool{400: true, 401: true, 429: false, 500: false, 503: false} {
		status = code
		err := tw.Send(context.Background(), sms)
		if err == nil || errors.As(err, &perm) != permanent {
			t.Errorf("HTTP %d: %v (permanent %v)", code, err, permanent)
		}
		if err != nil && strings.Contains(err.Error(), "+50370000000") {
			t.Errorf("HTTP %d: the error quotes the provider's body", code)
		}
	}
}

func TestWebhook(t *testing.T) {
	var body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		body = string(b)
	}))
	defer srv.Close()
	if err := (Webhook{URL: srv.URL}).Send(context.Background(), Envelope{Channel: "sms", To: "+1555", Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	if body != `{"body":"hi","channel":"sms","to":"+1555"}` {
		t.Errorf("body %s", body)
	}
}

// fakeOutbox hands out one message and records its outcome.
type fakeOutbox struct {
	m       *store.OutboxMessage
	status  string
	retryIn time.Duration
}

func (f *fakeOutbox) ClaimMessage(context.Context, time.Duration) (store.OutboxMessage, error) {
	if f.m == nil {
		return store.OutboxMessage{}, store.ErrNotFound
	}
	m := *f.m
	f.m = nil
	return m, nil
}

func (f *fakeOutbox) FinishMessage(_ context.Context, _ int64, status string, retryIn time.Duration, _ string) error {
	f.status, f.retryIn = status, retryIn
	return nil
}

type failing struct{ err error }

func (s failing) Send(context.Context, Envelope) error { return s.err }

func TestWorkerOutcomes(t *testing.T) {
	keys := secret.NewKeys([]byte(strings.Repeat("k", 32)))
	now := time.Now()
	sealed, _ := Seal(keys, Envelope{Channel: "sms", To: "+1555", Text: "x"}, now.Add(10*time.Minute))
	msg := func(attempts int, notAfter time.Time) *store.OutboxMessage {
		return &store.OutboxMessage{ID: 1, Channel: "sms", Destination: "+1555", Sealed: sealed.Sealed, Attempts: attempts, NotAfter: notAfter}
	}
	for name, tc := range map[string]struct {
		m      *store.OutboxMessage
		sender Sender
		status string
	}{
		"sent":         {msg(1, now.Add(time.Minute)), failing{nil}, "sent"},
		"temporary":    {msg(1, now.Add(time.Minute)), failing{errors.New("503")}, "queued"},
		"permanent":    {msg(1, now.Add(time.Minute)), failing{Permanent(errors.New("400"))}, "failed"},
		"out of tries": {msg(8, now.Add(time.Minute)), failing{errors.New("503")}, "abandoned"},
		"expired":      {msg(1, now.Add(-time.Second)), failing{nil}, "abandoned"},
		"no sender":    {&store.OutboxMessage{ID: 1, Channel: "whatsapp", Destination: "+1555", Sealed: sealed.Sealed, Attempts: 1, NotAfter: now.Add(time.Minute)}, failing{nil}, "failed"},
		"unopenable":   {&store.OutboxMessage{ID: 1, Channel: "sms", Destination: "+1666", Sealed: sealed.Sealed, Attempts: 1, NotAfter: now.Add(time.Minute)}, failing{nil}, "failed"},
	} {
		ob := &fakeOutbox{m: tc.m}
		w := &Worker{Outbox: ob, Keys: keys, Senders: map[string]Sender{"sms": tc.sender}}
		if worked, err := w.Once(context.Background()); !worked || err != nil {
			t.Fatalf("%s: %v %v", name, worked, err)
		}
		if ob.status != tc.status {
			t.Errorf("%s: %s, want %s", name, ob.status, tc.status)
		}
		if tc.status == "queued" && (ob.retryIn < time.Second || ob.retryIn > time.Minute) {
			t.Errorf("%s: backoff %v", name, ob.retryIn)
		}
	}
}

func TestCodeEnvelope(t *testing.T) {
	sms := CodeEnvelope(i18n.Spanish, "sms", "+50370000000", "123456", 10*time.Minute, "login.blink.sv")
	if !strings.HasPrefix(sms.Text, "Tu código para iniciar sesión en Blink es 123456. Caduca en 10 minutos.") || !strings.HasSuffix(sms.Text, "\n\n@login.blink.sv #123456") {
		t.Errorf("SMS %q", sms.Text)
	}
	email := CodeEnvelope(i18n.English, "email", "a@b.c", "654321", 10*time.Minute, "login.blink.sv")
	if email.Subject != "Your Blink sign-in code" || !strings.Contains(email.HTML, "654321") || strings.Contains(email.Text, "@login.blink.sv") {
		t.Errorf("email %+v", email)
	}
}
