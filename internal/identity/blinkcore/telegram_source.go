package blinkcore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/blinkbitcoin/blink-consent/internal/identity"
	"github.com/blinkbitcoin/blink-consent/internal/store"
)

// TelegramChecks is how many times one Telegram request is asked about
// (pending answers included) before the person must start it again. Each
// ask costs a point of core's login limits (8 per phone per hour, 40 failed
// per IP per 6 hours), so the page asks politely and this bounds it.
const TelegramChecks = 6

var _ identity.TelegramPassport = Source{}

// telegramRequest asks core for a Telegram request for the flow's phone and
// returns it sealed, for the flow's source_state.
func (s Source) telegramRequest(ctx context.Context, flowID, clientIP, phone string) ([]byte, error) {
	p, err := s.core.TelegramRequestParams(ctx, clientIP, phone)
	if err != nil {
		return nil, mapError(err)
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	return s.seal(flowID, b)
}

// TelegramParams opens the flow's Telegram request.
func (s Source) TelegramParams(f store.Flow) (identity.TelegramParams, error) {
	if f.Channel != "telegram" {
		return identity.TelegramParams{}, identity.ErrStartAgain
	}
	raw, err := s.open(f)
	if err != nil {
		return identity.TelegramParams{}, err
	}
	var p TelegramParams
	if err := json.Unmarshal([]byte(raw), &p); err != nil {
		return identity.TelegramParams{}, fmt.Errorf("blinkcore: the flow's telegram request cannot be read: %w", err)
	}
	return identity.TelegramParams{BotID: p.BotID, Scope: string(p.Scope), PublicKey: p.PublicKey, Nonce: p.Nonce}, nil
}

// telegramLogin asks core whether Telegram confirmed the flow's request.
func (s Source) telegramLogin(ctx context.Context, f store.Flow, clientIP string) (Login, bool, error) {
	p, err := s.TelegramParams(f)
	if err != nil {
		return Login{}, false, err
	}
	login, err := s.core.TelegramLogin(ctx, clientIP, p.Nonce, f.Identifier)
	if errors.Is(err, ErrTelegramPending) {
		return Login{}, true, nil
	}
	return login, false, err
}

// mapTelegram turns Telegram Passport's refusals into the seam's errors;
// nil for any other error.
func mapTelegram(err error) error {
	switch {
	case errors.Is(err, ErrTelegramDisabled):
		return fmt.Errorf("%w (%w)", identity.ErrTelegramOff, err)
	case errors.Is(err, ErrTelegramNonce):
		return fmt.Errorf("%w (%w)", identity.ErrTelegramGone, err)
	case errors.Is(err, ErrTelegramPhone):
		return fmt.Errorf("%w (%w)", identity.ErrTelegramPhone, err)
	}
	return nil
}
