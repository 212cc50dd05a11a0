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
-- Reservations older than the cutoff (their node died or lost the database).
DELETE FROM reservations
WHERE id IN (SELECT id FROM reservations WHERE created_at < @cutoff::timestamptz ORDER BY id LIMIT 1000 FOR UPDATE SKIP LOCKED)
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
                  prompt_tokens, completion_tokens, quota, elapsed_ms, is_stream, request_id, content)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15);

-- name: LogRequestIDsSettled :many
-- Which of these requests already have a consumption log row (the sweeper's).
SELECT request_id FROM logs WHERE request_id = ANY(@request_ids::text[]) AND type = 2;
