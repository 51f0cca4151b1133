package delivery

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
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
	var body []byte
	var signature string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ = io.ReadAll(r.Body)
		signature = r.Header.Get("X-Blink-Signature")
	}))
	defer srv.Close()
	const key = "0123456789abcdef0123456789abcdef"
	if err := (Webhook{URL: srv.URL, Secret: key}).Send(context.Background(), Envelope{Channel: "sms", To: "+1555", Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	if string(body) != `{"body":"hi","channel":"sms","to":"+1555"}` {
		t.Errorf("body %s", body)
	}
	now := time.Now()
	if !verifyBlinkSignature(key, signature, body, now) {
		t.Fatalf("the gateway cannot verify %q", signature)
	}
	tampered := []byte(strings.Replace(string(body), "+1555", "+1556", 1))
	if verifyBlinkSignature(key, signature, tampered, now) {
		t.Error("a tampered body verified")
	}
	if verifyBlinkSignature("another secret, just as long....", signature, body, now) {
		t.Error("another secret verified")
	}
	if verifyBlinkSignature(key, signature, body, now.Add(10*time.Minute)) {
		t.Error("a 10-minute-old request verified")
	}
	ts, _, _ := strings.Cut(signature, ",")
	if verifyBlinkSignature(key, "t="+strconv.FormatInt(now.Unix()+1, 10)+signature[len(ts):], body, now) {
		t.Error("a signature verified under another time")
	}
}

// verifyBlinkSignature is what a gateway runs (the snippet in docs/login.md).
func verifyBlinkSignature(secret, header string, body []byte, now time.Time) bool {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || now.Sub(time.Unix(t, 0)).Abs() > 5*time.Minute {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	return hmac.Equal([]byte(sig), []byte(hex.EncodeToString(mac.Sum(nil))))
}

// A redirect would re-post the code to another server: refused, never followed.
func TestSMSClientsRefuseRedirects(t *testing.T) {
	var hits atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer elsewhere.Close()
	for _, status := range []int{http.StatusTemporaryRedirect, http.StatusPermanentRedirect, http.StatusFound} {
		redirecting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, elsewhere.URL+r.URL.Path, status)
		}))
		sms := Envelope{Channel: "sms", To: "+50370000000", Text: "Code 123456"}
		for name, s := range map[string]Sender{
			"webhook": Webhook{URL: redirecting.URL, Secret: strings.Repeat("s", 32)},
			"twilio":  Twilio{APIURL: redirecting.URL, AccountSID: "AC1", AuthToken: "tok", From: "+15005550006"},
		} {
			err := s.Send(context.Background(), sms)
			var perm *PermanentError
			if !errors.As(err, &perm) || !strings.Contains(err.Error(), "redirect") {
				t.Errorf("%s, HTTP %d: %v, want a permanent failure naming the redirect", name, status, err)
			}
		}
		redirecting.Close()
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the redirect target got %d requests", n)
	}
}

// fakeOutbox hands out one message and records its outcome.
type fakeOutbox struct {
	m       *store.OutboxMessage
	status  string
	retryIn time.Duration
	sender  string
}

func (f *fakeOutbox) ClaimMessage(context.Context, time.Duration) (store.OutboxMessage, error) {
	if f.m == nil {
		return store.OutboxMessage{}, store.ErrNotFound
	}
	m := *f.m
	f.m = nil
	return m, nil
}

