// Package delivery sends one-time codes by email, SMS and WhatsApp through a
// PostgreSQL outbox, so a crash or an outage of a provider loses nothing.
package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/identity"
	"github.com/blinkbitcoin/blink-consent/internal/secret"
	"github.com/blinkbitcoin/blink-consent/internal/store"
)

// Envelope is one message as a sender sees it.
type Envelope struct {
	Channel string // email, sms, whatsapp
	To      string // email address or E.164 number
	Subject string // email only
	Text    string
	HTML    string // email only
}

// Sender delivers envelopes on one channel.
type Sender interface {
	Send(ctx context.Context, e Envelope) error
}

// PermanentError is a failure that retrying cannot fix (SMTP 5xx, HTTP 4xx).
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent marks err as not worth retrying.
func Permanent(err error) error { return &PermanentError{Err: err} }

type payload struct {
	Subject string `json:"s,omitempty"`
	Text    string `json:"t"`
	HTML    string `json:"h,omitempty"`
}

func associated(channel, to string) []byte { return []byte(channel + "\x00" + to) }

// Seal encrypts an envelope's contents for the outbox: the code is never stored in clear.
func Seal(keys secret.Keys, e Envelope, notAfter time.Time) (*store.Message, error) {
	b, err := json.Marshal(payload{Subject: e.Subject, Text: e.Text, HTML: e.HTML})
	if err != nil {
		return nil, err
	}
	sealed, err := keys.Seal(b, associated(e.Channel, e.To))
	if err != nil {
		return nil, err
	}
	return &store.Message{Channel: e.Channel, Destination: e.To, Sealed: sealed, NotAfter: notAfter}, nil
}

// Open decrypts an outbox message back into an envelope.
func Open(keys secret.Keys, m store.OutboxMessage) (Envelope, error) {
	b, err := keys.Open(m.Sealed, associated(m.Channel, m.Destination))
	if err != nil {
		return Envelope{}, err
	}
	var p payload
	if err := json.Unmarshal(b, &p); err != nil {
		return Envelope{}, err
	}
	return Envelope{Channel: m.Channel, To: m.Destination, Subject: p.Subject, Text: p.Text, HTML: p.HTML}, nil
}

// Outbox is the store's part the worker uses.
type Outbox interface {
	ClaimMessage(ctx context.Context, lease time.Duration) (store.OutboxMessage, error)
	FinishMessage(ctx context.Context, id int64, status string, retryIn time.Duration, lastError string) error
}

// Worker sends queued messages. Run one in every replica: claims use
// FOR UPDATE SKIP LOCKED, so no message is sent twice.
type Worker struct {
	Outbox      Outbox
	Keys        secret.Keys
	Senders     map[string]Sender
	MaxAttempts int           // then the message is abandoned; default 8
	Poll        time.Duration // how often to look when idle; default 1s
	Lease       time.Duration // how long a claim lasts; default 1m
	Now         func() time.Time
}

// Run sends until ctx is done.
func (w *Worker) Run(ctx context.Context) {
	poll := orDuration(w.Poll, time.Second)
	for {
		sent, err := w.Once(ctx)
		if err != nil && ctx.Err() == nil {
			slog.WarnContext(ctx, "outbox: claim failed", "err", err)
		}
		if sent {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(poll):
		}
	}
}

// Once handles at most one due message; worked is false when none was due.
func (w *Worker) Once(ctx context.Context) (worked bool, err error) {
	m, err := w.Outbox.ClaimMessage(ctx, orDuration(w.Lease, time.Minute))
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	status, retryIn, reason := w.deliver(ctx, m)
	log := slog.With("message", m.ID, "channel", m.Channel, "to", mask(m.Channel, m.Destination), "attempt", m.Attempts, "outcome", status)
	if reason != "" {
		log = log.With("reason", reason)
	}
	log.InfoContext(ctx, "outbox: message handled")
	return true, w.Outbox.FinishMessage(ctx, m.ID, status, retryIn, reason)
}

func (w *Worker) deliver(ctx context.Context, m store.OutboxMessage) (status string, retryIn time.Duration, reason string) {
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	if !now().Before(m.NotAfter) {
		return "abandoned", 0, "the code expired before it could be sent"
	}
	sender, ok := w.Senders[m.Channel]
	if !ok {
		return "failed", 0, "no sender is configured for " + m.Channel
	}
	e, err := Open(w.Keys, m)
	if err != nil {
		return "failed", 0, "the message could not be opened (SECRET_KEY changed?)"
	}
	sendCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = sender.Send(sendCtx, e)
	cancel()
	var perm *PermanentError
	switch {
	case err == nil:
		return "sent", 0, ""
	case errors.As(err, &perm):
		return "failed", 0, err.Error()
	case m.Attempts >= orInt(w.MaxAttempts, 8):
		return "abandoned", 0, "out of tries: " + err.Error()
	}
	backoff := time.Duration(1<<min(m.Attempts, 8)) * time.Second // 2 s, 4 s, … 256 s
	if now().Add(backoff).After(m.NotAfter) {
		backoff = max(m.NotAfter.Sub(now()), time.Second)
	}
	return "queued", backoff, err.Error()
}

func mask(channel, to string) string {
	if channel == "email" {
		return identity.MaskEmail(to)
	}
	return identity.MaskPhone(to)
}

func orDuration(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func orInt(n, def int) int {
	if n <= 0 {
		return def
	}
	return n
}

// Dev is the development sender: it logs the whole message (DEV_MODE only;
// production never logs a code) and the development page lists the outbox.
type Dev struct{ Logger *slog.Logger }

// Send logs the message.
func (d Dev) Send(ctx context.Context, e Envelope) error {
	d.Logger.WarnContext(ctx, "DEV_MODE message (not sent)", "channel", e.Channel, "to", e.To, "text", e.Text)
	return nil
}
