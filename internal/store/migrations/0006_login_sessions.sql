-- compatible-with: 1
-- Hydra takes amr and acr from each accept body only, so a remembered sign-in
-- (skip=true) would lose them. This keeps what the first sign-in of each Hydra
-- login session really was, to say it again on every remembered one.
ALTER TABLE login_flows ADD COLUMN hydra_session_id text;

CREATE TABLE login_sessions (
    session_id  text PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    amr         text[] NOT NULL,
    acr         text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_sessions_created_at ON login_sessions (created_at);
