package store

import (
	"context"
	"crypto/sha256"
	"fmt"
	"time"
)

func challengeHash(challenge string) []byte {
	h := sha256.Sum256([]byte(challenge))
	return h[:]
}

// ChallengeUsed reports whether a login or consent challenge was already accepted or rejected.
func (s *Store) ChallengeUsed(ctx context.Context, challenge string) (bool, error) {
	var used bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM used_challenges WHERE hash = $1)`, challengeHash(challenge)).Scan(&used)
	if err != nil {
		return false, fmt.Errorf("store: unable to check a challenge: %w", err)
	}
	return used, nil
}

// UseChallenge marks a challenge used. first is false when it already was:
// of two concurrent callers exactly one gets true.
func (s *Store) UseChallenge(ctx context.Context, challenge string) (first bool, err error) {
	tag, err := s.pool.Exec(ctx, `INSERT INTO used_challenges (hash) VALUES ($1) ON CONFLICT DO NOTHING`, challengeHash(challenge))
	if err != nil {
		return false, fmt.Errorf("store: unable to mark a challenge used: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// ReleaseChallenge undoes UseChallenge when Hydra could not be told, so the
// user can try the same step again.
func (s *Store) ReleaseChallenge(ctx context.Context, challenge string) error {
	_, err := s.pool.Exec(context.WithoutCancel(ctx), `DELETE FROM used_challenges WHERE hash = $1`, challengeHash(challenge))
	if err != nil {
		return fmt.Errorf("store: unable to release a challenge: %w", err)
	}
	return nil
}

// UseRememberedLogin marks a skip=true login challenge used and reads the
// subject's account, in one round trip. user is ErrNotFound when the account is gone.
func (s *Store) UseRememberedLogin(ctx context.Context, challenge, subject string) (u User, first bool, err error) {
	row := s.pool.QueryRow(ctx, `
		WITH mark AS (
			INSERT INTO used_challenges (hash) VALUES ($1) ON CONFLICT DO NOTHING RETURNING 1
		)
		SELECT EXISTS (SELECT 1 FROM mark), u.*
		FROM (SELECT 1) AS one
		LEFT JOIN LATERAL (SELECT `+userColumns+` FROM users WHERE id::text = $2) AS u ON true`,
		challengeHash(challenge), subject)
	var id *string
	var email, phone *string
	var emailVerified, phoneVerified *bool
	var createdAt *time.Time
	err = row.Scan(&first, &id, &email, &emailVerified, &phone, &phoneVerified, &createdAt, &u.DisabledAt)
	if err != nil {
		return User{}, false, fmt.Errorf("store: unable to read a remembered login: %w", err)
	}
	if id == nil {
		return User{}, first, ErrNotFound
	}
	u.ID, u.Email, u.EmailVerified, u.Phone, u.PhoneVerified, u.CreatedAt = *id, *email, *emailVerified, *phone, *phoneVerified, *createdAt
	return u, first, nil
}

// ForgetUsedChallenges deletes markers older than maxAge, long past Hydra's
// request TTL, and returns how many went.
func (s *Store) ForgetUsedChallenges(ctx context.Context, maxAge time.Duration) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM used_challenges WHERE used_at < now() - $1::interval`, maxAge)
	if err != nil {
		return 0, fmt.Errorf("store: unable to forget used challenges: %w", err)
	}
	return tag.RowsAffected(), nil
}
