// PLACEHOLDER: replaced by the lead's source at merge

package blinkcore

import (
	"context"

	"github.com/blinkbitcoin/blink-consent/internal/accounts"
	"github.com/blinkbitcoin/blink-consent/internal/secret"
	"github.com/blinkbitcoin/blink-consent/internal/store"
)

// NewSource is a placeholder with the lead's signature: every method answers
// accounts.ErrUnavailable, so serve and dev compile in blink mode.
func NewSource(core *Client, st *store.Store, keys secret.Keys, limits accounts.Limits) accounts.Source {
	return placeholder{}
}

type placeholder struct{}

func (placeholder) SendCode(context.Context, accounts.SendRequest) (accounts.SendResult, error) {
	return accounts.SendResult{}, accounts.ErrUnavailable
}

func (placeholder) VerifyCode(_ context.Context, req accounts.VerifyRequest) (store.Verdict, store.Flow, error) {
	var v store.Verdict
	return v, req.Flow, accounts.ErrUnavailable
}

func (placeholder) CheckTOTP(_ context.Context, req accounts.TOTPRequest) (store.TOTPVerdict, store.Flow, error) {
	var v store.TOTPVerdict
	return v, req.Flow, accounts.ErrUnavailable
}

func (placeholder) CompleteFlow(context.Context, string) (accounts.Account, bool, error) {
	return accounts.Account{}, false, accounts.ErrUnavailable
}

func (placeholder) Account(context.Context, string) (accounts.Account, error) {
	return accounts.Account{}, accounts.ErrUnavailable
}
