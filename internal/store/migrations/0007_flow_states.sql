-- compatible-with: 7
-- A contract: written before releases ran side by side, it adds a trigger that
-- refuses identity changes older code was never reviewed against, and rewrites
-- the outbox status check. No binary before 0007 runs on it.
-- The sign-in flow as a state machine (security review, issue 8): each request
-- is one transition in one transaction that checks the state it starts from.
--
-- sends counts the codes one flow has sent (at most 5, one cooldown for every
-- send path). verified_code_id is the code whose check verified the flow: the
-- account signed in is the one that code was issued to (login_codes.user_id),
-- never one read from columns a later request could change.
ALTER TABLE login_flows
    ADD COLUMN sends            integer NOT NULL DEFAULT 0,
    ADD COLUMN verified_code_id bigint;

ALTER TABLE login_codes
    ADD COLUMN channel text CHECK (channel IN ('email', 'sms', 'whatsapp')),
    ADD COLUMN user_id uuid REFERENCES users (id) ON DELETE CASCADE;

-- Once a factor is verified, the flow's identity is frozen. The application
-- never tries; this makes a bug that does fail loudly instead of signing in
-- the wrong account.
CREATE FUNCTION login_flows_freeze_identity() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.verified_at IS NOT NULL AND (
        NEW.verified_at IS DISTINCT FROM OLD.verified_at OR
        NEW.channel IS DISTINCT FROM OLD.channel OR
        NEW.identifier IS DISTINCT FROM OLD.identifier OR
        NEW.user_id IS DISTINCT FROM OLD.user_id OR
        NEW.verified_code_id IS DISTINCT FROM OLD.verified_code_id) THEN
        RAISE EXCEPTION 'a verified login flow''s identity cannot change' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER login_flows_freeze_identity BEFORE UPDATE ON login_flows
    FOR EACH ROW EXECUTE FUNCTION login_flows_freeze_identity();

-- The per-identity lock (100 consecutive failures, NIST SP 800-63B) now ends:
-- locked_until is set when the limit is reached, and the count starts again
-- once it has passed.
ALTER TABLE identity_failures ADD COLUMN locked_until timestamptz;

-- A code for an email with no account is sealed and stored like any other,
-- as a 'decoy' that is never sent, so both paths do the same work.
ALTER TABLE outbox DROP CONSTRAINT outbox_status_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_status_check
    CHECK (status IN ('queued', 'sent', 'failed', 'abandoned', 'decoy'));
