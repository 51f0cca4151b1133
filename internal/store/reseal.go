package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Sealed is one sealed value and what it is bound to (its associated data).
type Sealed struct {
	UserID               string // a TOTP secret's owner
	Channel, Destination string // a queued message's
	Value                []byte
}

// Reseal returns the value sealed under the current key, or current=true when
// it already is; ErrUnreadable when no key given opens it.
type Reseal func(Sealed) (resealed []byte, current bool, err error)

// ErrUnreadable is what a Reseal returns for a value no key given opens.
var ErrUnreadable = errors.New("store: sealed under no key given")

// ResealCounts says what a re-sealing pass did.
type ResealCounts struct {
	Resealed   int // opened under a previous key, sealed again under the current one
	Current    int // already under the current key, left alone
	Unreadable int // opened under no key given, left as it was
}

// resealBatch is how many rows one transaction re-seals while holding their locks.
const resealBatch = 100

// ResealTOTP re-seals every TOTP secret under the current key: a batch of rows
// per transaction, each row locked (FOR UPDATE) from read to write, so an
// enrolment or a sign-in meanwhile is neither lost nor overwritten.
func (s *Store) ResealTOTP(ctx context.Context, reseal Reseal) (ResealCounts, error) {
	return s.reseal(ctx, reseal, "",
		`SELECT user_id::text FROM totp_credentials WHERE user_id::text > $1 ORDER BY user_id::text LIMIT $2`,
		`SELECT user_id::text, sealed, user_id::text, '', '' FROM totp_credentials WHERE user_id::text = ANY($1) FOR UPDATE`,
		`UPDATE totp_credentials SET sealed = $2 WHERE user_id::text = $1`)
}

// ResealOutbox re-seals every queued message (the only ones still to be opened)
// under the current key, like ResealTOTP. A worker already sending one keeps
// the copy it read.
func (s *Store) ResealOutbox(ctx context.Context, reseal Reseal) (ResealCounts, error) {
	return s.reseal(ctx, reseal, "0",
		`SELECT id::text FROM outbox WHERE status = 'queued' AND id > $1::bigint ORDER BY id LIMIT $2`,
		`SELECT id::text, sealed, '', channel, destination FROM outbox WHERE id::text = ANY($1) AND status = 'queued' FOR UPDATE`,
		`UPDATE outbox SET sealed = $2 WHERE id::text = $1`)
}

// reseal walks a table in key order from after: next lists the keys after $1,
// lock reads and locks those rows, save writes one row's new value.
func (s *Store) reseal(ctx context.Context, reseal Reseal, after, next, lock, save string) (ResealCounts, error) {
	var total ResealCounts
	for {
		rows, err := s.pool.Query(ctx, next, after, resealBatch)
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
			type row struct {
				key string
				Sealed
			}
			rows, err := tx.Query(ctx, lock, keys)
			if err != nil {
				return err
			}
			locked, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
				var x row
				err := r.Scan(&x.key, &x.Value, &x.UserID, &x.Channel, &x.Destination)
				return x, err
			})
			if err != nil {
				return err
			}
			for _, r := range locked {
				resealed, current, err := reseal(r.Sealed)
				switch {
				case errors.Is(err, ErrUnreadable):
					batch.Unreadable++
				case err != nil:
					return err
				case current:
					batch.Current++
				default:
					if _, err := tx.Exec(ctx, save, r.key, resealed); err != nil {
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