func (f *fakeOutbox) FinishMessage(_ context.Context, _ int64, o store.Outcome) error {
	f.status, f.retryIn, f.sender = o.Status, o.RetryIn, o.Sender
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
		m       *store.OutboxMessage
		sender  Sender
		status  string
		counted string // channel/outcome the metrics heard
	}{
		"sent":       {msg(1, now.Add(time.Minute)), failing{nil}, "sent", "sms/sent"},
		"temporary":  {msg(1, now.Add(time.Minute)), failing{errors.New("503")}, "queued", "sms/retry"},
		"permanent":  {msg(1, now.Add(time.Minute)), failing{Permanent(errors.New("400"))}, "failed", "sms/failed"},
		"many tries": {msg(40, now.Add(time.Minute)), failing{errors.New("503")}, "queued", "sms/retry"},
		"expired":    {msg(1, now.Add(-time.Second)), failing{nil}, "abandoned", "sms/abandoned"},
		"no sender":  {&store.OutboxMessage{ID: 1, Channel: "whatsapp", Destination: "+1555", Sealed: sealed.Sealed, Attempts: 1, NotAfter: now.Add(time.Minute)}, failing{nil}, "failed", "whatsapp/failed"},
		"unopenable": {&store.OutboxMessage{ID: 1, Channel: "sms", Destination: "+1666", Sealed: sealed.Sealed, Attempts: 1, NotAfter: now.Add(time.Minute)}, failing{nil}, "failed", "sms/failed"},
	} {
		ob := &fakeOutbox{m: tc.m}
		counts := &codeCounts{}
		w := &Worker{Outbox: ob, Keys: keys, Senders: map[string]Sender{"sms": tc.sender}, Metrics: counts}
		if worked, err := w.Once(context.Background()); !worked || err != nil {
			t.Fatalf("%s: %v %v", name, worked, err)
		}
		if ob.status != tc.status {
			t.Errorf("%s: %s, want %s", name, ob.status, tc.status)
		}
		if fmt.Sprint(counts.got) != "["+tc.counted+"]" {
			t.Errorf("%s: the metrics heard %v, want [%s]", name, counts.got, tc.counted)
		}
		if tc.status == "queued" && (ob.retryIn < time.Second || ob.retryIn > time.Minute) {
			t.Errorf("%s: backoff %v", name, ob.retryIn)
		}
	}
}

// A provider outage longer than the old 8-try budget (about 4 minutes) but
// shorter than the code's life loses nothing: the worker keeps trying, at
// most MaxBackoff apart, and delivers once the provider is back.
func TestWorkerOutlastsAnOutage(t *testing.T) {
	keys := secret.NewKeys([]byte(strings.Repeat("k", 32)))
	clock := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	notAfter := clock.Add(10 * time.Minute)
	sealed, _ := Seal(keys, Envelope{Channel: "sms", To: "+1555", Text: "Code 123456"}, notAfter)
	backAt := clock.Add(7 * time.Minute)
	var delivered []string
	provider := senderFunc(func(_ context.Context, e Envelope) error {
		if clock.Before(backAt) {
			return errors.New("HTTP 503")
		}
		delivered = append(delivered, e.Text)
		return nil
	})
	ob := &fakeOutbox{}
	w := &Worker{Outbox: ob, Keys: keys, Senders: map[string]Sender{"sms": provider}, Now: func() time.Time { return clock }}
	var longest time.Duration
	for attempt := 1; attempt <= 1000; attempt++ {
		ob.m = &store.OutboxMessage{ID: 1, Channel: "sms", Destination: "+1555", Sealed: sealed.Sealed, Attempts: attempt, NotAfter: notAfter}
		if _, err := w.Once(context.Background()); err != nil {
			t.Fatal(err)
		}
		if ob.status != "queued" {
			break
		}
		longest = max(longest, ob.retryIn)
		clock = clock.Add(ob.retryIn)
	}
	if ob.status != "sent" || len(delivered) != 1 || ob.sender != "other" {
		t.Fatalf("after a 7-minute outage: %s by %q, %d delivered", ob.status, ob.sender, len(delivered))
	}
	if longest > time.Minute {
		t.Errorf("a backoff of %v, over the 1-minute cap", longest)
	}
	if late := clock.Sub(backAt); late > time.Minute {
		t.Errorf("delivered %v after the provider came back", late)
	}
}

// The worker gives up once the code has expired, not before.
func TestWorkerStopsAtTheCodesExpiry(t *testing.T) {
	keys := secret.NewKeys([]byte(strings.Repeat("k", 32)))
	clock := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	notAfter := clock.Add(10 * time.Minute)
	sealed, _ := Seal(keys, Envelope{Channel: "sms", To: "+1555", Text: "x"}, notAfter)
	ob := &fakeOutbox{}
	w := &Worker{Outbox: ob, Keys: keys, Senders: map[string]Sender{"sms": failing{errors.New("HTTP 503")}}, Now: func() time.Time { return clock }}
	for attempt := 1; attempt <= 1000 && ob.status != "abandoned"; attempt++ {
		ob.m = &store.OutboxMessage{ID: 1, Channel: "sms", Destination: "+1555", Sealed: sealed.Sealed, Attempts: attempt, NotAfter: notAfter}
		if _, err := w.Once(context.Background()); err != nil {
			t.Fatal(err)
		}
		clock = clock.Add(ob.retryIn)
	}
	if ob.status != "abandoned" || clock.Before(notAfter) || clock.After(notAfter.Add(time.Second)) {
		t.Errorf("%s at %v, the code expires at %v", ob.status, clock, notAfter)
	}
}

