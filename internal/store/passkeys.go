package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Passkey is one WebAuthn credential of a subject (a row of passkeys): what
// an assertion is verified against, and what the account page shows.
type Passkey struct {
	ID           string // the row's id, what the account page names it by
	Subject      string // users.id, or Blink core's subject
	CredentialID []byte
	PublicKey    []byte // COSE, as the authenticator gave it
	// AttestationFormat is the registration's format ("none": we ask for none).
	AttestationFormat string
	SignCount         uint32
	AAGUID            []byte
	Transports        []string
	// BackupEligible: the credential may be synced to other devices (it
	// never changes); BackupState: it is synced now.
	BackupEligible, BackupState bool
	// UserVerified: the user was verified when it was registered.
	UserVerified bool
	Name         string
	CreatedAt    time.Time
	LastUsedAt   *time.Time
}

const passkeyColumns = `id::text, subject::text, credential_id, public_key, attestation_fmt, sign_count, aaguid, transports,
	backup_eligible, backup_state, user_verified, name, created_at, last_used_at`

func scanPasskey(row pgx.Row) (Passkey, error) {
	var p Passkey
	var count int64
	err := row.Scan(&p.ID, &p.Subject, &p.CredentialID, &p.PublicKey, &p.AttestationFormat, &count, &p.AAGUID, &p.Transports,
		&p.BackupEligible, &p.BackupState, &p.UserVerified, &p.Name, &p.CreatedAt, &p.LastUsedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Passkey{}, ErrNotFound
	}
	if err != nil {
		return Passkey{}, fmt.Errorf("store: unable to read a passkey: %w", err)
	}
	p.SignCount = uint32(count)
	return p, nil
}

// Passkeys lists a subject's passkeys, oldest first.
func (s *Store) Passkeys(ctx context.Context, subject string) ([]Passkey, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+passkeyColumns+` FROM passkeys WHERE subject = $1::uuid ORDER BY created_at, id`, uuidArg(subject))
	if err != nil {
		return nil, fmt.Errorf("store: unable to list passkeys: %w", err)
	}
	defer rows.Close()
	var out []Passkey
	for rows.Next() {
		p, err := scanPasskey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: unable to list passkeys: %w", err)
	}
	return out, nil
}

// Ceremony is a WebAuthn ceremony in progress: go-webauthn's SessionData
// (Session, JSON), kept server-side, single-use, until ExpiresAt.
type Ceremony struct {
	ID string
	// Purpose is CeremonyRegister or CeremonySignIn.
	Purpose string
	// FlowID binds a sign-in ceremony to its login flow.
	FlowID string
	// Subject and Binding (the SHA-256 of the account session's cookie, or of
	// the browser cookie after a code sign-in) bind a registration.
	Subject string
	Binding []byte
	Session []byte
}

// The ceremonies' purposes.
const (
	CeremonyRegister = "register"
	CeremonySignIn   = "sign-in"
)

// ErrCeremony means the ceremony named is unknown, already used, expired,
// of another purpose or bound to another flow, subject or session: the
// browser must begin a new one. Nothing was changed.
var ErrCeremony = errors.New("store: no such passkey ceremony in progress")

// MaxLiveCeremonies bounds the unused, unexpired ceremonies of one flow (a
// sign-in) or one subject and session (a registration): each page load and
// each tap of the button begins one, and nobody needs more than a few in
// five minutes, so a script cannot fill the table through one flow.
const MaxLiveCeremonies = 20

// ErrCeremonyLimit: the flow (or the subject's session) already has
// MaxLiveCeremonies ceremonies in progress; nothing was kept.
var ErrCeremonyLimit = errors.New("store: too many passkey ceremonies in progress")

// SaveCeremony keeps a ceremony for ttl and returns its id; ErrCeremonyLimit
// past MaxLiveCeremonies.
func (s *Store) SaveCeremony(ctx context.Context, c Ceremony, ttl time.Duration) (string, error) {
	var id string
	var flow, subject any
	if c.FlowID != "" {
		flow = uuidArg(c.FlowID)
	}
	if c.Subject != "" {
		subject = uuidArg(c.Subject)
	}
	err := s.pool.QueryRow(ctx, `INSERT INTO passkey_ceremonies (purpose, flow_id, subject, binding, session, expires_at)
		SELECT $1, $2::uuid, $3::uuid, $4, $5, now() + $6::interval
		WHERE (SELECT count(*) FROM passkey_ceremonies WHERE used_at IS NULL AND expires_at > now()
			AND (flow_id = $2::uuid OR (subject = $3::uuid AND binding = $4))) < $7
		RETURNING id::text`,
		c.Purpose, flow, subject, c.Binding, c.Session, ttl, MaxLiveCeremonies).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", ErrCeremonyLimit
	}
	if err != nil {
		return "", fmt.Errorf("store: unable to keep a passkey ceremony: %w", err)
	}
	return id, nil
}

// useCeremony marks the ceremony used, in tx, if it is live and matches
// purpose and its binding, and returns its session; ErrCeremony otherwise.
func useCeremony(ctx context.Context, tx pgx.Tx, c Ceremony) ([]byte, error) {
	var session []byte
	err := tx.QueryRow(ctx, `UPDATE passkey_ceremonies SET used_at = now()
		WHERE id = $1::uuid AND purpose = $2 AND used_at IS NULL AND expires_at > now()
			AND flow_id IS NOT DISTINCT FROM $3::uuid AND subject IS NOT DISTINCT FROM $4::uuid AND binding IS NOT DISTINCT FROM $5
		RETURNING session`, uuidArg(c.ID), c.Purpose, nullUUID(c.FlowID), nullUUID(c.Subject), c.Binding).Scan(&session)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrCeremony
	}
	if err != nil {
		return nil, fmt.Errorf("store: unable to use a passkey ceremony: %w", err)
	}
	return session, nil
}

