package store_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/blinkbitcoin/blink-consent/internal/delivery"
	"github.com/blinkbitcoin/blink-consent/internal/secret"
	"github.com/blinkbitcoin/blink-consent/internal/store"
)

// A queued message wakes the outbox workers at once through PostgreSQL's
// LISTEN/NOTIFY: with the poll set to an hour, every message still reaches a
// real SMTP server, which can only happen through the notification. Two
// workers listen, as two replicas do, and each message is delivered once.
// When the listening connections are killed the workers listen again, and
// a message queued after that is still delivered. The time from queueing to
// the SMTP server having the message is logged (a measurement, never an
// assertion: the machine may be loaded).
func TestOutboxWakesTheWorkersAtOnce(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db := store.NewTestStore(t)
	inbox := smtpInbox(t)
	sender, err := delivery.NewSMTP("smtp://"+inbox.addr+"?disable_starttls=true", "Blink <no-reply@blink.test>", "")
	if err != nil {
		t.Fatal(err)
	}
	keys := secret.NewKeys([]byte(strings.Repeat("k", 32)))
	var wg sync.WaitGroup
	states := make([]*listenStates, 2)
	for i := range states {
		states[i] = &listenStates{}
		w := &delivery.Worker{Outbox: db, Listener: db, Keys: keys, Senders: map[string]delivery.Sender{"email": sender},
			Poll: time.Hour, Metrics: states[i]}
		wg.Add(1)
		go func() { defer wg.Done(); w.Run(ctx) }()
	}
	defer wg.Wait()
	defer cancel()
	waitFor(t, "both workers listening", func() bool { return states[0].last() == "up" && states[1].last() == "up" })

	queue := func(n int) time.Time {
		e := delivery.Envelope{Channel: "email", To: fmt.Sprintf("user-%d@example.com", n), Subject: "Code", Text: fmt.Sprintf("Your code: %06d", n)}
		m, err := delivery.Seal(keys, e, time.Now().Add(10*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if err := db.QueueMessage(ctx, *m); err != nil {
			t.Fatal(err)
		}
		return time.Now()
	}
	// One message at a time, for the time each one takes.
	var took []time.Duration
	for n := range 20 {
		queued := queue(n)
		got := inbox.next(t, 30*time.Second)
		took = append(took, time.Since(queued))
		if want := fmt.Sprintf("%06d", n); got != want {
			t.Fatalf("the SMTP server got code %s, want %s", got, want)
		}
	}
	slices.Sort(took)
	t.Logf("queued → at the SMTP server, 20 messages one at a time, poll 1h: p50 %v, max %v", took[len(took)/2], took[len(took)-1])

	// A burst: both workers are woken; each message goes out once.
	for n := 100; n < 130; n++ {
		queue(n)
	}
	seen := map[string]int{}
	for range 30 {
		seen[inbox.next(t, 30*time.Second)]++
	}
	for code, times := range seen {
		if times != 1 {
			t.Errorf("code %s delivered %d times", code, times)
		}
	}
	select {
	case extra := <-inbox.codes:
		t.Errorf("a message delivered twice: %s", extra)
	case <-time.After(500 * time.Millisecond):
	}

	// The listening connections are killed; the workers listen again and a
	// message queued after that is delivered (the poll is an hour away).
	if killed := store.KillOutboxListeners(t, db); killed != 2 {
		t.Fatalf("killed %d listening sessions, want 2", killed)
	}
	waitFor(t, "both workers listening again", func() bool {
		return states[0].saw("down") && states[0].last() == "up" && states[1].saw("down") && states[1].last() == "up"
	})
	queue(999)
	if got := inbox.next(t, 30*time.Second); got != "000999" {
		t.Fatalf("after the listeners were killed the SMTP server got %s, want 000999", got)
	}
	// The SMTP server has the last message a moment before its worker records it.
	var msgs []store.OutboxMessage
	waitFor(t, "every message recorded as handled", func() bool {
		msgs, err = db.RecentMessages(ctx, 100)
		return err == nil && !slices.ContainsFunc(msgs, func(m store.OutboxMessage) bool { return m.Status == "queued" })
	})
	if len(msgs) != 51 {
		t.Errorf("%d messages in the outbox, want 51", len(msgs))
	}
	for _, m := range msgs {
		if m.Status != "sent" || m.Attempts != 1 {
			t.Errorf("message %d: %s after %d attempts, want sent after 1", m.ID, m.Status, m.Attempts)
		}
	}
}

// listenStates records what the worker reported of its listening connection.
type listenStates struct {
	mu  sync.Mutex
	got []string
}

func (l *listenStates) Code(string, string) {}
func (l *listenStates) OutboxListening(up bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, map[bool]string{true: "up", false: "down"}[up])
}
func (l *listenStates) last() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.got) == 0 {
		return ""
	}
	return l.got[len(l.got)-1]
}
func (l *listenStates) saw(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Contains(l.got, s)
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30s", what)
		}
	}
}

// inbox is a real SMTP server (go-smtp) keeping the six-digit code of each message.
type inbox struct {
	addr  string
	codes chan string
}

var codeLine = regexp.MustCompile(`Your code: (\d{6})`)

func smtpInbox(t *testing.T) *inbox {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	in := &inbox{addr: l.Addr().String(), codes: make(chan string, 100)}
	srv := smtp.NewServer(in)
	srv.Domain = "localhost"
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return in
}

func (in *inbox) next(t *testing.T, timeout time.Duration) string {
	t.Helper()
	select {
	case c := <-in.codes:
		return c
	case <-time.After(timeout):
		t.Fatalf("no message at the SMTP server within %v", timeout)
		return ""
	}
}

func (in *inbox) NewSession(*smtp.Conn) (smtp.Session, error) { return &inboxSession{in}, nil }

type inboxSession struct{ in *inbox }

func (s *inboxSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *inboxSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *inboxSession) Data(r io.Reader) error {
	b, _ := io.ReadAll(r)
	if m := codeLine.FindSubmatch(b); m != nil {
		s.in.codes <- string(m[1])
	}
	return nil
}
func (s *inboxSession) Reset()        {}
func (s *inboxSession) Logout() error { return nil }
