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
