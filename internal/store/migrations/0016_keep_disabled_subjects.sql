-- compatible-with: 7
-- With Blink core (IDENTITY_SOURCE=blink) the users table is a cache of the
-- accounts that signed in, under core's ids, and a subject's disable lives
-- only in its row. An email or phone that moved at core to another account is
-- taken from the row that had it; a disabled row now stays, with its id and
-- disabled_at, even when that leaves it with neither email nor phone, so no
-- sign-in of another subject can erase a disable (security review, issue 15).
-- expand: the new check refuses less than the old one (a row with neither email nor phone is newly allowed, and only when disabled); older code reads both through coalesce and never selects a disabled row to sign in.
ALTER TABLE users DROP CONSTRAINT users_check,
    ADD CONSTRAINT users_identified CHECK (email IS NOT NULL OR phone IS NOT NULL OR disabled_at IS NOT NULL);
