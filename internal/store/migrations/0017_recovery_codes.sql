-- compatible-with: 7
-- Recovery codes for two-step sign-in (our users table only): ten single-use
-- codes made when an account turns its authenticator app on, shown once.
-- Only the SHA-256 of each code is kept (the codes are 80 random bits, so a
-- plain hash cannot be reversed by trying them). A code is used by setting
-- used_at, in the same transaction that completes the authenticator step of
-- the flow named by used_flow; a used row stays until the codes are made
-- again or two-step sign-in is turned off, so the account page can count the
-- codes left and the audit trail can be checked against it.
CREATE TABLE recovery_codes (
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    used_at    timestamptz,
    used_flow  uuid,
    PRIMARY KEY (user_id, code_hash)
);

-- Which second factor completed a flow's authenticator step ('totp' or
-- 'recovery_code'), so the accepted sign-in's amr says what happened.
-- Additive: a nullable column older code neither reads nor writes.
ALTER TABLE login_flows ADD COLUMN second_factor text;
