-- compatible-with: 7
-- The retention purge (store.Purge) deletes by age: these let it find old rows
-- without reading whole tables every ten minutes.
CREATE INDEX login_codes_expires_at ON login_codes (expires_at);
CREATE INDEX outbox_created_at ON outbox (created_at);
CREATE INDEX identity_failures_updated_at ON identity_failures (updated_at);
CREATE INDEX rate_events_at ON rate_events (at);
