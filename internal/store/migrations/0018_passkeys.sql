-- compatible-with: 7
-- Passkeys (WebAuthn, issue 21). Additive: new tables, a nullable column pair
-- and a channel check that allows every channel the old one did, and
-- 'passkey'; older code neither reads nor writes any of it.
--
-- A passkey belongs to a subject: users.id with our users table, the core
-- subject with Blink core (whose claims the users table caches). There is
-- deliberately no foreign key to users: with Blink core a subject's cached
-- row is deleted when its email and phone move to another subject, and that
-- must not delete the person's passkeys (the subject still exists in core,
-- and its next code sign-in caches the row again). A passkey whose subject
-- has no users row cannot sign in (the sign-in transition refuses it).
-- credential_id is unique across every subject: one credential, one owner.
CREATE TABLE passkeys (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    subject          uuid NOT NULL,
    credential_id    bytea NOT NULL UNIQUE,
    public_key       bytea NOT NULL,
    attestation_fmt  text NOT NULL DEFAULT 'none',
    sign_count       bigint NOT NULL DEFAULT 0 CHECK (sign_count >= 0),
    aaguid           bytea,
    transports       text[] NOT NULL DEFAULT '{}',
    backup_eligible  boolean NOT NULL,
    backup_state     boolean NOT NULL,
    user_verified    boolean NOT NULL,
    name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    created_at       timestamptz NOT NULL DEFAULT now(),
    last_used_at     timestamptz
);
CREATE INDEX passkeys_subject ON passkeys (subject);

-- A WebAuthn ceremony in progress: go-webauthn's SessionData (the challenge
-- and what the finish must check) as jsonb, kept here and never in the
-- browser. A sign-in ceremony is bound to its login flow (flow_id), a
-- registration to the subject and the hash of the account session's cookie
-- (binding). used_at makes each one single-use; the retention purge deletes
-- them once expired.
CREATE TABLE passkey_ceremonies (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    purpose    text NOT NULL CHECK (purpose IN ('register', 'sign-in')),
    flow_id    uuid REFERENCES login_flows (id) ON DELETE CASCADE,
    subject    uuid,
    binding    bytea,
    session    jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    CHECK ((purpose = 'sign-in' AND flow_id IS NOT NULL) OR
           (purpose = 'register' AND subject IS NOT NULL AND binding IS NOT NULL))
);
CREATE INDEX passkey_ceremonies_expires ON passkey_ceremonies (expires_at);
-- For the cascade when the retention purge deletes a flow, and for counting
-- the live ceremonies of a flow or a subject (SaveCeremony's cap).
CREATE INDEX passkey_ceremonies_flow ON passkey_ceremonies (flow_id);
CREATE INDEX passkey_ceremonies_subject ON passkey_ceremonies (subject);

-- A flow verified by a passkey: its channel is 'passkey', and what the
-- assertion showed is kept for the accept's amr/acr (which may come after the
-- authenticator step): whether the user was verified, and whether the
-- credential is synced (backup eligible: amr "swk") or device-bound ("hwk").
-- expand: dropping the old check refuses nothing older code writes
ALTER TABLE login_flows DROP CONSTRAINT login_flows_channel_check;
-- expand: the new check allows every channel the old one did, and 'passkey'
ALTER TABLE login_flows ADD CONSTRAINT login_flows_channel_check
    CHECK (channel IN ('email', 'sms', 'whatsapp', 'telegram', 'passkey'));
ALTER TABLE login_flows
    ADD COLUMN passkey_user_verified   boolean,
    ADD COLUMN passkey_backup_eligible boolean;
