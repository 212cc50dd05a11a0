-- +goose Up
-- Users. Roles and statuses use One API's numbers so its scripts keep working:
-- role 1 = user, 10 = admin, 100 = root; status 1 = enabled, 2 = disabled.
CREATE TABLE users (
    id                   bigserial PRIMARY KEY,
    username             text        NOT NULL UNIQUE,
    password_hash        text        NOT NULL DEFAULT '',
    must_change_password boolean     NOT NULL DEFAULT false,
    display_name         text        NOT NULL DEFAULT '',
    email                text        NOT NULL DEFAULT '',
    role                 smallint    NOT NULL DEFAULT 1,
    status               smallint    NOT NULL DEFAULT 1,
    group_name           text        NOT NULL DEFAULT 'default',
    quota                bigint      NOT NULL DEFAULT 0,
    used_quota           bigint      NOT NULL DEFAULT 0,
    request_count        bigint      NOT NULL DEFAULT 0,
    -- The personal access token for /api is stored as a SHA-256 hash; the
    -- prefix is kept only so a person can recognise it.
    access_token_hash    bytea UNIQUE,
    access_token_prefix  text        NOT NULL DEFAULT '',
    aff_code             text UNIQUE,
    inviter_id           bigint REFERENCES users (id),
    github_id            text UNIQUE,
    oidc_id              text UNIQUE,
    lark_id              text UNIQUE,
    created_at           timestamptz NOT NULL DEFAULT now(),
    deleted_at           timestamptz
);

-- Runtime settings editable from the console, under One API's option keys.
CREATE TABLE options (
    key        text PRIMARY KEY,
    value      text        NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- scs v2 pgxstore sessions, shared by every node.
CREATE TABLE sessions (
    token  text PRIMARY KEY,
    data   bytea       NOT NULL,
    expiry timestamptz NOT NULL
);
CREATE INDEX sessions_expiry_idx ON sessions (expiry);

-- +goose Down
DROP TABLE sessions;
DROP TABLE options;
DROP TABLE users;
