-- compatible-with: 7
-- The /account page signs people in as a first-party OAuth client of Hydra.
-- account_logins: one authorization request in flight (state, nonce and the
-- PKCE verifier stay here, never in the browser), bound to the browser that
-- started it by the SHA-256 of a cookie; single use (deleted on callback).
-- account_sessions: one signed-in account page, found by the SHA-256 of its
-- cookie; sid and auth_time come from the ID token Hydra issued.
CREATE TABLE account_logins (
    state_hash    bytea PRIMARY KEY,
    browser_hash  bytea NOT NULL,
    nonce         text NOT NULL,
    code_verifier text NOT NULL,
    fresh         boolean NOT NULL DEFAULT false,
    return_to     text NOT NULL DEFAULT '/account',
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL
);
CREATE INDEX account_logins_expires_at ON account_logins (expires_at);

CREATE TABLE account_sessions (
    token_hash  bytea PRIMARY KEY,
    subject     text NOT NULL,
    sid         text NOT NULL DEFAULT '',
    auth_time   timestamptz NOT NULL,
    id_token    text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX account_sessions_subject ON account_sessions (subject);
CREATE INDEX account_sessions_expires_at ON account_sessions (expires_at);
