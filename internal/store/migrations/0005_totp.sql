-- compatible-with: 1
-- Two-step sign-in with an authenticator app. The secret is sealed (AES-GCM
-- under a key derived from SECRET_KEY, the user id as associated data);
-- last_step is the last accepted RFC 6238 time step, so no code is used twice.
CREATE TABLE totp_credentials (
    user_id      uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    sealed       bytea NOT NULL,
    last_step    bigint,
    created_at   timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE login_flows
    ADD COLUMN needs_totp       boolean NOT NULL DEFAULT false,
    ADD COLUMN totp_attempts    integer NOT NULL DEFAULT 0,
    ADD COLUMN totp_verified_at timestamptz;

-- Changes to an account's security settings, for support and the user.
CREATE TABLE audit_events (
    id       bigserial PRIMARY KEY,
    at       timestamptz NOT NULL DEFAULT now(),
    user_id  uuid NOT NULL,
    action   text NOT NULL,
    actor    text NOT NULL
);
CREATE INDEX audit_events_user ON audit_events (user_id, at);
