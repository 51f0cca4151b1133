package postgres

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/identity"
	"github.com/blinkbitcoin/blink-consent/internal/ids"
	"github.com/blinkbitcoin/blink-consent/internal/store"
	"github.com/blinkbitcoin/blink-consent/internal/totp"
)

// Two-step sign-in turned on and off by its user (the account page) or by an
// operator (`users totp enroll|remove`): one code path for both, whose actor
// the audit trail names.

// DefaultEnrollmentTTL is how long a secret shown to its user waits for its
// confirming code.
const DefaultEnrollmentTTL = 10 * time.Minute

// EnrollmentTries is how many wrong confirming codes end an enrolment.
const EnrollmentTries = 5

var errUnreadable = errors.New("postgres: a pending enrolment cannot be opened")

func (s Source) now() time.Time {
	if s.Clock != nil {
		return s.Clock()
	}
	return time.Now()
}

func (s Source) user(ctx context.Context, who identity.Who) (store.User, error) {
	u, err := s.Store.UserByID(ctx, who.Subject)
	if errors.Is(err, store.ErrNotFound) {
		return u, identity.ErrNotFound
	}
	return u, err
}

// TOTPStatus reports whether the account has a credential.
func (s Source) TOTPStatus(ctx context.Context, who identity.Who) (bool, error) {
	if _, err := s.user(ctx, who); err != nil {
		return false, err
	}
	_, err := s.Store.TOTPFor(ctx, who.Subject)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// PendingAD binds a pending secret to its enrolment and its user.
func PendingAD(enrollmentID, userID string) []byte {
	return []byte("totp enrolment " + enrollmentID + " " + userID)
}

// BeginTOTP makes a secret and keeps it sealed in totp_enrollments until a
// code confirms it or it expires; nothing is active yet.
func (s Source) BeginTOTP(ctx context.Context, who identity.Who) (identity.Enrollment, error) {
	u, err := s.user(ctx, who)
	if err != nil {
		return identity.Enrollment{}, err
	}
	if on, err := s.TOTPStatus(ctx, who); err != nil || on {
		if on {
			err = identity.ErrTOTPOn
		}
		return identity.Enrollment{}, err
	}
	secret, err := totp.NewSecret()
	if err != nil {
		return identity.Enrollment{}, err
	}
	id := newUUID()
	sealed, err := s.Keys.Seal(secret, PendingAD(id, u.ID))
	if err != nil {
		return identity.Enrollment{}, err
	}
	ttl := s.EnrollmentTTL
	if ttl <= 0 {
		ttl = DefaultEnrollmentTTL
	}
	expires := time.Now().Add(ttl)
	if err := s.Store.SavePendingTOTP(ctx, id, u.ID, sealed, expires); err != nil {
		return identity.Enrollment{}, err
	}
	return identity.Enrollment{ID: id, Secret: totp.Base32(secret), URI: totp.URI(secret, identity.TOTPAccountName(u)), ExpiresAt: expires}, nil
}

// ConfirmTOTP saves the pending secret as the account's credential when code
// is a current code of it, with that code's step recorded so it cannot also
// sign in; audited and notified in the same transaction. It makes no
// recovery codes (the command line's enrolment: nobody would see them).
func (s Source) ConfirmTOTP(ctx context.Context, who identity.Who, enrollmentID, code string) error {
	return s.confirmTOTP(ctx, who, enrollmentID, code, nil)
}

// ConfirmTOTPWithRecoveryCodes is ConfirmTOTP that also stores the hashes
// of ten new recovery codes with the credential, and returns the codes.
func (s Source) ConfirmTOTPWithRecoveryCodes(ctx context.Context, who identity.Who, enrollmentID, code string) ([]string, error) {
	codes, hashes, err := identity.NewRecoveryCodeSet()
	if err != nil {
		return nil, err
	}
	if err := s.confirmTOTP(ctx, who, enrollmentID, code, hashes); err != nil {
		return nil, err
	}
	return codes, nil
}

func (s Source) confirmTOTP(ctx context.Context, who identity.Who, enrollmentID, code string, recoveryHashes [][]byte) error {
	u, err := s.user(ctx, who)
	if err != nil {
		return err
	}
	if !ids.IsUUID(enrollmentID) {
		return identity.ErrEnrollmentGone
	}
	notice, err := identity.TOTPNotice(s.Keys, u, who.Lang, "notify.totp.added", s.Seal, s.CanNotify)
	if err != nil {
		return err
	}
	now := s.now()
	ok, err := s.Store.ConfirmTOTP(ctx, store.TOTPConfirmation{
		EnrollmentID: enrollmentID, UserID: u.ID, MaxTries: EnrollmentTries,
		Match: func(pending []byte) ([]byte, int64, bool, error) {
			secret, err := s.Keys.Open(pending, PendingAD(enrollmentID, u.ID))
			if err != nil {
				// Sealed under a key no longer given (SECRET_KEY rotated): begin again.
				return nil, 0, false, errUnreadable
			}
			step, ok := totp.Match(secret, code, now)
			if !ok {
				return nil, 0, false, nil
			}
			sealed, err := s.Keys.Seal(secret, []byte(u.ID))
			return sealed, step, true, err
		},
		Audit:          store.AuditEvent{UserID: u.ID, Action: store.ActionTOTPEnrolled, Actor: who.ActorName(), IP: who.IP, Method: "totp", Result: "ok"},
		Notify:         notice,
		RecoveryHashes: recoveryHashes,
	})
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, errUnreadable):
		return identity.ErrEnrollmentGone
	case errors.Is(err, store.ErrTOTPExists):
		return identity.ErrTOTPOn
	case err != nil:
		return err
	case !ok:
		return identity.ErrWrongCode
	}
	return nil
}

