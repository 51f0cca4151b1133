package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Sealed is one sealed value and what it is bound to (its associated data).
type Sealed struct {
	Key                  string // the row's primary key: a flow's, an enrolment's id, an identity source's row's
	UserID               string // a TOTP secret's, a pending enrolment's or an identity source's row's owner
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

// SealedTable says how to walk one table's sealed values in primary-key
// order. Next lists the keys after $1 (as text, aliased k so that ORDER BY
// names the column itself: ordering by a text cast of a number would skip and
// repeat rows across pages) up to $2 of them, starting after First; Lock reads
// and locks the rows of the keys in $1 (text[]), selecting the key, the
// sealed value, its owner, channel and destination (Sealed's fields, ” when
// the table has none); Save writes one row's new value ($2) by its key ($1).
// An identity source declares its own tables this way (Reseal).
type SealedTable struct {
	First, Next, Lock, Save string
}

var (
	// TOTP secrets, by user.
	sealedTOTP = SealedTable{"00000000-0000-0000-0000-000000000000",
		`SELECT user_id::text AS k FROM totp_credentials WHERE user_id > $1::uuid ORDER BY user_id LIMIT $2`,
		`SELECT user_id::text, sealed, user_id::text, '', '' FROM totp_credentials WHERE user_id = ANY($1::text[]::uuid[]) FOR UPDATE`,
		`UPDATE totp_credentials SET sealed = $2 WHERE user_id = $1::uuid`}
	// Queued messages (the only ones still to be opened). A worker already
	// sending one keeps the copy it read.
	sealedOutbox = SealedTable{"0",
		`SELECT id::text AS k FROM outbox WHERE status = 'queued' AND id > $1::bigint ORDER BY id LIMIT $2`,
		`SELECT id::text, sealed, '', channel, destination FROM outbox WHERE id = ANY($1::text[]::bigint[]) AND status = 'queued' FOR UPDATE`,
		`UPDATE outbox SET sealed = $2 WHERE id = $1::bigint`}
	// What a remote identity source keeps in a sign-in in progress, bound to the flow.
	sealedFlows = SealedTable{"00000000-0000-0000-0000-000000000000",
		`SELECT id::text AS k FROM login_flows WHERE source_state IS NOT NULL AND id > $1::uuid ORDER BY id LIMIT $2`,
		`SELECT id::text, source_state, '', '', '' FROM login_flows WHERE id = ANY($1::text[]::uuid[]) AND source_state IS NOT NULL FOR UPDATE`,
		`UPDATE login_flows SET source_state = $2 WHERE id = $1::uuid`}
	// Authenticator secrets shown on the account page and not yet confirmed.
	sealedEnrollments = SealedTable{"00000000-0000-0000-0000-000000000000",
		`SELECT id::text AS k FROM totp_enrollments WHERE id > $1::uuid ORDER BY id LIMIT $2`,
		`SELECT id::text, sealed, user_id::text, '', '' FROM totp_enrollments WHERE id = ANY($1::text[]::uuid[]) FOR UPDATE`,
		`UPDATE totp_enrollments SET sealed = $2 WHERE id = $1::uuid`}
)

// ResealTOTP re-seals every TOTP secret under the current key: a batch of rows
// per transaction, each row locked (FOR UPDATE) from read to write, so an
// enrolment or a sign-in meanwhile is neither lost nor overwritten.
func (s *Store) ResealTOTP(ctx context.Context, reseal Reseal) (ResealCounts, error) {
	return s.Reseal(ctx, reseal, sealedTOTP)
}

// ResealOutbox re-seals every queued message under the current key, like ResealTOTP.
func (s *Store) ResealOutbox(ctx context.Context, reseal Reseal) (ResealCounts, error) {
	return s.Reseal(ctx, reseal, sealedOutbox)
}

// ResealFlows re-seals a remote identity source's state in every sign-in that holds one.
func (s *Store) ResealFlows(ctx context.Context, reseal Reseal) (ResealCounts, error) {
	return s.Reseal(ctx, reseal, sealedFlows)
}

// ResealEnrollments re-seals every pending authenticator enrolment.
func (s *Store) ResealEnrollments(ctx context.Context, reseal Reseal) (ResealCounts, error) {
	return s.Reseal(ctx, reseal, sealedEnrollments)
}

// Reseal re-seals every value of table t, like ResealTOTP: it walks t in
// primary-key order, a batch of rows per transaction, each row locked from
// read to write.
func (s *Store) Reseal(ctx context.Context, reseal Reseal, t SealedTable) (ResealCounts, error) {
	var total ResealCounts
	after := t.First
	for {
		rows, err := s.pool.Query(ctx, t.Next, after, resealBatch)
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
			rows, err := tx.Query(ctx, t.Lock, keys)
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
					if _, err := tx.Exec(ctx, t.Save, r.Key, resealed); err != nil {
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
