-- compatible-with: 7
-- Two-step sign-in from the account page.
--
-- totp_enrollments: an authenticator secret shown to its user and not yet
-- confirmed with a code. Sealed (AES-GCM, the enrolment id and the user id as
-- associated data); it becomes a totp_credentials row only when a current
-- code matches, and is deleted then, after MaxTries wrong codes, or by the
-- retention purge as soon as it expires.
CREATE TABLE totp_enrollments (
    id         uuid PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    sealed     bytea NOT NULL,
    tries      integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX totp_enrollments_user ON totp_enrollments (user_id);
CREATE INDEX totp_enrollments_expires ON totp_enrollments (expires_at);

-- core_tokens: with IDENTITY_SOURCE=blink, the Blink core auth token of a
-- sign-in to the account page (ACCOUNT_CLIENT_ID), under Hydra's login session
-- id (the ID token's sid). Sealed (AES-GCM, the subject and the sid as
-- associated data), never sent to the browser, deleted by the retention purge
-- as soon as it expires.
CREATE TABLE core_tokens (
    session_id text PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    sealed     bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX core_tokens_expires ON core_tokens (expires_at);
