package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/blinkbitcoin/blink-consent/internal/contact"
)

// AuditAction names what an audit event records. Every action is one of the
// constants below: the account page's activity list, docs/operations.md and
// the operators' queries read these exact words, so they change only here.
type AuditAction string

// The audit actions.
const (
	ActionSignInSucceeded      AuditAction = "sign-in succeeded"
	ActionSignInFailed         AuditAction = "sign-in failed"
	ActionIdentifierLocked     AuditAction = "identifier locked"
	ActionIdentifierUnlocked   AuditAction = "identifier unlocked"
	ActionConsentGranted       AuditAction = "consent granted"
	ActionConsentDenied        AuditAction = "consent denied"
	ActionConsentRemoved       AuditAction = "consent removed"
	ActionRecoveryCodeUsed     AuditAction = "recovery code used"
	ActionRecoveryCodesMade    AuditAction = "recovery codes made"
	ActionTOTPEnrolled         AuditAction = "totp enrolled"
	ActionTOTPRemoved          AuditAction = "totp removed"
	ActionTOTPImported         AuditAction = "totp imported"
	ActionUserDisabled         AuditAction = "user disabled"
	ActionUserEnabled          AuditAction = "user enabled"
	ActionHydraSessionsRevoked AuditAction = "hydra sessions revoked"
	ActionPasskeyAdded         AuditAction = "passkey added"
	ActionPasskeyRenamed       AuditAction = "passkey renamed"
	ActionPasskeyRemoved       AuditAction = "passkey removed"
)

// AuditEvent is one row of the security audit trail. Empty fields are stored
// as NULL.
type AuditEvent struct {
	At       time.Time
	UserID   string
	Action   AuditAction
	Actor    string // "user", "cli", "system"
	ClientID string
	IP       string
	Method   string // "email", "sms", "whatsapp", "totp", "remembered", …
	Result   string
	Details  map[string]any
}

// insertAudit writes e in tx: one INSERT, so it costs the transaction it
// joins one round trip.
func insertAudit(ctx context.Context, tx pgx.Tx, e AuditEvent) error {
	var details any
	if len(e.Details) > 0 {
		details = e.Details
	}
	_, err := tx.Exec(ctx, `INSERT INTO audit_events (user_id, action, actor, client_id, ip, method, result, details)
		VALUES ($1::uuid, $2, $3, nullif($4, ''), nullif($5, ''), nullif($6, ''), nullif($7, ''), $8)`,
		uuidArg(e.UserID), e.Action, e.Actor, e.ClientID, e.IP, e.Method, e.Result, details)
	if err != nil {
		return fmt.Errorf("store: unable to audit: %w", err)
	}
	return nil
}

// maskIdentifier hides most of an email address or phone number.
func maskIdentifier(identifier string) string { return contact.Mask(identifier) }

// Audit writes one event on its own.
func (s *Store) Audit(ctx context.Context, e AuditEvent) error {
	return s.inTx(ctx, func(tx pgx.Tx) error { return insertAudit(ctx, tx, e) })
}

// AuditTrail lists a user's audit events since a time, oldest first.
func (s *Store) AuditTrail(ctx context.Context, userID string, since time.Time) ([]AuditEvent, error) {
	return s.auditEvents(ctx, `user_id = $1::uuid AND at >= $2 ORDER BY at, id`, uuidArg(userID), since)
}

// LatestAuditEvents lists a user's last n audit events, newest first.
func (s *Store) LatestAuditEvents(ctx context.Context, userID string, n int) ([]AuditEvent, error) {
	return s.auditEvents(ctx, `user_id = $1::uuid ORDER BY at DESC, id DESC LIMIT $2`, uuidArg(userID), n)
}

// auditEvents reads the events matching where (a condition and its order).
func (s *Store) auditEvents(ctx context.Context, where string, args ...any) ([]AuditEvent, error) {
	rows, err := s.pool.Query(ctx, `SELECT at, coalesce(user_id::text, ''), action, actor, coalesce(client_id, ''), coalesce(ip, ''),
			coalesce(method, ''), coalesce(result, ''), details
		FROM audit_events WHERE `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("store: unable to read audit events: %w", err)
	}
	events, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (AuditEvent, error) {
		var e AuditEvent
		err := row.Scan(&e.At, &e.UserID, &e.Action, &e.Actor, &e.ClientID, &e.IP, &e.Method, &e.Result, &e.Details)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: unable to read audit events: %w", err)
	}
	return events, nil
}

// GrantedClient is an app the audit trail says a user allowed on the consent
// page and has not lost since: the latest grant, with its scopes.
type GrantedClient struct {
	ClientID string
	At       time.Time
	Scopes   []string
}

// GrantedClients lists the apps whose latest "consent granted" event for
// userID is newer than their latest "consent removed" and than the last time
// every Hydra session of the user was revoked ("hydra sessions revoked").
// Hydra's own listing leaves out consents whose remember_for has passed, yet
// their refresh tokens still work: this is how the account page still finds
// them (security review, issue 15). It reaches back AUDIT_RETENTION.
func (s *Store) GrantedClients(ctx context.Context, userID string) ([]GrantedClient, error) {
	rows, err := s.pool.Query(ctx, `
		WITH everything_revoked AS (
			SELECT coalesce(max(at), '-infinity') AS at FROM audit_events
			WHERE user_id = $1::uuid AND action = 'hydra sessions revoked'
		), latest AS (
			SELECT DISTINCT ON (client_id) client_id, action, at, details
			FROM audit_events
			WHERE user_id = $1::uuid AND client_id IS NOT NULL AND action IN ('consent granted', 'consent removed')
			ORDER BY client_id, at DESC, id DESC
		)
		SELECT latest.client_id, latest.at, coalesce(latest.details->'scopes', '[]'::jsonb)
		FROM latest, everything_revoked
		WHERE latest.action = 'consent granted' AND latest.at > everything_revoked.at
		ORDER BY latest.at DESC`, uuidArg(userID))
	if err != nil {
		return nil, fmt.Errorf("store: unable to read granted clients: %w", err)
	}
	granted, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (GrantedClient, error) {
		var g GrantedClient
		err := row.Scan(&g.ClientID, &g.At, &g.Scopes)
		return g, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: unable to read granted clients: %w", err)
	}
	return granted, nil
}
