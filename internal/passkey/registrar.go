package passkey

import (
	"context"

	"github.com/blinkbitcoin/blink-consent/internal/store"
)

// Registrar is what adds passkeys — the account page and the offer after a
// code sign-in — ask of the relying party (*RP): a registration ceremony
// kept by the store, and its end with the audit line and the notice in the
// same transaction.
type Registrar interface {
	BeginRegistration(ctx context.Context, st Store, u User, binding []byte) (Begun, error)
	FinishRegistrationNotified(ctx context.Context, st Store, u User, binding []byte, id string, response []byte, name string, audit *store.AuditEvent, notify *store.Message) (store.Passkey, error)
}

var _ Registrar = (*RP)(nil)
