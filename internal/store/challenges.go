package store

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
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

// UseChallengeForUser marks a challenge used and reads the subject's account,
// in one round trip (the skip paths' budget). err is ErrNotFound when the
// account is gone.
func (s *Store) UseChallengeForUser(ctx context.Context, challenge, subject string) (User, bool, error) {
	u, _, first, err := s.UseRememberedLogin(ctx, challenge, subject, "")
	return u, first, err
}

// SetChallengeRedirect records where the browser was sent after answering a challenge.
func (s *Store) SetChallengeRedirect(ctx context.Context, challenge, redirectTo string) error {
	_, err := s.pool.Exec(ctx, `UPDATE used_challenges SET redirect_to = $2 WHERE hash = $1`, challengeHash(challenge), redirectTo)
	if err != nil {
		return fmt.Errorf("store: unable to record a redirect: %w", err)
	}
	return nil
}

// ChallengeRedirect returns where the browser was sent after the challenge was
// answered, or "" when it was not (or not yet) recorded.
func (s *Store) ChallengeRedirect(ctx context.Context, challenge string) (string, error) {
	var redirect *string
	err := s.pool.QueryRow(ctx, `SELECT redirect_to FROM used_challenges WHERE hash = $1`, challengeHash(challenge)).Scan(&redirect)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("store: unable to read a redirect: %w", err)
	}
	if redirect == nil {
		return "", nil
	}
	return *redirect, nil
}

// SeeChallenge keeps the authorization URL a challenge came from.
func (s *Store) SeeChallenge(ctx context.Context, challenge, requestURL string) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO seen_challenges (hash, request_url) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
		challengeHash(challenge), requestURL)
	if err != nil {
		return fmt.Errorf("store: unable to keep a request URL: %w", err)
	}
	return nil
}

// SeenRequestURL returns the authorization URL kept for a challenge, or "".
func (s *Store) SeenRequestURL(ctx context.Context, challenge string) (string, error) {
	var u string
	err := s.pool.QueryRow(ctx, `SELECT request_url FROM seen_challenges WHERE hash = $1`, challengeHash(challenge)).Scan(&u)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("store: unable to read a request URL: %w", err)
	}
	return u, nil
}
