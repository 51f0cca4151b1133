-- compatible-with: 1
-- Where the browser was sent after a challenge was answered, so a double
-- submit can follow the same way instead of failing.
ALTER TABLE used_challenges ADD COLUMN redirect_to text;

-- The authorization URL a challenge came from, kept when a page is shown, so an
-- expired challenge can offer "Start again". Hydra's request_url only.
CREATE TABLE seen_challenges (
    hash        bytea PRIMARY KEY,
    request_url text NOT NULL,
    seen_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX seen_challenges_seen_at ON seen_challenges (seen_at);
