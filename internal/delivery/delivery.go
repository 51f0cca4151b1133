// Package delivery sends one-time codes by email, SMS and WhatsApp through a
// PostgreSQL outbox, so a crash or an outage of a provider loses nothing.
package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/contact"
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

// AD binds a queued message to its channel and destination: a sealed message
// copied to another row does not open.
func AD(channel, to string) []byte { return []byte(channel + "\x00" + to) }

// Seal encrypts an envelope's contents for the outbox: the code is never stored in clear.
func Seal(keys secret.Keys, e Envelope, notAfter time.Time) (*store.Message, error) {
	b, err := json.Marshal(payload{Subject: e.Subject, Text: e.Text, HTML: e.HTML})
	if err != nil {
		return nil, err
	}
	sealed, err := keys.Seal(b, AD(e.Channel, e.To))
	if err != nil {
		return nil, err
	}
	return &store.Message{Channel: e.Channel, Destination: e.To, Sealed: sealed, NotAfter: notAfter}, nil
}

// Open decrypts an outbox message back into an envelope.
func Open(keys secret.Keys, m store.OutboxMessage) (Envelope, error) {
	b, err := keys.Open(m.Sealed, AD(m.Channel, m.Destination))
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
	FinishMessage(ctx context.Context, id int64, o store.Outcome) error
}

// Listener wakes the worker as soon as a message is queued (the store's
// PostgreSQL LISTEN/NOTIFY): listening is called once it listens, queued on
// each message; it returns when ctx is done (nil) or its connection fails.
type Listener interface {
	ListenOutbox(ctx context.Context, listening, queued func()) error
}

// Worker sends queued messages. Run one in every replica: claims use
// FOR UPDATE SKIP LOCKED, so no message is sent twice. A message failing
// temporarily is retried for as long as its code is valid (its NotAfter):
// a provider outage shorter than that loses no code.
type Worker struct {
	Outbox Outbox
	// Listener, when set, wakes the worker the moment a message is queued;
	// every replica listens and the claim picks the one that sends it. The
	// poll stays, for retries that fall due and for while the listening
	// connection is lost (it is opened again, with backoff).
	Listener   Listener
	Keys       secret.Keys
	Senders    map[string]Sender
	MaxBackoff time.Duration // the longest wait between tries; default 1m
	Poll       time.Duration // how often to look when idle; default 1s
	Lease      time.Duration // how long a claim lasts; default 1m
	Now        func() time.Time
	// Metrics, when set, counts each attempt's outcome by channel and
	// whether the worker is listening.
	Metrics Counter
	// Tracer, when set, wraps each attempt in a span.
	Tracer Tracer
}

// Tracer starts the span of one delivery attempt; end records its outcome.
// It is told the channel and the attempt, never the address or the message.
type Tracer interface {
	StartDelivery(ctx context.Context, channel string, attempt int) (_ context.Context, end func(outcome string))
}

// Counter counts what became of each attempt to send a code message, and
// records whether the worker listens for queued messages.
type Counter interface {
	Code(channel, outcome string)
	OutboxListening(up bool)
}

// Run sends until ctx is done: whenever the listener says a message was
// queued, and every Poll when idle.
func (w *Worker) Run(ctx context.Context) {
	poll := orDuration(w.Poll, time.Second)
	wake := make(chan struct{}, 1)
	if w.Listener != nil {
		go w.listen(ctx, wake)
	}
	timer := time.NewTimer(poll)
	defer timer.Stop()
	for {
		sent, err := w.Once(ctx)
		if err != nil && ctx.Err() == nil {
			slog.WarnContext(ctx, "outbox: claim failed", "err", err)
		}
		if sent {
			continue
		}
		timer.Reset(poll)
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-timer.C:
		}
	}
}

// Backoff between two attempts to listen again after the connection failed.
const (
	listenRetryMin = 250 * time.Millisecond
	listenRetryMax = 30 * time.Second
)

// listen keeps a listening connection open until ctx is done, waking the
// loop in Run (wake holds at most one signal: many queued messages while it
// sends are one more look). Once listening again after a failure it wakes the
// loop too, for what was queued while nobody listened.
func (w *Worker) listen(ctx context.Context, wake chan<- struct{}) {
	signal := func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	retry := listenRetryMin
	for ctx.Err() == nil {
		up := false
		err := w.Listener.ListenOutbox(ctx, func() {
			up, retry = true, listenRetryMin
			w.listening(ctx, true)
			signal()
		}, signal)
		if ctx.Err() != nil {
			return
		}
		w.listening(ctx, false)
		if up {
			slog.WarnContext(ctx, "outbox: the listening connection was lost; polling until it is back", "err", err, "retry_in", retry.String())
		} else {
			slog.WarnContext(ctx, "outbox: could not listen for queued messages; polling meanwhile", "err", err, "retry_in", retry.String())
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(retry):
		}
		retry = min(2*retry, listenRetryMax)
	}
}

