-- +goose Up
-- A quota lease is a block of a busy token's quota (and its user's) that one
-- node takes in one transaction and then draws requests' reservations from in
-- memory, instead of one database round trip per request. amount is what the
-- lease still holds: taken from the token and user, not yet spent. The node
-- writes spending, and renews heartbeat_at, with every settlement batch; a
-- lease whose node stopped renewing it is returned by the sweeper.
CREATE TABLE quota_leases (
    id           bigserial   PRIMARY KEY,
    node_id      text        NOT NULL,
    token_id     bigint      NOT NULL,
    user_id      bigint      NOT NULL,
    amount       bigint      NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now()
);

-- The last settlement flush each node committed. A flush whose COMMIT
-- reply was lost may have committed; the node looks here before retrying,
-- so that a retry never bills twice what leases spent.
CREATE TABLE meter_flushes (
    node_id  text        PRIMARY KEY,
    flush_id bigint      NOT NULL,
    at       timestamptz NOT NULL DEFAULT now()
);

-- A request drawn from a lease that is still running after a moment gets a
-- reservation row too (its estimate moved out of the lease), so that if its
-- node dies the sweeper bills it at its estimate, as any reservation.
ALTER TABLE reservations ADD COLUMN lease_id bigint;

-- quota_lease takes p_amount from the token and its user, but only when both
-- have at least p_headroom times that left: near exhaustion every request is
-- reserved on its own, exactly. Returns the lease id, or 0 when refused.
-- Tokens are locked before users, as everywhere.
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

-- quota_lease_revoke ends the leases of one token (p_token_id) or of all of
-- a user's tokens (p_token_id NULL), gives what they hold back, and turns the
-- reservation rows drawn from them into plain ones. An absolute quota edit
-- calls it first, so a lease returned later cannot raise the value set.
-- Returns what went back. Locks leases, then tokens, then users, the order
-- settlement uses.
-- +goose StatementBegin
CREATE FUNCTION quota_lease_revoke(p_user_id bigint, p_token_id bigint)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    l     record;
    total bigint := 0;
BEGIN
    FOR l IN DELETE FROM quota_leases
              WHERE user_id = p_user_id AND (p_token_id IS NULL OR token_id = p_token_id)
              RETURNING id, token_id, amount
    LOOP
        UPDATE reservations SET lease_id = NULL WHERE lease_id = l.id;
        UPDATE tokens SET remain_quota = remain_quota + l.amount WHERE id = l.token_id;
        total := total + l.amount;
    END LOOP;
    IF total <> 0 THEN
        UPDATE users SET quota = quota + total WHERE id = p_user_id;
    END IF;
    RETURN total;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION quota_lease_revoke;
DROP FUNCTION quota_lease;
ALTER TABLE reservations DROP COLUMN lease_id;
DROP TABLE meter_flushes;
DROP TABLE quota_leases;
