-- compatible-with: 1
-- Hydra's challenges are stateless: Hydra accepts the same one twice. This
-- table makes each challenge single-use. Only a SHA-256 of the challenge is
-- kept; rows are useless once Hydra's own request TTL has passed.
CREATE TABLE used_challenges (
    hash    bytea PRIMARY KEY,
    used_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX used_challenges_used_at ON used_challenges (used_at);
