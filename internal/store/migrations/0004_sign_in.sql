-- compatible-with: 1
-- The code sign-in. A login flow belongs to one browser (the hash of an opaque
-- cookie) and one Hydra login challenge; it survives restarts and replicas.
CREATE TABLE login_flows (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    browser_hash    bytea NOT NULL,
    challenge       text NOT NULL,
    challenge_hash  bytea NOT NULL,
    request_url     text NOT NULL,
    client_id       text NOT NULL,
    client_name     text NOT NULL,
    lang            text NOT NULL,
    remember        boolean NOT NULL DEFAULT false,
    channel         text CHECK (channel IN ('email', 'sms', 'whatsapp')),
    identifier      text,
    user_id         uuid REFERENCES users (id) ON DELETE CASCADE,
    last_sent_at    timestamptz,
    verified_at     timestamptz,
    completed_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL
);
CREATE INDEX login_flows_browser ON login_flows (browser_hash, challenge_hash);
CREATE INDEX login_flows_expires_at ON login_flows (expires_at);

-- One-time codes: only a keyed HMAC is stored. A new code supersedes the
-- flow's earlier ones.
CREATE TABLE login_codes (
    id          bigserial PRIMARY KEY,
    flow_id     uuid NOT NULL REFERENCES login_flows (id) ON DELETE CASCADE,
    identifier  text NOT NULL,
    code_hmac   bytea NOT NULL,
    attempts    integer NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    superseded_at timestamptz
);
CREATE INDEX login_codes_flow ON login_codes (flow_id);

-- Consecutive failed verifications per identity, across flows and codes.
CREATE TABLE identity_failures (
    identifier  text PRIMARY KEY,
    failures    integer NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Rate-limit events, shared by every replica.
CREATE TABLE rate_events (
    id     bigserial PRIMARY KEY,
    bucket text NOT NULL,
    key    text NOT NULL,
    at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rate_events_lookup ON rate_events (bucket, key, at);

-- Outgoing messages. The body holds a code, so it is encrypted (AES-GCM under a
-- key derived from SECRET_KEY); workers in every replica claim rows with
-- FOR UPDATE SKIP LOCKED.
CREATE TABLE outbox (
    id              bigserial PRIMARY KEY,
    channel         text NOT NULL CHECK (channel IN ('email', 'sms', 'whatsapp')),
    destination     text NOT NULL,
    sealed          bytea NOT NULL,
    status          text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sent', 'failed', 'abandoned')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    not_after       timestamptz NOT NULL,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status = 'queued';
