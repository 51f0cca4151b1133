package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// The steps of a flow whose codes a remote identity source sends and checks.
// Each is one transaction that locks the flow, checks the state it starts
// from and our own limits, makes the remote call, and records its outcome —
// so the state machine's rules hold as for our own codes; what the source
// keeps of the account it proved is its own, written by RemoteVerdict.Keep in
// that transaction. The
// remote call runs inside the transaction (holding the flow row and the
// limits' keys for its duration) and never twice: these transactions are not
// re-run on a lost connection.

// RemoteSend is one "send me a code" for a remote source.
type RemoteSend struct {
	FlowID      string
	BrowserHash []byte
	Channel     string
	Identifier  string
	Remember    bool
	Cooldown    time.Duration
	MaxSends    int
	Limits      []LimitKey
	// Send asks the source to send the code and returns what the flow keeps
	// for the check (sealed by the caller), or nil.
	Send func(ctx context.Context) (state []byte, err error)
}

// SendRemote is the send step for a remote source: allowed only before a code
// is verified, with the flow's cooldown and cap and our send limits. When the
// source refuses, nothing is recorded.
func (s *Store) SendRemote(ctx context.Context, req RemoteSend) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := startSend(ctx, tx, req.FlowID, req.BrowserHash, req.Cooldown, req.MaxSends, req.Limits); err != nil {
			return err
		}
		state, err := req.Send(ctx)
		if err != nil {
			return err
		}
		if err := recordEvents(ctx, tx, req.Limits); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE login_flows SET channel = $2, identifier = $3, user_id = NULL, remember = $4,
			last_sent_at = now(), sends = sends + 1, source_state = $5, code_attempts = 0
			WHERE id = $1::uuid AND verified_at IS NULL AND completed_at IS NULL`,
			req.FlowID, req.Channel, req.Identifier, req.Remember, state)
		if err != nil {
			return fmt.Errorf("store: unable to update a login flow: %w", err)
		}
		if tag.RowsAffected() != 1 {
			return ErrFlowState
		}
		return nil
	})
}

// startSend begins a send step, whoever sends the code: it locks the flow,
// which must not be verified yet, and checks the flow's cooldown and cap and
// the shared limits (each refusal a *LimitError). The caller records the
// limits' events once the send is made.
func startSend(ctx context.Context, tx pgx.Tx, flowID string, browserHash []byte, cooldown time.Duration, maxSends int, limits []LimitKey) error {
	f, err := lockFlow(ctx, tx, flowID, browserHash)
	if err != nil {
		return err
	}
	if f.VerifiedAt != nil || f.CompletedAt != nil {
		return ErrFlowState
	}
	if err := checkCooldown(ctx, tx, f, cooldown, maxSends); err != nil {
		return err
	}
	return checkLimits(ctx, tx, limits)
}

// startCodeCheck begins a code check, whoever checks the code: it locks the
// flow, which must be waiting for a code, and checks the failure limits of the
// client's IP and the flow's identifier (returned, for the caller to record a
// failure against). A flow already verified comes back with verified set and
// nothing checked: a double submit.
func startCodeCheck(ctx context.Context, tx pgx.Tx, flowID string, browserHash []byte, ipKey string, perIP, perIdentifier Limit,
) (f Flow, failures []LimitKey, verified bool, err error) {
	if f, err = lockFlow(ctx, tx, flowID, browserHash); err != nil {
		return f, nil, false, err
	}
	switch {
	case f.CompletedAt != nil, f.Channel == "":
		return f, nil, false, ErrFlowState
	case f.VerifiedAt != nil:
		return f, nil, true, nil
	}
	failures = []LimitKey{{"fail-ip", ipKey, perIP}, {"fail-identifier", f.Identifier, perIdentifier}}
	return f, failures, false, checkLimits(ctx, tx, failures)
}

// startTOTPCheck begins an authenticator check, whoever checks the code: it
// locks the flow, which must be waiting for its second factor, checks the
// failure limits of the client's IP and of the account (totpFailureKey), and
// counts the try.
func startTOTPCheck(ctx context.Context, tx pgx.Tx, flowID string, browserHash []byte, ipKey string, perIP, perAccount Limit,
) (f Flow, failures []LimitKey, tries int, err error) {
	if f, err = lockFlow(ctx, tx, flowID, browserHash); err != nil {
		return f, nil, 0, err
	}
	if f.VerifiedAt == nil || !f.NeedsTOTP || f.TOTPVerifiedAt != nil || f.CompletedAt != nil {
		return f, nil, 0, ErrFlowState
	}
	failures = []LimitKey{{"fail-ip", ipKey, perIP}, {"fail-totp", totpFailureKey(f), perAccount}}
	if err := checkLimits(ctx, tx, failures); err != nil {
		return f, nil, 0, err
	}
	if err := tx.QueryRow(ctx, `UPDATE login_flows SET totp_attempts = totp_attempts + 1 WHERE id = $1::uuid
		RETURNING totp_attempts`, f.ID).Scan(&tries); err != nil {
		return f, nil, 0, fmt.Errorf("store: unable to count a TOTP try: %w", err)
	}
	return f, failures, tries, nil
}

// totpFailureKey is what authenticator failures count against: the account,
// or — with a remote source, which names the account only after this step —
// the identifier that proved the first factor.
func totpFailureKey(f Flow) string {
	if f.UserID != "" {
		return f.UserID
	}
	return f.Identifier
}

// forgetTOTPFailures refunds the account's authenticator failures after a success.
func forgetTOTPFailures(ctx context.Context, tx pgx.Tx, f Flow) error {
	if _, err := tx.Exec(ctx, `DELETE FROM rate_events WHERE bucket = 'fail-totp' AND key = $1`, totpFailureKey(f)); err != nil {
		return fmt.Errorf("store: unable to clear failures: %w", err)
	}
	return nil
}

// checkCooldown refuses a send inside the flow's cooldown or past its cap.
func checkCooldown(ctx context.Context, tx pgx.Tx, f Flow, cooldown time.Duration, maxSends int) error {
	var sinceLast *float64
	if err := tx.QueryRow(ctx, `SELECT extract(epoch FROM now() - last_sent_at)::float8
		FROM login_flows WHERE id = $1::uuid`, f.ID).Scan(&sinceLast); err != nil {
		return fmt.Errorf("store: unable to read a login flow: %w", err)
	}
	if sinceLast != nil {
		if since := time.Duration(*sinceLast * float64(time.Second)); since < cooldown {
			return &LimitError{Bucket: "flow-cooldown", RetryAfter: cooldown - since}
		}
	}
	if f.Sends >= maxSends {
		return &LimitError{Bucket: "flow-sends", RetryAfter: time.Until(f.ExpiresAt)}
	}
	return nil
}

// RemoteVerdict is a remote source's answer to a code.
type RemoteVerdict struct {
	// Wrong: a wrong or expired code, counted against our failure limits.
	Wrong bool
	// Gone, with Wrong: the source says the code can no longer be checked
	// (expired, used, unknown to it): the verdict is CodeGone.
	Gone bool
	// Pending: the source has no answer yet (Telegram Passport not confirmed
	// yet): the check counts against the flow's tries, not our failure limits.
	Pending bool
	// SecondFactor: the account has an authenticator; State is what the
	// authenticator step needs (sealed by the caller).
	SecondFactor bool
	State        []byte
	// Keep, unless a second factor is due, keeps the account the source
	// proved (in its own tables, and the users table's cache of it) in the
	// step's transaction, through q, and returns its id: the flow's subject.
	Keep func(ctx context.Context, q Querier, f Flow) (userID string, err error)
}

// keep runs v's Keep for the locked flow f.
func (v RemoteVerdict) keep(ctx context.Context, tx pgx.Tx, f Flow) (string, error) {
	if v.Keep == nil {
		return "", errors.New("store: the identity source proved no account")
	}
	return v.Keep(ctx, tx, f)
}

// RemoteVerify is one code (or authenticator code) check for a remote source.
type RemoteVerify struct {
	FlowID         string
	BrowserHash    []byte
	NewBrowserHash []byte
	// IPKey's failures count against PerIP, the identifier's (or, at the
	// authenticator step, the flow's identifier's) against PerIdentifier.
	IPKey                string
	PerIP, PerIdentifier Limit
	// Tries caps the checks of one sent code (or of the authenticator step).
	Tries int
	Check func(ctx context.Context, f Flow) (RemoteVerdict, error)
}

// VerifyRemote is the code step for a remote source: the flow must be waiting
// for a code (one already verified is returned as it is, with CodeUsed: a
// double submit). A failure is recorded against every limit; a success
// freezes the flow's identity, keeps the account (RemoteVerdict.Keep), rebinds the
// browser and says whether the authenticator step is due.
func (s *Store) VerifyRemote(ctx context.Context, req RemoteVerify) (Verdict, Flow, error) {
	verdict := CodeWrong
	var flow Flow
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		f, failures, verified, err := startCodeCheck(ctx, tx, req.FlowID, req.BrowserHash, req.IPKey, req.PerIP, req.PerIdentifier)
		flow = f
		if err != nil || verified {
			verdict = CodeUsed
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE login_flows SET code_attempts = code_attempts + 1 WHERE id = $1::uuid`, f.ID); err != nil {
			return fmt.Errorf("store: unable to count a try: %w", err)
		}
		if f.CodeAttempts+1 > req.Tries {
			verdict = CodeLocked
			return recordEvents(ctx, tx, failures)
		}
		v, err := req.Check(ctx, f)
		if err != nil {
			return err
		}
		if v.Wrong {
			verdict = CodeWrong
			if v.Gone {
				verdict = CodeGone
			}
			return recordEvents(ctx, tx, failures)
		}
		if v.Pending {
			verdict = CodePending
			return nil
		}
		var userID *string
		if !v.SecondFactor {
			id, err := v.keep(ctx, tx, f)
			if err != nil {
				return err
			}
			userID = &id
		}
		if _, err := tx.Exec(ctx, `DELETE FROM rate_events WHERE bucket = 'fail-identifier' AND key = $1`, f.Identifier); err != nil {
			return fmt.Errorf("store: unable to clear failures: %w", err)
		}
		flow, err = scanFlow(tx.QueryRow(ctx, `UPDATE login_flows SET verified_at = now(), user_id = $2::uuid,
			needs_totp = $3, source_state = $4, browser_hash = $5
			WHERE id = $1::uuid AND verified_at IS NULL AND completed_at IS NULL RETURNING `+flowColumns,
			f.ID, userID, v.SecondFactor, v.State, req.NewBrowserHash))
		if errors.Is(err, ErrNotFound) {
			return ErrFlowState
		}
		verdict = CodeAccepted
		return err
	})
	if err != nil {
		return CodeWrong, Flow{}, err
	}
	return verdict, flow, nil
}

