-- name: RedemptionCreate :one
INSERT INTO redemptions (user_id, name, code_hash, code_prefix, quota)
VALUES ($1, $2, $3, $4, $5)
RETURNING *;

-- RedemptionRedeem marks an enabled code used by a user, once: the
-- conditional UPDATE takes the row lock, so of two concurrent redeemers only
-- one gets a row back. The caller adds the quota in the same transaction.
-- Nobody redeems a code they created (user_id): an admin may mint codes for
-- others, not credit themself.
-- name: RedemptionRedeem :one
UPDATE redemptions SET status = 3, used_by = @user_id, redeemed_at = now()
WHERE code_hash = @code_hash AND status = 1 AND user_id IS DISTINCT FROM @user_id
RETURNING *;

-- RedemptionIsOwnCode says whether an enabled code was created by the user,
-- to tell them why it does not redeem.
-- name: RedemptionIsOwnCode :one
SELECT EXISTS (SELECT 1 FROM redemptions WHERE code_hash = @code_hash AND status = 1 AND user_id = @user_id);

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
