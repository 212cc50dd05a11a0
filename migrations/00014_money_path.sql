-- +goose Up
-- The money path, made hostile-proof (see README "How a request is billed").

-- quota_epoch counts the absolute edits of a balance (an admin sets it).
-- A reservation remembers the epochs it was taken under; a refund settled
-- after an edit is void, so the value set is the value that stays.
ALTER TABLE tokens ADD COLUMN quota_epoch bigint NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN quota_epoch bigint NOT NULL DEFAULT 0;
ALTER TABLE reservations ADD COLUMN token_epoch bigint NOT NULL DEFAULT 0,
                         ADD COLUMN user_epoch bigint NOT NULL DEFAULT 0;
ALTER TABLE quota_leases ADD COLUMN token_epoch bigint NOT NULL DEFAULT 0,
                         ADD COLUMN user_epoch bigint NOT NULL DEFAULT 0;

-- Each node renews its row every few seconds while it runs. The sweeper
-- settles the reservations of nodes that stopped, not old ones: a live
-- request may run for as long as it likes.
CREATE TABLE meter_nodes (
    node_id      text        PRIMARY KEY,
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now()
);

-- What a request used, beyond prompt and completion tokens, and the model
-- that served it (after a channel's model mapping; model_name is the one
-- the client asked for). usage_counted: the gateway counted the tokens,
-- upstream reported none (or the stream was cut before it did).
ALTER TABLE logs ADD COLUMN upstream_model     text    NOT NULL DEFAULT '',
                 ADD COLUMN cache_read_tokens  integer NOT NULL DEFAULT 0,
                 ADD COLUMN cache_write_tokens integer NOT NULL DEFAULT 0,
                 ADD COLUMN reasoning_tokens   integer NOT NULL DEFAULT 0,
                 ADD COLUMN audio_tokens       integer NOT NULL DEFAULT 0,
                 ADD COLUMN image_tokens       integer NOT NULL DEFAULT 0,
                 ADD COLUMN web_search_calls   integer NOT NULL DEFAULT 0,
                 ADD COLUMN usage_counted      boolean NOT NULL DEFAULT false;

DROP FUNCTION quota_reserve;

-- quota_reserve_many reserves a batch of requests in one statement. Item i
-- takes up to p_max[i] from its token and user, as much as both have, but at
-- least p_min[i], else it is refused: granted is 0 and reservation_id -1
-- (the token is short) or -2 (the user is short). Every token row is locked
-- first, in id order, then every user row, in id order: the global lock
-- order (quota leases, tokens, users, channels, each by id) that settlement,
-- leases and quota edits follow too, so none of them deadlock.
-- +goose StatementBegin
CREATE FUNCTION quota_reserve_many(p_token_ids bigint[], p_user_ids bigint[], p_min bigint[], p_max bigint[],
                                   p_node_id text, p_request_ids text[], p_channel_ids bigint[],
                                   p_model_names text[], p_is_streams boolean[])
RETURNS TABLE (idx integer, reservation_id bigint, granted bigint, token_epoch bigint, user_epoch bigint)
LANGUAGE plpgsql AS $$
DECLARE
    t      record;
    u      record;
    want   bigint;
    r_id   bigint;
BEGIN
    PERFORM 1 FROM tokens WHERE id = ANY(p_token_ids) ORDER BY id FOR UPDATE;
    PERFORM 1 FROM users WHERE id = ANY(p_user_ids) ORDER BY id FOR UPDATE;
    FOR i IN 1 .. coalesce(array_length(p_token_ids, 1), 0) LOOP
        idx := i - 1;
        SELECT remain_quota, unlimited_quota, quota_epoch INTO t FROM tokens WHERE id = p_token_ids[i];
        SELECT quota, quota_epoch INTO u FROM users WHERE id = p_user_ids[i];
        want := p_max[i];
        IF t IS NULL OR (NOT t.unlimited_quota AND t.remain_quota < p_min[i]) THEN
            reservation_id := -1; granted := 0; token_epoch := 0; user_epoch := 0;
            RETURN NEXT;
            CONTINUE;
        END IF;
        IF NOT t.unlimited_quota THEN
            want := least(want, t.remain_quota);
        END IF;
        IF u IS NULL OR u.quota < p_min[i] THEN
            reservation_id := -2; granted := 0; token_epoch := 0; user_epoch := 0;
            RETURN NEXT;
            CONTINUE;
        END IF;
        want := least(want, u.quota);
        UPDATE tokens SET remain_quota = remain_quota - want WHERE id = p_token_ids[i];
        UPDATE users SET quota = quota - want WHERE id = p_user_ids[i];
        INSERT INTO reservations (node_id, user_id, token_id, channel_id, model_name, quota, is_stream, request_id,
                                  token_epoch, user_epoch)
        VALUES (p_node_id, p_user_ids[i], p_token_ids[i], p_channel_ids[i], p_model_names[i], want, p_is_streams[i],
                p_request_ids[i], t.quota_epoch, u.quota_epoch)
        RETURNING id INTO r_id;
        reservation_id := r_id; granted := want; token_epoch := t.quota_epoch; user_epoch := u.quota_epoch;
        RETURN NEXT;
    END LOOP;
END
$$;
-- +goose StatementEnd