func (w *Worker) listening(ctx context.Context, up bool) {
	if up {
		slog.InfoContext(ctx, "outbox: listening for queued messages")
	}
	if w.Metrics != nil {
		w.Metrics.OutboxListening(up)
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
	end := func(string) {}
	if w.Tracer != nil {
		ctx, end = w.Tracer.StartDelivery(ctx, m.Channel, m.Attempts)
	}
	o := w.deliver(ctx, m)
	log := slog.With("message", m.ID, "channel", m.Channel, "to", mask(m.Channel, m.Destination), "attempt", m.Attempts, "outcome", o.Status)
	if o.Sender != "" {
		log = log.With("sender", o.Sender)
	}
	if o.LastError != "" {
		log = log.With("reason", o.LastError)
	}
	log.InfoContext(ctx, "outbox: message handled")
	if w.Metrics != nil {
		w.Metrics.Code(m.Channel, outcomeName(o.Status))
	}
	err = w.Outbox.FinishMessage(ctx, m.ID, o)
	end(outcomeName(o.Status))
	return true, err
}

// outcomeName is an attempt's outcome as metrics and traces name it.
func outcomeName(status string) string {
	if status == "queued" {
		return "retry" // a temporary failure; "queued" counts codes entering the outbox
	}
	return status
}

func (w *Worker) deliver(ctx context.Context, m store.OutboxMessage) store.Outcome {
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	if !now().Before(m.NotAfter) {
		return store.Outcome{Status: "abandoned", LastError: "the code expired before it could be sent"}
	}
	sender, ok := w.Senders[m.Channel]
	if !ok {
		return store.Outcome{Status: "failed", LastError: "no sender is configured for " + m.Channel}
	}
	e, err := Open(w.Keys, m)
	if err != nil {
		return store.Outcome{Status: "failed", LastError: "the message could not be opened (SECRET_KEY changed?)"}
	}
	name := senderName(sender)
	// A send under way finishes even when the replica is told to stop (ctx
	// done at SIGTERM; the process still drains for SHUTDOWN_DELAY): cut in
	// the middle, the code would wait for a retry, or go out twice when the
	// provider had it but its answer was lost.
	sendCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	err = sender.Send(sendCtx, e)
	cancel()
	var perm *PermanentError
	switch {
	case err == nil:
		return store.Outcome{Status: "sent", Sender: name}
	case errors.As(err, &perm):
		return store.Outcome{Status: "failed", LastError: err.Error(), Sender: name}
	}
	// 2 s, 4 s, 8 s … up to MaxBackoff, and never past the code's expiry: the
	// try after that finds the message expired and abandons it.
	backoff := min(time.Duration(1<<min(m.Attempts, 16))*time.Second, orDuration(w.MaxBackoff, time.Minute))
	if left := m.NotAfter.Sub(now()); backoff > left {
		backoff = max(left, time.Second)
	}
	return store.Outcome{Status: "queued", RetryIn: backoff, LastError: err.Error(), Sender: name}
}

// senderName is recorded with each message: /dev/messages shows only those
// the development logger ("dev") handled.
func senderName(s Sender) string {
	switch s.(type) {
	case Dev:
		return "dev"
	case *SMTP:
		return "smtp"
	case Twilio:
		return "twilio"
	case Webhook:
		return "webhook"
	}
	return "other"
}

func mask(channel, to string) string {
	if channel == "email" {
		return contact.MaskEmail(to)
	}
	return contact.MaskPhone(to)
}

func orDuration(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Dev is the development sender: it logs the whole message (DEV_MODE only;
// production never logs a code), and the development page lists the messages
// it handled, and only those.
type Dev struct{ Logger *slog.Logger }

// Send logs the message.
func (d Dev) Send(ctx context.Context, e Envelope) error {
	d.Logger.WarnContext(ctx, "DEV_MODE message (not sent)", "channel", e.Channel, "to", e.To, "text", e.Text)
	return nil
}
