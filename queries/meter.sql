-- name: QuotaReserve :batchone
-- One reservation; many are pipelined in one round trip. Returns the
-- reservation id, -1 (token quota short) or -2 (user quota short).
SELECT quota_reserve(@token_id::bigint, @user_id::bigint, @quota::bigint, @node_id::text,
                     @request_id::text, @channel_id::bigint, @model_name::text, @is_stream::boolean)::bigint AS reservation_id;

-- name: ReservationTakeMany :many
-- Settlement and the sweeper both delete the reservation they settle: whoever
-- deletes it bills it, so a request is never billed twice.
DELETE FROM reservations WHERE id = ANY(@ids::bigint[]) RETURNING id;

-- name: ReservationTakeStale :many
-- Reservations whose node died or lost the database: on their own, older
-- than the cutoff; drawn from a lease, once the lease is gone (swept first).
DELETE FROM reservations
WHERE id IN (SELECT r.id FROM reservations r
             WHERE CASE WHEN r.lease_id IS NULL THEN r.created_at < @cutoff::timestamptz
                        ELSE NOT EXISTS (SELECT 1 FROM quota_leases l WHERE l.id = r.lease_id) END
             ORDER BY r.id LIMIT 1000 FOR UPDATE SKIP LOCKED)
RETURNING *;

-- name: TokenSettleMany :exec
-- Tokens are updated before users, the same order quota_reserve locks them.
UPDATE tokens t
SET remain_quota = t.remain_quota + d.refund, used_quota = t.used_quota + d.used, accessed_at = now()
FROM (SELECT unnest(@ids::bigint[]) AS id, unnest(@refunds::bigint[]) AS refund, unnest(@used::bigint[]) AS used) d
WHERE t.id = d.id;

-- name: UserSettleMany :exec
UPDATE users u
SET quota = u.quota + d.refund, used_quota = u.used_quota + d.used, request_count = u.request_count + d.requests
FROM (SELECT unnest(@ids::bigint[]) AS id, unnest(@refunds::bigint[]) AS refund,
             unnest(@used::bigint[]) AS used, unnest(@requests::bigint[]) AS requests) d
WHERE u.id = d.id;

-- name: ChannelSettleMany :exec
UPDATE channels c
SET used_quota = c.used_quota + d.used,
    response_time_ms = CASE WHEN d.elapsed_ms > 0 THEN d.elapsed_ms ELSE c.response_time_ms END
FROM (SELECT unnest(@ids::bigint[]) AS id, unnest(@used::bigint[]) AS used, unnest(@elapsed_ms::int[]) AS elapsed_ms) d
WHERE c.id = d.id;

-- name: LogInsertMany :copyfrom
INSERT INTO logs (created_at, type, user_id, username, token_id, token_name, channel_id, model_name,
                  prompt_tokens, completion_tokens, quota, elapsed_ms, is_stream, request_id, content,
                  prompt_name, prompt_version, prompt_hash)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18);

-- name: LogRequestIDsSettled :many
-- Which of these requests already have a consumption log row (the sweeper's).
SELECT request_id FROM logs WHERE request_id = ANY(@request_ids::text[]) AND type = 2;

-- name: QuotaLease :one
-- Returns the lease id, or 0 when the token or user lacks the headroom.
SELECT quota_lease(@token_id::bigint, @user_id::bigint, @amount::bigint, @headroom::bigint, @node_id::text)::bigint AS lease_id;

-- name: LeaseSpend :many
-- Takes what settled requests spent (and in-flight ones moved to reservation
-- rows) out of this node's leases and renews them. A lease missing from the
-- result is gone: the sweeper took it while this node could not reach us.
UPDATE quota_leases l SET amount = l.amount - d.spent, heartbeat_at = now()
FROM (SELECT unnest(@ids::bigint[]) AS id, unnest(@spent::bigint[]) AS spent) d
WHERE l.id = d.id
RETURNING l.id;

-- name: LeaseRelease :many
-- Ends leases; the caller gives what they still hold back to tokens and users.
DELETE FROM quota_leases WHERE id = ANY(@ids::bigint[])
RETURNING id, token_id, user_id, amount;

-- name: LeaseTakeStale :many
-- Leases whose node stopped renewing them before the cutoff.
DELETE FROM quota_leases
WHERE id IN (SELECT id FROM quota_leases WHERE heartbeat_at < @cutoff::timestamptz ORDER BY id LIMIT 1000 FOR UPDATE SKIP LOCKED)
RETURNING *;

-- name: ReservationJournal :many
-- Reservation rows for requests drawn from a lease that are still running.
INSERT INTO reservations (created_at, node_id, user_id, token_id, channel_id, model_name, quota, is_stream, request_id, lease_id)
SELECT d.created_at, @node_id::text, d.user_id, d.token_id, d.channel_id, d.model_name, d.quota, d.is_stream, d.request_id, d.lease_id
FROM (SELECT unnest(@created_at::timestamptz[]) AS created_at, unnest(@user_ids::bigint[]) AS user_id,
             unnest(@token_ids::bigint[]) AS token_id, unnest(@channel_ids::bigint[]) AS channel_id,
             unnest(@model_names::text[]) AS model_name, unnest(@quotas::bigint[]) AS quota,
             unnest(@is_streams::boolean[]) AS is_stream, unnest(@request_ids::text[]) AS request_id,
             unnest(@lease_ids::bigint[]) AS lease_id) d
RETURNING id, request_id;

-- name: LeaseRevoke :one
-- Ends a token's leases (or all of a user's, with token_id NULL) before an
-- absolute quota edit; returns what they gave back.
SELECT quota_lease_revoke(@user_id::bigint, sqlc.narg(token_id)::bigint)::bigint AS returned;

-- name: MeterFlushMark :exec
-- Records, inside a settlement flush, that this flush committed.
INSERT INTO meter_flushes (node_id, flush_id, at) VALUES (@node_id, @flush_id, now())
ON CONFLICT (node_id) DO UPDATE SET flush_id = excluded.flush_id, at = excluded.at;

-- name: MeterFlushLast :one
SELECT flush_id FROM meter_flushes WHERE node_id = @node_id;

-- name: MeterFlushForget :exec
-- Marks of nodes gone for a day.
DELETE FROM meter_flushes WHERE at < now() - interval '1 day';