DROP FUNCTION quota_lease;

-- quota_lease takes p_amount from the token and its user, but only when both
-- have at least p_headroom times that left: near exhaustion every request is
-- reserved on its own, exactly. Returns the lease id (0 when refused) and
-- the epochs it was taken under. Tokens are locked before users, as everywhere.
-- +goose StatementBegin
CREATE FUNCTION quota_lease(p_token_id bigint, p_user_id bigint, p_amount bigint,
                            p_headroom bigint, p_node_id text)
RETURNS TABLE (lease_id bigint, token_epoch bigint, user_epoch bigint) LANGUAGE plpgsql AS $$
DECLARE
    te bigint;
    ue bigint;
BEGIN
    UPDATE tokens SET remain_quota = remain_quota - p_amount
     WHERE id = p_token_id AND (unlimited_quota OR remain_quota >= p_amount * p_headroom)
    RETURNING quota_epoch INTO te;
    IF NOT FOUND THEN
        lease_id := 0; token_epoch := 0; user_epoch := 0;
        RETURN NEXT;
        RETURN;
    END IF;
    UPDATE users SET quota = quota - p_amount WHERE id = p_user_id AND quota >= p_amount * p_headroom
    RETURNING quota_epoch INTO ue;
    IF NOT FOUND THEN
        UPDATE tokens SET remain_quota = remain_quota + p_amount WHERE id = p_token_id;
        lease_id := 0; token_epoch := 0; user_epoch := 0;
        RETURN NEXT;
        RETURN;
    END IF;
    INSERT INTO quota_leases (node_id, token_id, user_id, amount, token_epoch, user_epoch)
    VALUES (p_node_id, p_token_id, p_user_id, p_amount, te, ue)
    RETURNING id INTO lease_id;
    token_epoch := te; user_epoch := ue;
    RETURN NEXT;
END
$$;
-- +goose StatementEnd

-- quota_lease_revoke ends the leases of one token (p_token_id) or of all of
-- a user's tokens (p_token_id NULL), gives what they hold back, and turns the
-- reservation rows drawn from them into plain ones. An absolute quota edit
-- calls it first, so a lease returned later cannot raise the value set.
-- Returns what went back. Locks in the global order: leases, reservations,
-- tokens, users, each by id.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION quota_lease_revoke(p_user_id bigint, p_token_id bigint)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    l     record;
    ids   bigint[];
    total bigint := 0;
BEGIN
    SELECT coalesce(array_agg(id), '{}') INTO ids FROM (
        SELECT id FROM quota_leases
         WHERE user_id = p_user_id AND (p_token_id IS NULL OR token_id = p_token_id)
         ORDER BY id FOR UPDATE) locked;
    IF cardinality(ids) = 0 THEN
        RETURN 0;
    END IF;
    UPDATE reservations SET lease_id = NULL WHERE lease_id = ANY(ids);
    FOR l IN SELECT token_id, sum(amount)::bigint AS amount FROM quota_leases
              WHERE id = ANY(ids) GROUP BY token_id ORDER BY token_id
    LOOP
        UPDATE tokens SET remain_quota = remain_quota + l.amount WHERE id = l.token_id;
        total := total + l.amount;
    END LOOP;
    DELETE FROM quota_leases WHERE id = ANY(ids);
    IF total <> 0 THEN
        UPDATE users SET quota = quota + total WHERE id = p_user_id;
    END IF;
    RETURN total;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION quota_reserve_many;
DROP FUNCTION quota_lease;

-- The functions as 00002 and 00013 made them.
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

-- +goose StatementBegin
CREATE FUNCTION quota_lease(p_token_id bigint, p_user_id bigint, p_amount bigint,
                            p_headroom bigint, p_node_id text)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    l_id bigint;
BEGIN
    UPDATE tokens SET remain_quota = remain_quota - p_amount
     WHERE id = p_token_id AND (unlimited_quota OR remain_quota >= p_amount * p_headroom);
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    UPDATE users SET quota = quota - p_amount WHERE id = p_user_id AND quota >= p_amount * p_headroom;
    IF NOT FOUND THEN
        UPDATE tokens SET remain_quota = remain_quota + p_amount WHERE id = p_token_id;
        RETURN 0;
    END IF;
    INSERT INTO quota_leases (node_id, token_id, user_id, amount)
    VALUES (p_node_id, p_token_id, p_user_id, p_amount)
    RETURNING id INTO l_id;
    RETURN l_id;
END
$$;
-- +goose StatementEnd

ALTER TABLE logs DROP COLUMN upstream_model, DROP COLUMN cache_read_tokens, DROP COLUMN cache_write_tokens,
                 DROP COLUMN reasoning_tokens, DROP COLUMN audio_tokens, DROP COLUMN image_tokens,
                 DROP COLUMN web_search_calls, DROP COLUMN usage_counted;
DROP TABLE meter_nodes;
ALTER TABLE quota_leases DROP COLUMN token_epoch, DROP COLUMN user_epoch;
ALTER TABLE reservations DROP COLUMN token_epoch, DROP COLUMN user_epoch;
ALTER TABLE users DROP COLUMN quota_epoch;
ALTER TABLE tokens DROP COLUMN quota_epoch;
