package store

import (
	"context"
	"testing"
)

// Replacing an authenticator from the command line (users totp import over an
// existing one) ends the recovery codes made for the old one: whoever holds
// them must not get past the new authenticator.
func TestSaveTOTPOverAnotherEndsItsRecoveryCodes(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	u, err := s.CreateUser(ctx, NewUser{Email: "replace@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SaveTOTP(ctx, u.ID, []byte("old"), nil, "totp imported", "test", nil); err != nil {
		t.Fatal(err)
	}
	e := AuditEvent{UserID: u.ID, Action: "recovery codes made", Actor: "test", Result: "ok"}
	if err := s.ReplaceRecoveryCodes(ctx, [][]byte{[]byte("h1"), []byte("h2")}, e, nil); err != nil {
		t.Fatal(err)
	}
	if codes, err := s.RecoveryCodes(ctx, u.ID); err != nil || len(codes) != 2 {
		t.Fatalf("before: %d codes, %v", len(codes), err)
	}
	if err := s.SaveTOTP(ctx, u.ID, []byte("new"), nil, "totp imported", "test", nil); err != nil {
		t.Fatal(err)
	}
	if codes, err := s.RecoveryCodes(ctx, u.ID); err != nil || len(codes) != 0 {
		t.Errorf("after replacing the authenticator: %d recovery codes left, %v; want none", len(codes), err)
	}
}