// VerifyRemoteTOTP is the authenticator step for a remote source: the flow
// must be waiting for it (else ErrFlowState). A success keeps the account,
// forgets the source's state and rebinds the browser.
func (s *Store) VerifyRemoteTOTP(ctx context.Context, req RemoteVerify) (TOTPVerdict, Flow, error) {
	verdict := TOTPWrong
	var flow Flow
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		f, failures, tries, err := startTOTPCheck(ctx, tx, req.FlowID, req.BrowserHash, req.IPKey, req.PerIP, req.PerIdentifier)
		flow = f
		if err != nil {
			return err
		}
		if tries > req.Tries {
			// No try is left, so the kept auth token can never be used: it goes now.
			verdict = TOTPLocked
			if err := forgetFlowState(ctx, tx, f.ID); err != nil {
				return err
			}
			return recordEvents(ctx, tx, failures)
		}
		v, err := req.Check(ctx, f)
		if err != nil {
			return err
		}
		if v.Wrong {
			verdict = TOTPWrong
			return recordEvents(ctx, tx, failures)
		}
		id, err := v.keep(ctx, tx, f)
		if err != nil {
			return err
		}
		if err := forgetTOTPFailures(ctx, tx, f); err != nil {
			return err
		}
		flow, err = scanFlow(tx.QueryRow(ctx, `UPDATE login_flows SET totp_verified_at = now(), user_id = $2::uuid,
			source_state = NULL, browser_hash = $3 WHERE id = $1::uuid RETURNING `+flowColumns, f.ID, id, req.NewBrowserHash))
		verdict = TOTPAccepted
		return err
	})
	if err != nil {
		return TOTPWrong, Flow{}, err
	}
	return verdict, flow, nil
}

// ForgetFlowState drops what a remote source kept in the flow between two
// steps (a handle on the code it sent, or a credential while the
// authenticator step is due), for a flow that will not go on: the sign-in was cancelled. A flow
// that completes drops it in CompleteFlow, and the retention purge drops it
// once the flow expired.
func (s *Store) ForgetFlowState(ctx context.Context, flowID string) error {
	return s.inTx(ctx, func(tx pgx.Tx) error { return forgetFlowState(ctx, tx, flowID) })
}

func forgetFlowState(ctx context.Context, tx pgx.Tx, flowID string) error {
	if _, err := tx.Exec(ctx, `UPDATE login_flows SET source_state = NULL WHERE id = $1::uuid AND source_state IS NOT NULL`, uuidArg(flowID)); err != nil {
		return fmt.Errorf("store: unable to forget a flow's state: %w", err)
	}
	return nil
}
