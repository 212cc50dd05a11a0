-- name: UserSettingsGet :one
SELECT language, time_zone FROM user_settings WHERE user_id = $1;

-- name: UserSettingsSetLanguage :exec
INSERT INTO user_settings (user_id, language) VALUES ($1, $2)
ON CONFLICT (user_id) DO UPDATE SET language = excluded.language, updated_at = now();

-- name: UserSettingsSetTimeZone :exec
INSERT INTO user_settings (user_id, time_zone) VALUES ($1, $2)
ON CONFLICT (user_id) DO UPDATE SET time_zone = excluded.time_zone, updated_at = now();
