-- +goose Up
-- Channels: upstream provider accounts. type uses One API's numbers.
-- status 1 = enabled, 2 = disabled by hand, 3 = disabled automatically.
-- Routing (group, model) -> channels is derived in memory from these rows, so
-- there is no separate abilities table to keep in sync.
CREATE TABLE channels (
    id               bigserial PRIMARY KEY,
    type             integer          NOT NULL DEFAULT 1,
    name             text             NOT NULL DEFAULT '',
    -- The upstream key, AES-256-GCM under ENCRYPTION_KEY with a version byte;
    -- key_hint (last characters) lets a person tell keys apart.
    key_ciphertext   bytea            NOT NULL,
    key_hint         text             NOT NULL DEFAULT '',
    base_url         text             NOT NULL DEFAULT '',
    models           text             NOT NULL DEFAULT '',
    model_mapping    text             NOT NULL DEFAULT '',
    groups           text             NOT NULL DEFAULT 'default',
    priority         bigint           NOT NULL DEFAULT 0,
    weight           integer          NOT NULL DEFAULT 0,
    status           smallint         NOT NULL DEFAULT 1,
    config           text             NOT NULL DEFAULT '',
    system_prompt    text             NOT NULL DEFAULT '',
    test_model       text             NOT NULL DEFAULT '',
    used_quota       bigint           NOT NULL DEFAULT 0,
    response_time_ms integer          NOT NULL DEFAULT 0,
    test_time        timestamptz,
    balance          double precision NOT NULL DEFAULT 0,
    balance_updated_at timestamptz,
    created_at       timestamptz      NOT NULL DEFAULT now()
);

-- Tokens: the API keys users call /v1 with, stored as SHA-256 of the full key.
-- status 1 = enabled, 2 = disabled (One API also has 3 expired, 4 exhausted,
-- which we derive from expires_at and remain_quota instead of storing).
CREATE TABLE tokens (
    id              bigserial PRIMARY KEY,
    user_id         bigint      NOT NULL REFERENCES users (id),
    name            text        NOT NULL DEFAULT '',
    key_hash        bytea       NOT NULL UNIQUE,
    key_prefix      text        NOT NULL,
    status          smallint    NOT NULL DEFAULT 1,
    expires_at      timestamptz,
    remain_quota    bigint      NOT NULL DEFAULT 0,
    unlimited_quota boolean     NOT NULL DEFAULT false,
    used_quota      bigint      NOT NULL DEFAULT 0,
    models          text        NOT NULL DEFAULT '',
    subnet          text        NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    accessed_at     timestamptz
);
CREATE INDEX tokens_user_id_idx ON tokens (user_id);

-- Logs: one row per relayed request (type 2), plus top-ups (1), admin actions (3)
-- and system events (4), as in One API.
CREATE TABLE logs (
    id                bigserial PRIMARY KEY,
    created_at        timestamptz NOT NULL DEFAULT now(),
    type              smallint    NOT NULL,
    user_id           bigint      NOT NULL DEFAULT 0,
    username          text        NOT NULL DEFAULT '',
    token_id          bigint      NOT NULL DEFAULT 0,
    token_name        text        NOT NULL DEFAULT '',
    channel_id        bigint      NOT NULL DEFAULT 0,
    model_name        text        NOT NULL DEFAULT '',
    prompt_tokens     integer     NOT NULL DEFAULT 0,
    completion_tokens integer     NOT NULL DEFAULT 0,
    quota             bigint      NOT NULL DEFAULT 0,
    elapsed_ms        integer     NOT NULL DEFAULT 0,
    is_stream         boolean     NOT NULL DEFAULT false,
    request_id        text        NOT NULL DEFAULT '',
    content           text        NOT NULL DEFAULT ''
);
-- Listings page by id (the primary key), so there is no created_at index to
-- maintain on every insert; per-user views use (user_id, created_at).
CREATE INDEX logs_user_id_created_at_idx ON logs (user_id, created_at);
CREATE INDEX logs_request_id_idx ON logs (request_id) WHERE request_id <> '';

-- Reservations: quota taken before an upstream call and not yet settled.
-- Settlement deletes the row in the same transaction that writes the log row,
-- so a request is billed exactly once; rows a dead node left behind are
-- settled at their estimate by the sweeper.
CREATE TABLE reservations (
    id          bigserial PRIMARY KEY,
    created_at  timestamptz NOT NULL DEFAULT now(),
    node_id     text        NOT NULL,
    user_id     bigint      NOT NULL,
    token_id    bigint      NOT NULL,
    channel_id  bigint      NOT NULL,
    model_name  text        NOT NULL,
    quota       bigint      NOT NULL,
    is_stream   boolean     NOT NULL,
    request_id  text        NOT NULL
);
-- No index but the key: the table holds only in-flight requests, so the
-- sweeper's scan is tiny, and each index would cost every request.

-- quota_reserve takes p_quota from the token and its user atomically and records
-- the reservation. It returns the reservation id, -1 when the token's quota is
-- short, -2 when the user's quota is short. Tokens are locked before users,
-- the same order settlement uses, so the two never deadlock.
-- +goose StatementBegin
CREATE FUNCTION quota_reserve(p_token_id bigint, p_user_id bigint, p_quota bigint,
                              p_node_id text, p_request_id text, p_channel_id bigint,
                              p_model_name text, p_is_stream boolean)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    r_id bigint;
BEGIN
    UPDATE tokens SET remain_quota = remain_quota - p_quota
     WHERE id = p_token_id AND (unlimited_quota OR remain_quota >= p_quota);
    IF NOT FOUND THEN
        RETURN -1;
    END IF;
    UPDATE users SET quota = quota - p_quota WHERE id = p_user_id AND quota >= p_quota;
    IF NOT FOUND THEN
        UPDATE tokens SET remain_quota = remain_quota + p_quota WHERE id = p_token_id;
        RETURN -2;
    END IF;
    INSERT INTO reservations (node_id, user_id, token_id, channel_id, model_name, quota, is_stream, request_id)
    VALUES (p_node_id, p_user_id, p_token_id, p_channel_id, p_model_name, p_quota, p_is_stream, p_request_id)
    RETURNING id INTO r_id;
    RETURN r_id;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION quota_reserve;
DROP TABLE reservations;
DROP TABLE logs;
DROP TABLE tokens;
DROP TABLE channels;
