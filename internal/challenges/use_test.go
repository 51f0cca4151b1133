package challenges_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/blinkbitcoin/blink-consent/internal/challenges"
	"github.com/blinkbitcoin/blink-consent/internal/challenges/challengestest"
)

// failing is the in-memory store whose claim or release can fail, as
// PostgreSQL does when the connection drops.
type failing struct {
	*challengestest.Challenges
	useErr, releaseErr error
	releases           int
}

func (f *failing) UseChallenge(ctx context.Context, challenge string) (bool, error) {
	if f.useErr != nil {
		return false, f.useErr
	}
	return f.Challenges.UseChallenge(ctx, challenge)
}

func (f *failing) ReleaseChallenge(ctx context.Context, challenge string) error {
	f.releases++
	if f.releaseErr != nil {
		return f.releaseErr
	}
	return f.Challenges.ReleaseChallenge(ctx, challenge)
}

func used(t *testing.T, st challenges.Store, challenge string) bool {
	t.Helper()
	u, err := st.ChallengeUsed(context.Background(), challenge)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// Of two uses of one challenge, only the first tells Hydra; the second learns
// ErrUsed and tell never runs.
func TestUseTellsHydraOnce(t *testing.T) {
	ctx := context.Background()
	st := challengestest.NewChallenges()
	tells := 0
	tell := func() (string, error) { tells++; return "https://hydra.test/next", nil }

	redirect, err := challenges.Use(ctx, st, "abc", tell)
	if err != nil || redirect != "https://hydra.test/next" || tells != 1 {
		t.Fatalf("first use: %q %v, told %d", redirect, err, tells)
	}
	if !used(t, st, "abc") {
		t.Error("the challenge is not marked used after its answer")
	}
	redirect, err = challenges.Use(ctx, st, "abc", tell)
	if !errors.Is(err, challenges.ErrUsed) || redirect != "" || tells != 1 {
		t.Errorf("second use: %q %v, told %d; want ErrUsed and Hydra told once", redirect, err, tells)
	}
	// Another challenge is its own.
	if _, err := challenges.Use(ctx, st, "other", tell); err != nil || tells != 2 {
		t.Errorf("another challenge: %v, told %d", err, tells)
	}
}

// When Hydra could not be told, the claim is released: the same step can be
// tried again, and then it tells Hydra.
func TestUseReleasesWhenHydraFails(t *testing.T) {
	ctx := context.Background()
	st := &failing{Challenges: challengestest.NewChallenges()}
	down := errors.New("hydra: unavailable")
	_, err := challenges.Use(ctx, st, "abc", func() (string, error) { return "ignored", down })
	if !errors.Is(err, down) || st.releases != 1 {
		t.Fatalf("failed tell: %v, releases %d", err, st.releases)
	}
	if used(t, st, "abc") {
		t.Fatal("a challenge Hydra never heard of stays used: the user cannot retry")
	}
	redirect, err := challenges.Use(ctx, st, "abc", func() (string, error) { return "https://hydra.test/next", nil })
	if err != nil || redirect != "https://hydra.test/next" {
		t.Errorf("retry: %q %v", redirect, err)
	}
}

// A disabled account's reject was told to Hydra: its claim stays, so a
// second post cannot try again.
func TestUseKeepsTheClaimOfADisabledAccount(t *testing.T) {
	ctx := context.Background()
	st := &failing{Challenges: challengestest.NewChallenges()}
	_, err := challenges.Use(ctx, st, "abc", func() (string, error) {
		return "", challenges.ErrAccountDisabled
	})
	if !errors.Is(err, challenges.ErrAccountDisabled) || st.releases != 0 || !used(t, st, "abc") {
		t.Errorf("disabled: %v, releases %d, used %v; want the claim kept", err, st.releases, used(t, st, "abc"))
	}
	// Wrapped, too: the flows wrap it with what they were doing.
	_, err = challenges.Use(ctx, st, "def", func() (string, error) {
		return "", errors.Join(errors.New("reject sent"), challenges.ErrAccountDisabled)
	})
	if !errors.Is(err, challenges.ErrAccountDisabled) || st.releases != 0 || !used(t, st, "def") {
		t.Errorf("wrapped disabled: %v, releases %d", err, st.releases)
	}
}

// A claim the store could not make tells Hydra nothing.
func TestUseWithoutTheStoreTellsNothing(t *testing.T) {
	down := errors.New("store: connection refused")
	st := &failing{Challenges: challengestest.NewChallenges(), useErr: down}
	tells := 0
	_, err := challenges.Use(context.Background(), st, "abc", func() (string, error) { tells++; return "x", nil })
	if !errors.Is(err, down) || tells != 0 || st.releases != 0 {
		t.Errorf("store down: %v, told %d, releases %d", err, tells, st.releases)
	}
}

// Finish is the second half of Use for a challenge claimed by a combined
// statement (consent's UseChallengeForUser, the store's CompleteFlow).
func TestFinishReleasesOnlyOnFailure(t *testing.T) {
	ctx := context.Background()
	st := &failing{Challenges: challengestest.NewChallenges()}
	st.Mark("abc")
	redirect, err := challenges.Finish(ctx, st, "abc", func() (string, error) { return "https://hydra.test/next", nil })
	if err != nil || redirect != "https://hydra.test/next" || st.releases != 0 || !used(t, st, "abc") {
		t.Errorf("success: %q %v releases %d", redirect, err, st.releases)
	}
	st.Mark("def")
	redirect, err = challenges.Finish(ctx, st, "def", func() (string, error) { return "half", errors.New("timeout") })
	if err == nil || redirect != "" || st.releases != 1 || used(t, st, "def") {
		t.Errorf("failure: %q %v releases %d used %v; want no redirect and the claim released", redirect, err, st.releases, used(t, st, "def"))
	}
}

// A release that fails is logged, never shown in place of the error the
// user should see.
func TestReleaseFailureKeepsTheOriginalError(t *testing.T) {
	st := &failing{Challenges: challengestest.NewChallenges(), releaseErr: errors.New("store down")}
	st.Mark("abc")
	hydraDown := errors.New("hydra: unavailable")
	_, err := challenges.Finish(context.Background(), st, "abc", func() (string, error) { return "", hydraDown })
	if err != hydraDown || st.releases != 1 {
		t.Errorf("got %v after %d releases; want Hydra's error", err, st.releases)
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, query, form  string
		challenge          string
		present, malformed bool
	}{
		{name: "missing"},
		{name: "empty", query: "login_challenge="},
		{name: "query", query: "login_challenge=ory_lc_abc.DEF-123_%3D~", challenge: "ory_lc_abc.DEF-123_=~", present: true},
		{name: "form", form: "login_challenge=abc", challenge: "abc", present: true},
		{name: "script", query: "login_challenge=" + url.QueryEscape("<script>"), present: true, malformed: true},
		{name: "slash", query: "login_challenge=a%2Fb", present: true, malformed: true},
		{name: "too long", query: "login_challenge=" + strings.Repeat("x", 8193), present: true, malformed: true},
		{name: "longest", query: "login_challenge=" + strings.Repeat("x", 8192), challenge: strings.Repeat("x", 8192), present: true},
	} {
		r := httptest.NewRequest(http.MethodGet, "/login?"+tc.query, nil)
		if tc.form != "" {
			r = httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(tc.form))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		challenge, present, malformed := challenges.Parse(r, "login_challenge")
		if challenge != tc.challenge || present != tc.present || malformed != tc.malformed {
			t.Errorf("%s: %q present %v malformed %v", tc.name, challenge, present, malformed)
		}
	}
}
