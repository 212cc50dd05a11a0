-- name: ChannelKeyDisabledListAll :many
-- Every disabled key, for the in-memory routing state.
SELECT * FROM channel_disabled_keys ORDER BY channel_id, disabled_at;

-- name: ChannelKeyDisabledList :many
SELECT * FROM channel_disabled_keys WHERE channel_id = $1 ORDER BY disabled_at;

-- name: ChannelKeyDisable :exec
-- A key failing again keeps its first time and takes the newest reason.
INSERT INTO channel_disabled_keys (channel_id, key_hash, key_hint, reason)
VALUES ($1, $2, $3, $4)
ON CONFLICT (channel_id, key_hash) DO UPDATE SET reason = excluded.reason;

-- name: ChannelKeyPrune :exec
-- Forget the disabled keys the channel no longer has.
DELETE FROM channel_disabled_keys WHERE channel_id = @channel_id AND NOT (key_hash = ANY (@keep::bytea[]));

-- name: ChannelKeyEnable :execrows
-- Enable one disabled key again (by hash), or all of them (hash null).
DELETE FROM channel_disabled_keys
WHERE channel_id = @channel_id AND (sqlc.narg(key_hash)::bytea IS NULL OR key_hash = sqlc.narg(key_hash));
