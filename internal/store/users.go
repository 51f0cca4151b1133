package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/ids"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ErrNotFound means no row matched.
var ErrNotFound = errors.New("store: not found")

// ErrDuplicate means the email or phone already belongs to another user.
var ErrDuplicate = errors.New("store: a user with that email or phone already exists")

// User is a Blink account. ID is the subject Hydra puts in tokens.
type User struct {
	ID            string
	Email         string
	EmailVerified bool
	Phone         string
	PhoneVerified bool
	CreatedAt     time.Time
	DisabledAt    *time.Time
}

// Active reports whether the user may sign in.
func (u User) Active() bool { return u.DisabledAt == nil }

// NewUser is what CreateUser needs; at least one of Email and Phone.
type NewUser struct {
	Email         string
	EmailVerified bool
	Phone         string
	PhoneVerified bool
}

const userColumns = `id::text, coalesce(email, ''), email_verified, coalesce(phone, ''), phone_verified, created_at, disabled_at`

func scanUser(row pgx.Row) (User, error) {
	var u User
	err := row.Scan(&u.ID, &u.Email, &u.EmailVerified, &u.Phone, &u.PhoneVerified, &u.CreatedAt, &u.DisabledAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, ErrNotFound
	}
	return u, err
}

// CreateUser inserts a user and returns it with its new id.
func (s *Store) CreateUser(ctx context.Context, n NewUser) (User, error) {
	if n.Email == "" && n.Phone == "" {
		return User{}, errors.New("store: a user needs an email or a phone")
	}
	u, err := scanUser(s.pool.QueryRow(ctx, `
		INSERT INTO users (email, email_verified, phone, phone_verified)
		VALUES (nullif($1, ''), $2, nullif($3, ''), $4)
		RETURNING `+userColumns,
		strings.ToLower(n.Email), n.EmailVerified, n.Phone, n.PhoneVerified))
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return User{}, ErrDuplicate
	}
	if err != nil {
		return User{}, fmt.Errorf("store: unable to create user: %w", err)
	}
	return u, nil
}

// UserByID returns the user with that id, or ErrNotFound (also for a string that is not a uuid).
func (s *Store) UserByID(ctx context.Context, id string) (User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1::uuid`, uuidArg(id)))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return User{}, fmt.Errorf("store: unable to read user: %w", err)
	}
	return u, err
}

// DisableUser stops the user from signing in, remembered sessions included.
func (s *Store) DisableUser(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE users SET disabled_at = coalesce(disabled_at, now()) WHERE id = $1::uuid`, uuidArg(id))
	if err != nil {
		return fmt.Errorf("store: unable to disable user: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// uuidArg passes an id from outside (a Hydra subject, a flow id from a form,
// a CLI argument) to a uuid column: as it is when it is a UUID, else as NULL,
// which matches nothing. Comparing `id = $1::uuid` uses the primary key's
// index; `id::text = $1` would read the whole table.
func uuidArg(s string) any {
	if !ids.IsUUID(s) {
		return nil
	}
	return s
}