// nullUUID is NULL for "", else the id (or NULL when it is not a uuid, which
// then matches nothing bound to an id).
func nullUUID(s string) any {
	if s == "" {
		return nil
	}
	return uuidArg(s)
}

// ErrPasskeyLimit: the subject already has the most passkeys allowed.
var ErrPasskeyLimit = errors.New("store: too many passkeys")

// ErrPasskeyExists: the credential is already registered (to anyone).
var ErrPasskeyExists = errors.New("store: the passkey is already registered")

// NewPasskey is the end of a registration: the ceremony (Ceremony: its ID,
// Subject and Binding) is used, then Create verifies the browser's answer
// against its session and returns the passkey to keep.
type NewPasskey struct {
	Ceremony Ceremony
	// Max is how many passkeys a subject may have.
	Max    int
	Create func(session []byte) (Passkey, error)
	// Audit, when set, is written in the same transaction once the passkey
	// is added (its UserID is the subject); its Details get "passkey" (the
	// row's id) and "name".
	Audit *AuditEvent
	// Notify, when set with Audit, is queued in the outbox in the same
	// transaction: the notice telling the person a passkey was added.
	Notify *Message
}

// AddPasskey finishes a registration in one transaction: the ceremony is
// used (single-use, even when Create refuses the answer: ErrCeremony when it
// was not live), the subject's passkeys are counted under a lock (so two
// registrations cannot both pass the limit: ErrPasskeyLimit), Create runs,
// and the passkey is stored (ErrPasskeyExists for a credential id already
// registered, to this subject or any other). Create's error is returned as
// it is, with the ceremony spent.
func (s *Store) AddPasskey(ctx context.Context, in NewPasskey) (Passkey, error) {
	in.Ceremony.Purpose = CeremonyRegister
	var added Passkey
	var refused error
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		refused = nil
		session, err := useCeremony(ctx, tx, in.Ceremony)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('passkeys ' || $1, 0))`, in.Ceremony.Subject); err != nil {
			return fmt.Errorf("store: unable to lock a subject's passkeys: %w", err)
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM passkeys WHERE subject = $1::uuid`, uuidArg(in.Ceremony.Subject)).Scan(&n); err != nil {
			return fmt.Errorf("store: unable to count passkeys: %w", err)
		}
		if n >= in.Max {
			refused = ErrPasskeyLimit
			return nil
		}
		p, err := in.Create(session)
		if err != nil {
			// The ceremony stays spent: its challenge is never good twice.
			refused = err
			return nil
		}
		added, err = scanPasskey(tx.QueryRow(ctx, `INSERT INTO passkeys (subject, credential_id, public_key, attestation_fmt, sign_count,
			aaguid, transports, backup_eligible, backup_state, user_verified, name)
			VALUES ($1::uuid, $2, $3, $4, $5, $6, coalesce($7::text[], '{}'), $8, $9, $10, $11) RETURNING `+passkeyColumns,
			uuidArg(in.Ceremony.Subject), p.CredentialID, p.PublicKey, p.AttestationFormat, int64(p.SignCount),
			p.AAGUID, p.Transports, p.BackupEligible, p.BackupState, p.UserVerified, p.Name))
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23505" {
			return ErrPasskeyExists
		}
		if err != nil {
			return err
		}
		if in.Audit != nil {
			e := *in.Audit
			e.UserID = in.Ceremony.Subject
			e.Details = withDetails(e.Details, map[string]any{"passkey": added.ID, "name": added.Name})
			return auditAndNotify(ctx, tx, e, in.Notify)
		}
		return nil
	})
	if err != nil {
		return Passkey{}, err
	}
	if refused != nil {
		return Passkey{}, refused
	}
	return added, nil
}

// withDetails is d with more's keys added (a new map).
func withDetails(d, more map[string]any) map[string]any {
	out := make(map[string]any, len(d)+len(more))
	for k, v := range d {
		out[k] = v
	}
	for k, v := range more {
		out[k] = v
	}
	return out
}

// RenamePasskey names the subject's passkey id; ErrNotFound when the subject
// has no such passkey (another subject's is never touched). audit, when set,
// is written in the same transaction (UserID the subject; Details get
// "passkey" and "name"), and notify (the notice to the person) queued with
// it when set.
func (s *Store) RenamePasskey(ctx context.Context, subject, id, name string, audit *AuditEvent, notify *Message) error {
	return s.changePasskey(ctx, subject, id, `UPDATE passkeys SET name = $3 WHERE subject = $1::uuid AND id = $2::uuid RETURNING name`, name, audit, notify)
}

// RemovePasskey deletes the subject's passkey id; ErrNotFound when the
// subject has no such passkey. audit and notify as for RenamePasskey.
func (s *Store) RemovePasskey(ctx context.Context, subject, id string, audit *AuditEvent, notify *Message) error {
	return s.changePasskey(ctx, subject, id, `DELETE FROM passkeys WHERE subject = $1::uuid AND id = $2::uuid AND $3::text IS NULL RETURNING name`, nil, audit, notify)
}

func (s *Store) changePasskey(ctx context.Context, subject, id, sql string, arg any, audit *AuditEvent, notify *Message) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var name string
		err := tx.QueryRow(ctx, sql, uuidArg(subject), uuidArg(id), arg).Scan(&name)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("store: unable to change a passkey: %w", err)
		}
		if audit == nil {
			return nil
		}
		e := *audit
		e.UserID = subject
		e.Details = withDetails(e.Details, map[string]any{"passkey": id, "name": name})
		return auditAndNotify(ctx, tx, e, notify)
	})
}
