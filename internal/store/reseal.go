package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Sealed is one sealed value and what it is bound to (its associated data).
type Sealed struct {
	Key                  string // the row's primary key: a flow's, an enrolment's id, a kept token's session
	UserID               string // a TOTP secret's, a pending enrolment's or a kept core token's owner
	Channel, Destination string // a queued message's
	Value                []byte
}

// Reseal returns the value sealed under the current key, or current=true when
// it already is; ErrUnreadable when no key given opens it.
type Reseal func(Sealed) (resealed []byte, current bool, err error)

// ErrUnreadable is what a Reseal returns for a value no key given opens.
var ErrUnreadable = errors.New("store: sealed under no key given")

// ResealCounts says what a re-sealing pass did. Every row the pass locked is
// counted once, in exactly one of the three.
type ResealCounts struct {
	Resealed   int // opened under a previous key, sealed again under the current one
	Current    int // already under the current key, left alone
	Unreadable int // opened under no key given, left as it was
}

// Rows is how many rows the counts cover.
func (c ResealCounts) Rows() int { return c.Resealed + c.Current + c.Unreadable }

// resealBatch is how many rows one transaction re-seals while holding their locks.
const resealBatch = 100

// sealedTable says how to walk one table's sealed values in primary-key
// order. next lists the keys after $1 (as text, aliased k so that ORDER BY
// names the column itself: ordering by a text cast of a number would skip and
// repeat rows across pages); lock reads and locks those rows; save writes one
// row's new value.
type sealedTable struct {
	first, next, lock, save string
}

var (
	// TOTP secrets, by user.
	sealedTOTP = sealedTable{"00000000-0000-0000-0000-000000000000",
		`SELECT user_id::text AS k FROM totp_credentials WHERE user_id > $1::uuid ORDER BY user_id LIMIT $2`,
		`SELECT user_id::text, sealed, user_id::text, '', '' FROM totp_credentials WHERE user_id = ANY($1::text[]::uuid[]) FOR UPDATE`,
		`UPDATE totp_credentials SET sealed = $2 WHERE user_id = $1::uuid`}
	// Queued messages (the only ones still to be opened). A worker already
	// sending one keeps the copy it read.
	sealedOutbox = sealedTable{"0",
		`SELECT id::text AS k FROM outbox WHERE status = 'queued' AND id > $1::bigint ORDER BY id LIMIT $2`,
		`SELECT id::text, sealed, '', channel, destination FROM outbox WHERE id = ANY($1::text[]::bigint[]) AND status = 'queued' FOR UPDATE`,
		`UPDATE outbox SET sealed = $2 WHERE id = $1::bigint`}
	// With IDENTITY_SOURCE=blink, what a sign-in in progress holds of core's
	// (its emailLoginId or auth token), bound to the flow.
	sealedFlows = sealedTable{"00000000-0000-0000-0000-000000000000",
		`SELECT id::text AS k FROM login_flows WHERE source_state IS NOT NULL AND id > $1::uuid ORDER BY id LIMIT $2`,
		`SELECT id::text, source_state, '', '', '' FROM login_flows WHERE id = ANY($1::text[]::uuid[]) AND source_state IS NOT NULL FOR UPDATE`,
		`UPDATE login_flows SET source_state = $2 WHERE id = $1::uuid`}
	// Authenticator secrets shown on the account page and not yet confirmed.
	sealedEnrollments = sealedTable{"00000000-0000-0000-0000-000000000000",
		`SELECT id::text AS k FROM totp_enrollments WHERE id > $1::uuid ORDER BY id LIMIT $2`,
		`SELECT id::text, sealed, user_id::text, '', '' FROM totp_enrollments WHERE id = ANY($1::text[]::uuid[]) FOR UPDATE`,
		`UPDATE totp_enrollments SET sealed = $2 WHERE id = $1::uuid`}
	// Blink core auth tokens kept for the account page, by login session.
	sealedCoreTokens = sealedTable{"",
		`SELECT session_id AS k FROM core_tokens WHERE session_id > $1 ORDER BY session_id LIMIT $2`,
		`SELECT session_id, sealed, user_id::text, '', '' FROM core_tokens WHERE session_id = ANY($1::text[]) FOR UPDATE`,
		`UPDATE core_tokens SET sealed = $2 WHERE session_id = $1`}
)

// ResealTOTP re-seals every TOTP secret under the current key: a batch of rows
// per transaction, each row locked (FOR UPDATE) from read to write, so an
// enrolment or a sign-in meanwhile is neither lost nor overwritten.
func (s *Store) ResealTOTP(ctx context.Context, reseal Reseal) (ResealCounts, error) {
	return s.reseal(ctx, reseal, sealedTOTP)
}

// ResealOutbox re-seals every queued message under the current key, like ResealTOTP.
func (s *Store) ResealOutbox(ctx context.Context, reseal Reseal) (ResealCounts, error) {
	return s.reseal(ctx, reseal, sealedOutbox)
}

// ResealFlows re-seals the Blink core state of every sign-in that holds one.
func (s *Store) ResealFlows(ctx context.Context, reseal Reseal) (ResealCounts, error) {
	return s.reseal(ctx, reseal, sealedFlows)
}

// ResealEnrollments re-seals every pending authenticator enrolment.
func (s *Store) ResealEnrollments(ctx context.Context, reseal Reseal) (ResealCounts, error) {
	return s.reseal(ctx, reseal, sealedEnrollments)
}

// ResealCoreTokens re-seals every kept Blink core auth token.
func (s *Store) ResealCoreTokens(ctx context.Context, reseal Reseal) (ResealCounts, error) {
	return s.reseal(ctx, reseal, sealedCoreTokens)
}

// reseal walks t in primary-key order, a batch per transaction.
func (s *Store) reseal(ctx context.Context, reseal Reseal, t sealedTable) (ResealCounts, error) {
	var total ResealCounts
	after := t.first
	for {
		rows, err := s.pool.Query(ctx, t.next, after, resealBatch)
		if err != nil {
			return total, fmt.Errorf("store: unable to list sealed values: %w", err)
		}
		keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return total, fmt.Errorf("store: unable to list sealed values: %w", err)
		}
		if len(keys) == 0 {
			return total, nil
		}
		after = keys[len(keys)-1]
		var batch ResealCounts
		err = s.inTx(ctx, func(tx pgx.Tx) error {
			batch = ResealCounts{}
			rows, err := tx.Query(ctx, t.lock, keys)
			if err != nil {
				return err
			}
			locked, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Sealed, error) {
				var x Sealed
				err := r.Scan(&x.Key, &x.Value, &x.UserID, &x.Channel, &x.Destination)
				return x, err
			})
			if err != nil {
				return err
			}
			for _, r := range locked {
				resealed, current, err := reseal(r)
				switch {
				case errors.Is(err, ErrUnreadable):
					batch.Unreadable++
				case err != nil:
					return err
				case current:
					batch.Current++
				default:
					if _, err := tx.Exec(ctx, t.save, r.Key, resealed); err != nil {
						return err
					}
					batch.Resealed++
				}
			}
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("store: unable to re-seal: %w", err)
		}
		total.Resealed += batch.Resealed
		total.Current += batch.Current
		total.Unreadable += batch.Unreadable
	}
}
