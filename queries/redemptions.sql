-- name: RedemptionCreate :one
INSERT INTO redemptions (user_id, name, code_hash, code_prefix, quota)
VALUES ($1, $2, $3, $4, $5)
RETURNING *;

-- RedemptionRedeem marks an enabled code used by a user, once: the
-- conditional UPDATE takes the row lock, so of two concurrent redeemers only
-- one gets a row back. The caller adds the quota in the same transaction.
-- name: RedemptionRedeem :one
UPDATE redemptions SET status = 3, used_by = @user_id, redeemed_at = now()
WHERE code_hash = @code_hash AND status = 1
RETURNING *;

-- RedemptionList pages through codes, newest first. keyword matches the id
-- exactly or the name by substring. Only code_prefix is ever shown.
-- name: RedemptionList :many
SELECT * FROM redemptions
WHERE @keyword::text = '' OR id::text = @keyword OR name ILIKE '%' || @keyword || '%'
ORDER BY id DESC
LIMIT @lim OFFSET @off;

-- name: RedemptionCount :one
SELECT count(*) FROM redemptions
WHERE @keyword::text = '' OR id::text = @keyword OR name ILIKE '%' || @keyword || '%';

-- name: RedemptionGetByID :one
SELECT * FROM redemptions WHERE id = $1;

-- RedemptionSetStatus enables (1) or disables (2) a code that has not been
-- used; a used code (3) is history and returns no row.
-- name: RedemptionSetStatus :one
UPDATE redemptions SET status = @status WHERE id = @id AND status <> 3
RETURNING *;

-- RedemptionUpdate renames or re-prices a code that has not been used.
-- name: RedemptionUpdate :one
UPDATE redemptions SET name = @name, quota = @quota WHERE id = @id AND status <> 3
RETURNING *;

-- name: RedemptionDelete :execrows
DELETE FROM redemptions WHERE id = $1;
