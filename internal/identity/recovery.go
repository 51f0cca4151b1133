package identity

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"strings"

	"github.com/blinkbitcoin/blink-consent/internal/store"
)

// RecoveryCodes is a source whose two-step accounts get single-use recovery
// codes for a lost authenticator app (our users table). The login and
// account pages offer them only when the source is one; with Blink core the
// authenticator step sends the person to support instead.
type RecoveryCodes interface {
	// ConfirmTOTPWithRecoveryCodes is ConfirmTOTP that also makes the
	// account's RecoveryCodeCount recovery codes, in the same transaction,
	// and returns them: the only time they are ever shown.
	ConfirmTOTPWithRecoveryCodes(ctx context.Context, who Who, enrollmentID, code string) ([]string, error)
	// NewRecoveryCodes replaces the account's recovery codes (the old ones,
	// used or not, stop working), audited and notified; ErrTOTPOff when the
	// account has no authenticator app.
	NewRecoveryCodes(ctx context.Context, who Who) ([]string, error)
	// RecoveryCodesLeft counts the account's unused recovery codes.
	RecoveryCodesLeft(ctx context.Context, who Who) (int, error)
	// CheckRecoveryCode is CheckTOTP with a recovery code in req.Code: the
	// same step of the flow, limits and tries; a right code is used up,
	// audited and notified with the factor, in one transaction.
	CheckRecoveryCode(ctx context.Context, req TOTPRequest) (store.TOTPVerdict, store.Flow, error)
}

// RecoveryCodeCount is how many recovery codes an account gets at a time.
const RecoveryCodeCount = 10

// recoveryEncoding is base32 in lower case: no 0, 1, 8 or 9 to confuse
// with letters.
var recoveryEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewRecoveryCodeSet makes RecoveryCodeCount codes of 80 random bits each,
// written as four groups of four ("abcd-efgh-ijkl-mnop"), and their hashes.
func NewRecoveryCodeSet() (codes []string, hashes [][]byte, err error) {
	for range RecoveryCodeCount {
		var b [10]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, nil, err
		}
		s := recoveryEncoding.EncodeToString(b[:])
		codes = append(codes, s[0:4]+"-"+s[4:8]+"-"+s[8:12]+"-"+s[12:16])
		hashes = append(hashes, RecoveryCodeHash(s))
	}
	return codes, hashes, nil
}

// RecoveryCodeHash is the SHA-256 of a recovery code as typed, once spaces
// and dashes are dropped, letters lowered and the digits people type for
// look-alike letters (0 for o, 1 for l, 8 for b) read as those letters. The
// codes carry 80 random bits, so a plain hash is as good as a slow one.
func RecoveryCodeHash(typed string) []byte {
	s := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-', '\t':
			return -1
		case '0':
			return 'o'
		case '1':
			return 'l'
		case '8':
			return 'b'
		}
		return r
	}, strings.ToLower(strings.TrimSpace(typed)))
	h := sha256.Sum256([]byte(s))
	return h[:]
}
