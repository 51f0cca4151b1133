-- compatible-with: 7
-- Whether the person ticked "Remember me" on the sign-in that opened a Hydra
-- login session: the account page's cookie outlives the browser only then
-- (security review, issue 15). Rows of earlier sign-ins read as not remembered.
ALTER TABLE login_sessions ADD COLUMN remember boolean NOT NULL DEFAULT false;
-- A logout ends every account session of its Hydra login session (sid).
CREATE INDEX account_sessions_sid ON account_sessions (sid);