// NewRecoveryCodes replaces the account's recovery codes, audited and
// notified in the same transaction.
func (s Source) NewRecoveryCodes(ctx context.Context, who identity.Who) ([]string, error) {
	u, err := s.user(ctx, who)
	if err != nil {
		return nil, err
	}
	notice, err := identity.TOTPNotice(s.Keys, u, who.Lang, "notify.recovery.new", s.Seal, s.CanNotify)
	if err != nil {
		return nil, err
	}
	codes, hashes, err := identity.NewRecoveryCodeSet()
	if err != nil {
		return nil, err
	}
	err = s.Store.ReplaceRecoveryCodes(ctx, hashes, store.AuditEvent{UserID: u.ID, Action: store.ActionRecoveryCodesMade, Actor: who.ActorName(), IP: who.IP, Method: "recovery_code", Result: "ok"}, notice)
	if errors.Is(err, store.ErrNotFound) {
		return nil, identity.ErrTOTPOff
	}
	if err != nil {
		return nil, err
	}
	return codes, nil
}

// RecoveryCodesLeft counts the account's unused recovery codes.
func (s Source) RecoveryCodesLeft(ctx context.Context, who identity.Who) (int, error) {
	if _, err := s.user(ctx, who); err != nil {
		return 0, err
	}
	codes, err := s.Store.RecoveryCodes(ctx, who.Subject)
	left := 0
	for _, c := range codes {
		if c.UsedAt == nil {
			left++
		}
	}
	return left, err
}

// RemoveTOTP deletes the account's credential, audited and notified in the
// same transaction.
func (s Source) RemoveTOTP(ctx context.Context, who identity.Who) error {
	u, err := s.user(ctx, who)
	if err != nil {
		return err
	}
	notice, err := identity.TOTPNotice(s.Keys, u, who.Lang, "notify.totp.removed", s.Seal, s.CanNotify)
	if err != nil {
		return err
	}
	err = s.Store.RemoveTOTP(ctx, store.AuditEvent{UserID: u.ID, Action: store.ActionTOTPRemoved, Actor: who.ActorName(), IP: who.IP, Method: "totp", Result: "ok"}, notice)
	if errors.Is(err, store.ErrNotFound) {
		return identity.ErrTOTPOff
	}
	return err
}

func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

var _ identity.RecoveryCodes = Source{}
