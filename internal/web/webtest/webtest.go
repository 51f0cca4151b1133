// Package webtest holds in-memory fakes of the stores the flows use, for unit tests.
package webtest

import (
	"context"
	"sync"
)

// Challenges is web.ChallengeStore in memory; Queries counts round trips.
type Challenges struct {
	mu      sync.Mutex
	used    map[string]bool
	Queries int
}

// NewChallenges returns an empty fake.
func NewChallenges() *Challenges { return &Challenges{used: map[string]bool{}} }

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
