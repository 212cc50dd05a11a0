-- name: TokenCreate :one
INSERT INTO tokens (user_id, name, key_hash, key_prefix, status, expires_at, remain_quota, unlimited_quota, models, subnet)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
RETURNING *;
