-- name: QuotaReserveMany :many
-- A batch of reservations in one statement (quota_reserve_many): per item
-- the reservation id (-1: token short, -2: user short), what was granted
-- and the balances' epochs.
SELECT idx::int AS idx, reservation_id::bigint AS reservation_id, granted::bigint AS granted,
       token_epoch::bigint AS token_epoch, user_epoch::bigint AS user_epoch
FROM quota_reserve_many(@token_ids::bigint[], @user_ids::bigint[], @min_quotas::bigint[], @max_quotas::bigint[],
                        @node_id::text, @request_ids::text[], @channel_ids::bigint[], @model_names::text[],
                        @is_streams::boolean[]);

-- name: ReservationFindMany :many
-- After a reservation batch whose reply was lost: which of its requests
-- were reserved after all.
SELECT request_id, id, quota, token_epoch, user_epoch FROM reservations
WHERE node_id = @node_id AND request_id = ANY(@request_ids::text[]);

-- name: ReservationTakeMany :many
-- Settlement and the sweeper both delete the reservation they settle: whoever
-- deletes it bills it, so a request is never billed twice.
DELETE FROM reservations WHERE id = ANY(@ids::bigint[]) RETURNING id;

-- name: ReservationTakeStale :many
-- Reservations whose node died: on their own, once their node stopped
-- renewing its meter_nodes row before the cutoff (however old the request:
-- a live node's requests may run as long as they like); drawn from a lease,
-- once the lease is gone (swept first).
DELETE FROM reservations
WHERE id IN (SELECT r.id FROM reservations r
             WHERE CASE WHEN r.lease_id IS NULL
                        THEN NOT EXISTS (SELECT 1 FROM meter_nodes n
                                         WHERE n.node_id = r.node_id AND n.heartbeat_at >= @cutoff::timestamptz)
                        ELSE NOT EXISTS (SELECT 1 FROM quota_leases l WHERE l.id = r.lease_id) END
             ORDER BY r.id LIMIT 1000 FOR UPDATE SKIP LOCKED)
RETURNING *;

-- name: MeterNodeBeat :exec
-- A node's heartbeat, renewed every few seconds while it runs.
INSERT INTO meter_nodes (node_id) VALUES (@node_id)
ON CONFLICT (node_id) DO UPDATE SET heartbeat_at = now();

-- name: MeterNodeForget :exec
-- Rows of nodes gone for a day.
DELETE FROM meter_nodes WHERE heartbeat_at < now() - interval '1 day';

-- name: TokenSettleMany :exec
-- Settles tokens, rows locked in id order (the global lock order: tokens
-- before users, each by id). Each entry is a sum over the requests of one
-- token reserved under one epoch: refund applies while the epoch is still
-- the token's, refund_after_edit (only what a request cost beyond its
-- reservation) once an absolute edit has set the balance since.
WITH d AS (
    SELECT unnest(@ids::bigint[]) AS id, unnest(@epochs::bigint[]) AS epoch, unnest(@refunds::bigint[]) AS refund,
           unnest(@refunds_after_edit::bigint[]) AS refund_after_edit, unnest(@used::bigint[]) AS used
), locked AS (
    SELECT t.id, t.quota_epoch FROM tokens t WHERE t.id IN (SELECT d.id FROM d) ORDER BY t.id FOR UPDATE
), agg AS (
    SELECT d.id, sum(CASE WHEN d.epoch = l.quota_epoch THEN d.refund ELSE d.refund_after_edit END)::bigint AS delta,
           sum(d.used)::bigint AS used
    FROM d JOIN locked l ON l.id = d.id GROUP BY d.id
)
UPDATE tokens t SET remain_quota = t.remain_quota + agg.delta, used_quota = t.used_quota + agg.used, accessed_at = now()
FROM agg WHERE t.id = agg.id;

