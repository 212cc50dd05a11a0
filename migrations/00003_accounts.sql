-- +goose Up
-- Accounts: redemption codes, one-time codes mailed to people (email
-- verification, password reset) and sign-in throttling. All of it lives in the
-- database so every node sees the same state.

-- Redemption codes top up a user's quota once. Like API keys, the code is
-- stored only as a SHA-256 hash with a display prefix; the full code is shown
-- once, at creation. status 1 = enabled, 2 = disabled, 3 = used (One API's numbers).
CREATE TABLE redemptions (
    id           bigserial PRIMARY KEY,
    user_id      bigint      NOT NULL REFERENCES users (id),
    name         text        NOT NULL DEFAULT '',
    code_hash    bytea       NOT NULL UNIQUE,
    code_prefix  text        NOT NULL,
    status       smallint    NOT NULL DEFAULT 1,
    quota        bigint      NOT NULL DEFAULT 0,
    used_by      bigint REFERENCES users (id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    redeemed_at  timestamptz
);

-- account_codes are single-use secrets sent by mail. purpose is 'verify'
-- (registration code sent to an address) or 'reset' (password reset link).
-- Only a SHA-256 hash is kept; used_at makes each one single use.
CREATE TABLE account_codes (
    id         bigserial PRIMARY KEY,
    purpose    text        NOT NULL,
    email      text        NOT NULL,
    code_hash  bytea       NOT NULL UNIQUE,
    attempts   integer     NOT NULL DEFAULT 0,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX account_codes_email_idx ON account_codes (purpose, lower(email));

-- login_failures counts failed sign-ins per key ('ip:203.0.113.9' or
-- 'user:alice') inside a window; a key over its limit is refused until the
-- window ends.
CREATE TABLE login_failures (
    key        text PRIMARY KEY,
    failures   integer     NOT NULL,
    window_end timestamptz NOT NULL
);

-- One account per email address among live users (registration and the
-- reset-by-email flow both rely on it). Empty emails are allowed many times.
CREATE UNIQUE INDEX users_email_live_idx ON users (lower(email)) WHERE email <> '' AND deleted_at IS NULL;
CREATE INDEX users_inviter_id_idx ON users (inviter_id);

-- +goose Down
DROP INDEX users_inviter_id_idx;
DROP INDEX users_email_live_idx;
DROP TABLE login_failures;
DROP TABLE account_codes;
DROP TABLE redemptions;
