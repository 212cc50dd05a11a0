-- name: TokenCreate :one
INSERT INTO tokens (user_id, name, key_hash, key_prefix, status, expires_at, remain_quota, unlimited_quota, models, subnet, prompts, prompts_only)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
RETURNING *;

-- name: TokenListAll :many
-- Every token, for the in-memory auth state (hash only, never a key).
SELECT * FROM tokens ORDER BY id;

-- name: TokenGetByKeyHash :one
SELECT * FROM tokens WHERE key_hash = $1;

-- name: TokenGetByID :one
SELECT * FROM tokens WHERE id = $1;

-- name: TokenGetForUser :one
SELECT * FROM tokens WHERE id = $1 AND user_id = $2;

-- name: TokenGetForUserForUpdate :one
-- For read-modify-write updates: the lock makes a concurrent quota
-- reservation wait, so writing remain_quota back cannot undo it.
SELECT * FROM tokens WHERE id = $1 AND user_id = $2 FOR UPDATE;

-- name: TokenListForUser :many
SELECT * FROM tokens WHERE user_id = $1 ORDER BY id DESC LIMIT $2 OFFSET $3;

-- name: TokenSearchForUser :many
SELECT * FROM tokens WHERE user_id = $1 AND name ILIKE '%' || @keyword::text || '%' ORDER BY id DESC LIMIT 100;

-- name: TokenUpdate :one
-- Setting remain_quota to a new value is an absolute edit: quota_epoch
-- moves on, which voids the refunds of requests reserved before it.
UPDATE tokens SET name = $3, status = $4, expires_at = $5, remain_quota = $6, unlimited_quota = $7, models = $8, subnet = $9,
                  prompts = $10, prompts_only = $11,
                  quota_epoch = CASE WHEN remain_quota <> $6 THEN quota_epoch + 1 ELSE quota_epoch END
WHERE id = $1 AND user_id = $2
RETURNING *;

-- name: TokenDelete :execrows
DELETE FROM tokens WHERE id = $1 AND user_id = $2;

-- name: TokenListForUserFiltered :many
-- The console's token table: one user's tokens, newest first, keyword
-- matching the name by substring.
SELECT * FROM tokens
WHERE user_id = @user_id AND (@keyword::text = '' OR name ILIKE '%' || @keyword || '%')
ORDER BY id DESC
LIMIT @lim OFFSET @off;

-- name: TokenCountForUserFiltered :one
SELECT count(*) FROM tokens
WHERE user_id = @user_id AND (@keyword::text = '' OR name ILIKE '%' || @keyword || '%');
