-- compatible-with: 7
-- One table of security events for support: sign-ins (succeeded and failed,
-- with the method), TOTP changes, consent decisions, lockouts and operator
-- commands. Additive: the previous release's INSERT (user_id, action, actor)
-- still works. user_id is empty for an event with no known account (a
-- lockout of an identifier that has none). ip is the client's full address,
-- kept AUDIT_RETENTION (90 days by default) and purged after; `blink-consent
-- audit` prints it masked.
ALTER TABLE audit_events
    ALTER COLUMN user_id DROP NOT NULL,
    ADD COLUMN client_id text,
    ADD COLUMN ip        text,
    ADD COLUMN method    text,
    ADD COLUMN result    text,
    ADD COLUMN details   jsonb;
CREATE INDEX audit_events_at ON audit_events (at);
