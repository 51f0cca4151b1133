-- compatible-with: 1
-- The first migration: no older code exists.
-- Users of Blink: the subject Hydra knows is users.id.
CREATE TABLE users (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email          text UNIQUE,
    email_verified boolean NOT NULL DEFAULT false,
    phone          text UNIQUE,
    phone_verified boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    disabled_at    timestamptz,
    CHECK (email IS NOT NULL OR phone IS NOT NULL),
    CHECK (email IS NULL OR email = lower(email))
);