// Each message records the sender that handled it; the development page
// lists only the development logger's.
func TestWorkerRecordsTheSender(t *testing.T) {
	keys := secret.NewKeys([]byte(strings.Repeat("k", 32)))
	now := time.Now()
	for name, tc := range map[string]struct {
		sender Sender
		want   string
	}{
		"dev":     {Dev{Logger: slog.New(slog.DiscardHandler)}, "dev"},
		"twilio":  {Twilio{APIURL: "http://127.0.0.1:1"}, "twilio"},
		"webhook": {Webhook{URL: "http://127.0.0.1:1"}, "webhook"},
		"smtp":    {&SMTP{addr: "127.0.0.1:1"}, "smtp"},
	} {
		sealed, _ := Seal(keys, Envelope{Channel: "email", To: "a@b.c", Text: "x"}, now.Add(time.Minute))
		ob := &fakeOutbox{m: &store.OutboxMessage{ID: 1, Channel: "email", Destination: "a@b.c", Sealed: sealed.Sealed, Attempts: 1, NotAfter: now.Add(time.Minute)}}
		w := &Worker{Outbox: ob, Keys: keys, Senders: map[string]Sender{"email": tc.sender}}
		if _, err := w.Once(context.Background()); err != nil {
			t.Fatal(err)
		}
		if ob.sender != tc.want {
			t.Errorf("%s: recorded %q (%s)", name, ob.sender, ob.status)
		}
	}
}

// A replica told to stop while a message is being sent lets that send
// finish and records it sent: cut, the code would wait for a retry or go
// out twice.
func TestWorkerFinishesTheSendUnderWayWhenStopped(t *testing.T) {
	keys := secret.NewKeys([]byte(strings.Repeat("k", 32)))
	now := time.Now()
	sealed, _ := Seal(keys, Envelope{Channel: "email", To: "a@b.c", Text: "x"}, now.Add(time.Minute))
	ob := &fakeOutbox{m: &store.OutboxMessage{ID: 1, Channel: "email", Destination: "a@b.c", Sealed: sealed.Sealed, Attempts: 1, NotAfter: now.Add(time.Minute)}}
	ctx, stop := context.WithCancel(context.Background())
	sending := make(chan struct{})
	slow := senderFunc(func(ctx context.Context, e Envelope) error {
		close(sending)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond): // the provider's answer
			return nil
		}
	})
	go func() { <-sending; stop() }()
	w := &Worker{Outbox: ob, Keys: keys, Senders: map[string]Sender{"email": slow}}
	if _, err := w.Once(ctx); err != nil {
		t.Fatal(err)
	}
	if ob.status != "sent" {
		t.Errorf("a send under way at shutdown ended %q, want sent", ob.status)
	}
}

type senderFunc func(context.Context, Envelope) error

func (f senderFunc) Send(ctx context.Context, e Envelope) error { return f(ctx, e) }

func TestCodeEnvelope(t *testing.T) {
	sms := CodeEnvelope(i18n.Spanish, "sms", "+50370000000", "123456", 10*time.Minute, "login.blink.sv")
	// The SMS is the short GSM-7 text (one segment), in the person's language.
	if !strings.HasPrefix(sms.Text, "Blink: 123456 es tu codigo para entrar. Vence en 10 minutos.") || !strings.HasSuffix(sms.Text, "\n\n@login.blink.sv #123456") || len(sms.Text) > 160 {
		t.Errorf("SMS %q", sms.Text)
	}
	// WhatsApp is not bound to GSM-7 and keeps the full sentence.
	wa := CodeEnvelope(i18n.Spanish, "whatsapp", "+50370000000", "123456", 10*time.Minute, "login.blink.sv")
	if !strings.HasPrefix(wa.Text, "Tu código para iniciar sesión en Blink es 123456.") {
		t.Errorf("WhatsApp %q", wa.Text)
	}
	email := CodeEnvelope(i18n.English, "email", "a@b.c", "654321", 10*time.Minute, "login.blink.sv")
	if email.Subject != "Your Blink sign-in code" || !strings.Contains(email.HTML, "654321") || strings.Contains(email.Text, "@login.blink.sv") {
		t.Errorf("email %+v", email)
	}
}

// codeCounts records what the worker counted.
type codeCounts struct{ got []string }

func (c *codeCounts) Code(channel, outcome string) { c.got = append(c.got, channel+"/"+outcome) }
func (c *codeCounts) OutboxListening(bool)         {}