-- name: UserSettleMany :exec
-- As TokenSettleMany, for users.
WITH d AS (
    SELECT unnest(@ids::bigint[]) AS id, unnest(@epochs::bigint[]) AS epoch, unnest(@refunds::bigint[]) AS refund,
           unnest(@refunds_after_edit::bigint[]) AS refund_after_edit, unnest(@used::bigint[]) AS used,
           unnest(@requests::bigint[]) AS requests
), locked AS (
    SELECT u.id, u.quota_epoch FROM users u WHERE u.id IN (SELECT d.id FROM d) ORDER BY u.id FOR UPDATE
), agg AS (
    SELECT d.id, sum(CASE WHEN d.epoch = l.quota_epoch THEN d.refund ELSE d.refund_after_edit END)::bigint AS delta,
           sum(d.used)::bigint AS used, sum(d.requests)::bigint AS requests
    FROM d JOIN locked l ON l.id = d.id GROUP BY d.id
)
UPDATE users u SET quota = u.quota + agg.delta, used_quota = u.used_quota + agg.used,
                   request_count = u.request_count + agg.requests
FROM agg WHERE u.id = agg.id;

-- name: ChannelSettleMany :exec
-- Channel rows locked in id order, last in the global lock order.
WITH d AS (
    SELECT unnest(@ids::bigint[]) AS id, unnest(@used::bigint[]) AS used, unnest(@elapsed_ms::int[]) AS elapsed_ms
), locked AS (
    SELECT c.id FROM channels c WHERE c.id IN (SELECT d.id FROM d) ORDER BY c.id FOR UPDATE
)
UPDATE channels c
SET used_quota = c.used_quota + d.used,
    response_time_ms = CASE WHEN d.elapsed_ms > 0 THEN d.elapsed_ms ELSE c.response_time_ms END
FROM d JOIN locked l ON l.id = d.id
WHERE c.id = d.id;

-- name: LogInsertMany :copyfrom
INSERT INTO logs (created_at, type, user_id, username, token_id, token_name, channel_id, model_name,
                  prompt_tokens, completion_tokens, quota, elapsed_ms, is_stream, request_id, content,
                  upstream_model, cache_read_tokens, cache_write_tokens, reasoning_tokens, audio_tokens,
                  image_tokens, web_search_calls, usage_counted, prompt_name, prompt_version, prompt_hash)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26);

-- name: LogRequestIDsSettled :many
-- Which of these requests already have a consumption log row (the sweeper's).
SELECT request_id FROM logs WHERE request_id = ANY(@request_ids::text[]) AND type = 2;

-- name: QuotaLease :one
-- Returns the lease id (0 when the token or user lacks the headroom) and
-- the epochs of the balances it was taken from.
SELECT lease_id::bigint AS lease_id, token_epoch::bigint AS token_epoch, user_epoch::bigint AS user_epoch
FROM quota_lease(@token_id::bigint, @user_id::bigint, @amount::bigint, @headroom::bigint, @node_id::text);

-- name: LeaseLockMany :exec
-- A flush locks its leases first, in id order (the global lock order puts
-- leases before reservations, tokens and users).
SELECT id FROM quota_leases WHERE id = ANY(@ids::bigint[]) ORDER BY id FOR UPDATE;

-- name: QuotaCheck :one
-- Whether the token and its user have any quota left at all: asked before
-- counting a large prompt, so a key with nothing left cannot make the
-- gateway count for it.
SELECT (t.unlimited_quota OR t.remain_quota > 0) AND u.quota > 0 AS has_quota
FROM tokens t JOIN users u ON u.id = t.user_id
WHERE t.id = @token_id;

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
INSERT INTO reservations (created_at, node_id, user_id, token_id, channel_id, model_name, quota, is_stream, request_id, lease_id,
                          token_epoch, user_epoch)
SELECT d.created_at, @node_id::text, d.user_id, d.token_id, d.channel_id, d.model_name, d.quota, d.is_stream, d.request_id, d.lease_id,
       l.token_epoch, l.user_epoch
FROM (SELECT unnest(@created_at::timestamptz[]) AS created_at, unnest(@user_ids::bigint[]) AS user_id,
             unnest(@token_ids::bigint[]) AS token_id, unnest(@channel_ids::bigint[]) AS channel_id,
             unnest(@model_names::text[]) AS model_name, unnest(@quotas::bigint[]) AS quota,
             unnest(@is_streams::boolean[]) AS is_stream, unnest(@request_ids::text[]) AS request_id,
             unnest(@lease_ids::bigint[]) AS lease_id) d
JOIN quota_leases l ON l.id = d.lease_id
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
