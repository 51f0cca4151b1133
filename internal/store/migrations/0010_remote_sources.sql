-- compatible-with: 7
-- An identity source elsewhere (Blink core) proves the codes: the flow keeps
-- what that source needs between two steps, sealed (core's emailLoginId, or its
-- auth token while the authenticator step is due), and forgets it when the
-- flow ends. code_attempts is our own try cap per sent code for such a
-- source (our codes count theirs in login_codes).
ALTER TABLE login_flows
    ADD COLUMN source_state  bytea,
    ADD COLUMN code_attempts integer NOT NULL DEFAULT 0;

-- A remote source learns the account only at the authenticator step (core
-- answers no id before it), so user_id may go from NULL to an account once,
-- after verification; every other identity change of a verified flow is
-- still refused.
-- expand: the new function refuses less than the old one (only user_id NULL →
-- an account is newly allowed), so nothing older code does is newly refused.
CREATE OR REPLACE FUNCTION login_flows_freeze_identity() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.verified_at IS NOT NULL AND (
        NEW.verified_at IS DISTINCT FROM OLD.verified_at OR
        NEW.channel IS DISTINCT FROM OLD.channel OR
        NEW.identifier IS DISTINCT FROM OLD.identifier OR
        (OLD.user_id IS NOT NULL AND NEW.user_id IS DISTINCT FROM OLD.user_id) OR
        NEW.verified_code_id IS DISTINCT FROM OLD.verified_code_id) THEN
        RAISE EXCEPTION 'a verified login flow''s identity cannot change' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END
$$;
