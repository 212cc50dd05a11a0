package oneapiimport

import (
	"context"
	"fmt"
	"math"
	"time"

	"oneapi/queries"
)

// logBatch is how many log rows go in one INSERT: large enough that a
// million rows take a thousand round trips, small enough to hold in memory.
const logBatch = 1000

// streamLogs reads One API's logs in id order and, with q, appends them in
// batches. Only rows after the last imported log id are read, so a merge
// brings just the new ones. With q nil (a dry run) every row is read and
// checked, none written. A bad row stops everything: the caller's
// transaction rolls back what earlier batches wrote.
func (im *importer) streamLogs(ctx context.Context, q *queries.Queries) error {
	rc := im.rep.count("logs")
	if !im.src.tables["logs"] {
		return nil
	}
	t, err := im.src.open(ctx, "logs", "id")
	if err != nil {
		return err
	}
	defer t.close()
	var b queries.LogImportManyParams
	flush := func() error {
		if len(b.Type) == 0 || q == nil {
			b = queries.LogImportManyParams{}
			return nil
		}
		if err := q.LogImportMany(ctx, b); err != nil {
			return fmt.Errorf("write logs up to One API log id %d: %w", im.lastLogID, err)
		}
		b = queries.LogImportManyParams{}
		return nil
	}
	start := im.lastLogID
	for t.next() {
		rc.Read++
		if err := t.scan(); err != nil {
			return err
		}
		id, err := t.int("id", 0)
		if err != nil {
			return rowError("logs", int64(rc.Read), err)
		}
		if id <= start {
			rc.Already++
			continue
		}
		if err := im.readLog(t, id, &b); err != nil {
			return rowError("logs", id, err)
		}
		rc.Imported++
		if id > im.lastLogID {
			im.lastLogID = id
		}
		if len(b.Type) >= logBatch {
			if err := flush(); err != nil {
				return err
			}
			if rc.Imported%(100*logBatch) == 0 {
				im.progress("logs: %d rows so far", rc.Imported)
			}
		}
	}
	if err := t.err(); err != nil {
		return err
	}
	if err := flush(); err != nil {
		return err
	}
	im.progress("logs: %d rows", rc.Imported)
	return nil
}

// readLog appends one log row to the batch. One API's types are this
// gateway's (1 top-up, 2 consumption, 3 management, 4 system); any other
// (0 unknown, or a fork's own) becomes a system row that names it.
func (im *importer) readLog(t *table, id int64, b *queries.LogImportManyParams) error {
	typ, err := t.int("type", 0)
	if err != nil {
		return err
	}
	content := t.str("content", "")
	if typ < 1 || typ > 4 {
		content = fmt.Sprintf("One API log type %d: %s", typ, content)
		typ = logTypeSystem
	}
	var n [7]int64
	for i, col := range []string{"user_id", "created_at", "quota", "prompt_tokens", "completion_tokens", "channel_id", "elapsed_time"} {
		if n[i], err = t.int(col, 0); err != nil {
			return err
		}
	}
	userID, created, quota, prompt, completion, channel, elapsed := n[0], n[1], n[2], n[3], n[4], n[5], n[6]
	stream, err := t.bool("is_stream")
	if err != nil {
		return err
	}
	tokenName := t.str("token_name", "")
	var tokenID int64
	// One API logs name the token, not its id; the id is kept where the
	// user has one token of that name.
	if tn := im.tokenByName[tokenNameKey{userID, tokenName}]; tn.unique && tokenName != "" {
		tokenID = tn.id
	}
	at := time.Unix(created, 0)
	if created <= 0 {
		at = im.now
	}
	b.CreatedAt = append(b.CreatedAt, at)
	b.Type = append(b.Type, int16(typ))
	b.UserID = append(b.UserID, userID)
	b.Username = append(b.Username, t.str("username", ""))
	b.TokenID = append(b.TokenID, tokenID)
	b.TokenName = append(b.TokenName, tokenName)
	b.ChannelID = append(b.ChannelID, channel)
	b.ModelName = append(b.ModelName, t.str("model_name", ""))
	b.PromptTokens = append(b.PromptTokens, clamp32(prompt))
	b.CompletionTokens = append(b.CompletionTokens, clamp32(completion))
	b.Quota = append(b.Quota, quota)
	b.ElapsedMs = append(b.ElapsedMs, clamp32(elapsed))
	b.IsStream = append(b.IsStream, stream)
	b.RequestID = append(b.RequestID, t.str("request_id", ""))
	b.Content = append(b.Content, content)
	return nil
}

func clamp32(n int64) int32 { return int32(min(max(n, 0), math.MaxInt32)) }
