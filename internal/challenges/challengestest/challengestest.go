// Package challengestest holds in-memory fakes of the stores the flows use, for unit tests.
package challengestest

import (
	"context"
	"sync"

	"github.com/blinkbitcoin/blink-consent/internal/challenges"
	"github.com/blinkbitcoin/blink-consent/internal/store"
)

// Challenges is challenges.Store in memory; Queries counts round trips.
type Challenges struct {
	mu        sync.Mutex
	used      map[string]bool
	redirects map[string]string
	seen      map[string]string
	Queries   int
}

// NewChallenges returns an empty fake.
func NewChallenges() *Challenges {
	return &Challenges{used: map[string]bool{}, redirects: map[string]string{}, seen: map[string]string{}}
}

// SetChallengeRedirect records where a challenge's answer sent the browser.
func (c *Challenges) SetChallengeRedirect(ctx context.Context, challenge, redirectTo string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.Queries++
	c.redirects[challenge] = redirectTo
	return nil
}

// ChallengeRedirect returns the recorded redirect, or "".
func (c *Challenges) ChallengeRedirect(ctx context.Context, challenge string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.Queries++
	return c.redirects[challenge], nil
}

// SeeChallenge keeps a challenge's request URL.
func (c *Challenges) SeeChallenge(ctx context.Context, challenge, requestURL string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.Queries++
	c.seen[challenge] = requestURL
	return nil
}

// SeenRequestURL returns the kept request URL, or "".
func (c *Challenges) SeenRequestURL(ctx context.Context, challenge string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.Queries++
	return c.seen[challenge], nil
}

// ChallengeUsed reports whether challenge was marked used.
func (c *Challenges) ChallengeUsed(ctx context.Context, challenge string) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.Queries++
	return c.used[challenge], nil
}

// UseChallenge marks challenge used; first is true for the first caller only.
func (c *Challenges) UseChallenge(ctx context.Context, challenge string) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.Queries++
	return c.mark(challenge), nil
}

// ReleaseChallenge unmarks challenge.
func (c *Challenges) ReleaseChallenge(ctx context.Context, challenge string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.Queries++
	delete(c.used, challenge)
	return nil
}

// Mark marks challenge used, counting a round trip, and reports whether it was
// the first; for fakes of combined statements.
func (c *Challenges) Mark(challenge string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.Queries++
	return c.mark(challenge)
}

// Forget unmarks every challenge without counting, for benchmarks.
func (c *Challenges) Forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.used)
}

func (c *Challenges) mark(challenge string) bool {
	first := !c.used[challenge]
	c.used[challenge] = true
	return first
}

// Store is Challenges plus users: the whole store contract the flows use.
type Store struct {
	*Challenges
	Users map[string]store.User
	// Audited holds the audit events written, in order.
	Audited []store.AuditEvent
}

// Audit keeps e.
func (s *Store) Audit(ctx context.Context, e store.AuditEvent) error {
	s.Audited = append(s.Audited, e)
	return nil
}

// NewStore returns a fake holding users.
func NewStore(users ...store.User) *Store {
	s := &Store{Challenges: NewChallenges(), Users: map[string]store.User{}}
	for _, u := range users {
		s.Users[u.ID] = u
	}
	return s
}

// UseChallengeForUser marks the challenge and reads the user in one round trip.
func (s *Store) UseChallengeForUser(ctx context.Context, challenge, subject string) (store.User, bool, error) {
	first := s.Mark(challenge)
	u, ok := s.Users[subject]
	if !ok {
		return store.User{}, first, store.ErrNotFound
	}
	return u, first, nil
}

// UserByID returns the user or store.ErrNotFound.
func (s *Store) UserByID(ctx context.Context, id string) (store.User, error) {
	s.count()
	if u, ok := s.Users[id]; ok {
		return u, nil
	}
	return store.User{}, store.ErrNotFound
}

func (c *Challenges) count() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.Queries++
}

var _ challenges.Store = (*Challenges)(nil)
