package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A pending enrolment becomes a credential only with a matching code, only
// for its own user and only before it expires; wrong codes save nothing and
// the last try ends it.
func TestConfirmTOTP(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	u, err := s.CreateUser(ctx, NewUser{Email: "enrol@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.CreateUser(ctx, NewUser{Email: "other@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	const id = "00000000-0000-4000-8000-0000000000f1"
	if err := s.SavePendingTOTP(ctx, id, u.ID, []byte("pending"), time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	confirm := func(userID string, right bool) (bool, error) {
		return s.ConfirmTOTP(ctx, TOTPConfirmation{EnrollmentID: id, UserID: userID, MaxTries: 3,
			Match: func(p []byte) ([]byte, int64, bool, error) {
				if string(p) != "pending" {
					t.Errorf("Match got %q", p)
				}
				return []byte("credential"), 42, right, nil
			},
			Audit: AuditEvent{UserID: userID, Action: "totp enrolled", Actor: "user", Method: "totp", Result: "ok"}})
	}
	if _, err := confirm(other.ID, true); !errors.Is(err, ErrNotFound) {
		t.Errorf("another user's confirmation: %v, want ErrNotFound", err)
	}
	if ok, err := confirm(u.ID, false); ok || err != nil {
		t.Errorf("a wrong code: %v %v", ok, err)
	}
	if n := count(t, s, `SELECT count(*) FROM totp_credentials`); n != 0 {
		t.Fatal("a wrong code saved a credential")
	}
	if ok, err := confirm(u.ID, true); !ok || err != nil {
		t.Fatalf("the right code: %v %v", ok, err)
	}
	var step int64
	if err := s.pool.pool.QueryRow(ctx, `SELECT last_step FROM totp_credentials WHERE user_id = $1::uuid`, u.ID).Scan(&step); err != nil || step != 42 {
		t.Errorf("the credential's last step: %d %v", step, err)
	}
	if n := count(t, s, `SELECT count(*) FROM totp_enrollments`); n != 0 {
		t.Error("the pending enrolment outlived its confirmation")
	}
	if n := count(t, s, `SELECT count(*) FROM audit_events WHERE action = 'totp enrolled' AND actor = 'user'`); n != 1 {
		t.Error("the enrolment was not audited")
	}

	// Tries: the third wrong code ends the enrolment.
	if err := s.SavePendingTOTP(ctx, id, other.ID, []byte("pending"), time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if ok, err := confirm(other.ID, false); ok || err != nil {
			t.Fatalf("wrong code %d: %v %v", i, ok, err)
		}
	}
	if _, err := confirm(other.ID, true); !errors.Is(err, ErrNotFound) {
		t.Errorf("after three wrong codes: %v, want ErrNotFound", err)
	}

	// Expired.
	if err := s.SavePendingTOTP(ctx, "00000000-0000-4000-8000-0000000000f2", other.ID, []byte("pending"), time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	_, err = s.ConfirmTOTP(ctx, TOTPConfirmation{EnrollmentID: "00000000-0000-4000-8000-0000000000f2", UserID: other.ID, MaxTries: 3,
		Match: func([]byte) ([]byte, int64, bool, error) { return []byte("c"), 1, true, nil }})
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("an expired enrolment: %v, want ErrNotFound", err)
	}
	if n := count(t, s, `SELECT count(*) FROM totp_credentials WHERE user_id = '`+other.ID+`'`); n != 0 {
		t.Error("an expired enrolment saved a credential")
	}
}
