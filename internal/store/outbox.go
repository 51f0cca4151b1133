package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// OutboxMessage is a claimed message to send.
type OutboxMessage struct {
	ID          int64
	Channel     string
	Destination string
	Sealed      []byte
	Attempts    int // including this one
	NotAfter    time.Time
	Status      string
	LastError   string
	HandledBy   string // the sender that first handled it: dev, smtp, twilio, webhook
	CreatedAt   time.Time
	SentAt      *time.Time
}

// ClaimMessage takes the oldest due message, leasing it for lease: other
// workers skip it (FOR UPDATE SKIP LOCKED) and, should this worker die, it
// becomes due again when the lease ends. ErrNotFound when nothing is due.
func (s *Store) ClaimMessage(ctx context.Context, lease time.Duration) (OutboxMessage, error) {
	var m OutboxMessage
	err := s.pool.QueryRow(ctx, `UPDATE outbox SET attempts = attempts + 1, next_attempt_at = now() + $1::interval
		WHERE id = (SELECT id FROM outbox WHERE status = 'queued' AND next_attempt_at <= now()
			ORDER BY next_attempt_at, id FOR UPDATE SKIP LOCKED LIMIT 1)
		RETURNING id, channel, destination, sealed, attempts, not_after`, lease).
		Scan(&m.ID, &m.Channel, &m.Destination, &m.Sealed, &m.Attempts, &m.NotAfter)
	if errors.Is(err, pgx.ErrNoRows) {
		return m, ErrNotFound
	}
	if err != nil {
		return m, fmt.Errorf("store: unable to claim a message: %w", err)
	}
	return m, nil
}

// Outcome is what became of one attempt to send a message.
type Outcome struct {
	// Status is "sent", "failed" (permanent failure), "abandoned" (expired
	// before it could be sent) or "queued" to try again after RetryIn.
	Status    string
	RetryIn   time.Duration
	LastError string
	// Sender names the sender that was given the message ("" when none was).
	Sender string
}

// FinishMessage records a message's outcome. The first sender to handle a
// message stays recorded: a message once given to a real provider is never
// taken for one only the development logger saw.
func (s *Store) FinishMessage(ctx context.Context, id int64, o Outcome) error {
	_, err := s.pool.Exec(context.WithoutCancel(ctx), `UPDATE outbox SET status = $2,
		next_attempt_at = CASE WHEN $2 = 'queued' THEN now() + $3::interval ELSE next_attempt_at END,
		sent_at = CASE WHEN $2 = 'sent' THEN now() END,
		last_error = nullif($4, ''),
		handled_by = coalesce(handled_by, nullif($5, ''))
		WHERE id = $1`, id, o.Status, o.RetryIn, o.LastError, o.Sender)
	if err != nil {
		return fmt.Errorf("store: unable to record a message's outcome: %w", err)
	}
	return nil
}

// QueueMessage adds a message to the outbox on its own (codes are queued by IssueCode).
func (s *Store) QueueMessage(ctx context.Context, m Message) error {
	return queueMessage(ctx, s.pool, m)
}

type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// outboxChannel is the PostgreSQL notification channel a queued message is
// announced on; every replica's worker listens (ListenOutbox).
const outboxChannel = "outbox_queued"

func queueMessage(ctx context.Context, db execer, m Message) error {
	return insertMessage(ctx, db, m, "queued")
}

// insertMessage adds m to the outbox with status (queued, or decoy: kept
// but never sent) and notifies the workers in the same statement. Inside a
// transaction PostgreSQL holds the notification until COMMIT, so a worker
// woken by it finds the row; a rolled-back message wakes nobody. A decoy
// notifies too: the sign-in does the same work either way.
func insertMessage(ctx context.Context, db execer, m Message, status string) error {
	_, err := db.Exec(ctx, `WITH queued AS (INSERT INTO outbox (channel, destination, sealed, not_after, status)
		VALUES ($1, $2, $3, $4, $5) RETURNING id)
		SELECT pg_notify('`+outboxChannel+`', '') FROM queued`,
		m.Channel, m.Destination, m.Sealed, m.NotAfter, status)
	if err != nil {
		return fmt.Errorf("store: unable to queue a message: %w", err)
	}
	return nil
}

// ListenOutbox holds a PostgreSQL connection of its own (outside the pool)
// listening for queued messages: it calls listening once LISTEN is in effect,
// then queued on each notification, until ctx is done (nil) or the connection
// fails (the error; the caller connects again). Notifications sent while no
// connection listened are lost, so the caller looks for due messages after
// listening is called.
func (s *Store) ListenOutbox(ctx context.Context, listening, queued func()) error {
	conn, err := pgx.ConnectConfig(ctx, s.pool.pool.Config().ConnConfig.Copy())
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("store: unable to connect to listen for queued messages: %w", err)
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		conn.Close(closeCtx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+outboxChannel); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("store: unable to listen for queued messages: %w", err)
	}
	listening()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("store: the connection listening for queued messages failed: %w", err)
		}
		queued()
	}
}

// RecentMessages lists the newest messages, whoever handled them.
func (s *Store) RecentMessages(ctx context.Context, limit int) ([]OutboxMessage, error) {
	return s.listMessages(ctx, `SELECT id, channel, destination, sealed, attempts, not_after, status,
		coalesce(last_error, ''), created_at, sent_at, coalesce(handled_by, '') FROM outbox ORDER BY id DESC LIMIT $1`, limit)
}

// DevMessages lists the newest messages the development logger handled, for
// the DEV_MODE page; a message given to a real sender is never among them.
func (s *Store) DevMessages(ctx context.Context, limit int) ([]OutboxMessage, error) {
	return s.listMessages(ctx, `SELECT id, channel, destination, sealed, attempts, not_after, status,
		coalesce(last_error, ''), created_at, sent_at, handled_by FROM outbox WHERE handled_by = 'dev' ORDER BY id DESC LIMIT $1`, limit)
}

func (s *Store) listMessages(ctx context.Context, query string, limit int) ([]OutboxMessage, error) {
	rows, err := s.pool.Query(ctx, query, limit)
	if err != nil {
		return nil, fmt.Errorf("store: unable to list messages: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (OutboxMessage, error) {
		var m OutboxMessage
		err := row.Scan(&m.ID, &m.Channel, &m.Destination, &m.Sealed, &m.Attempts, &m.NotAfter, &m.Status, &m.LastError, &m.CreatedAt, &m.SentAt, &m.HandledBy)
		return m, err
	})
}

// OutboxBacklog counts the queued messages and the age of the oldest one
// (0 when none is queued).
func (s *Store) OutboxBacklog(ctx context.Context) (depth int, oldest time.Duration, err error) {
	var seconds float64
	err = s.pool.QueryRow(ctx, `SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8
		FROM outbox WHERE status = 'queued'`).Scan(&depth, &seconds)
	if err != nil {
		return 0, 0, fmt.Errorf("store: unable to measure the outbox: %w", err)
	}
	return depth, time.Duration(seconds * float64(time.Second)), nil
}
