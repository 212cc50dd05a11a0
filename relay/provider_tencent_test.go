package relay

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/tencent/tencenttest"
)

// TestTencentChannel: every call reaches a server that recomputes the TC3
// signature; chat and stream are billed by Hunyuan's counts; a bad
// parameter is the client's; a wrong secret disables the channel.
func TestTencentChannel(t *testing.T) {
	b := setup(t)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := tencenttest.Verify(r, body, map[string]string{"AKIDrelay": "relaySecretKey"}, time.Now()); err != nil {
			fmt.Fprintf(w, `{"Response":{"Error":{"Code":%q,"Message":"The provided credentials could not be validated."},"RequestId":"x"}}`, err.Error())
			return
		}
		switch {
		case bytes.Contains(body, []byte("bad parameter")):
			fmt.Fprint(w, `{"Response":{"Error":{"Code":"InvalidParameterValue","Message":"Messages 参数错误"},"RequestId":"x"}}`)
		case bytes.Contains(body, []byte(`"Stream":true`)):
			w.Header().Set("Content-Type", "text/event-stream")
			for i := 0; i < 3; i++ {
				fin := ""
				if i == 2 {
					fin = "stop"
				}
				fmt.Fprintf(w, "data: {\"Choices\":[{\"Delta\":{\"Role\":\"assistant\",\"Content\":\"w%d \"},\"FinishReason\":%q}],\"Id\":\"hy\",\"Usage\":{\"PromptTokens\":12,\"CompletionTokens\":%d,\"TotalTokens\":%d}}\n\n", i, fin, 18+i, 30+i)
			}
		case bytes.Contains(body, []byte(`"Role":"system","Content":"be brief"`)):
			fmt.Fprint(w, `{"Response":{"RequestId":"r","Choices":[{"FinishReason":"stop","Message":{"Role":"assistant","Content":"Hello there!"}}],"Id":"hy","Usage":{"PromptTokens":12,"CompletionTokens":20,"TotalTokens":32}}}`)
		default:
			fmt.Fprintf(w, `{"Response":{"Error":{"Code":"InvalidParameter","Message":"unexpected %s"},"RequestId":"x"}}`, body)
		}
	}))
	t.Cleanup(up.Close)
	chID := b.cnChannel(adaptor.TypeTencent, up.URL, "hunyuan-turbo", "1300000000|AKIDrelay|relaySecretKey", `{"region":"ap-guangzhou"}`)
	key := b.token(tokenOpts{})
	chatTwice(t, b, key, "hunyuan-turbo", "Hello there!", 3, 12, 20)
	billedTwice(t, b, "hunyuan-turbo", adaptor.TypeTencent, 12, 20)
	clientErrorNotBlamed(t, b, key, chID, `{"model":"hunyuan-turbo","messages":[{"role":"user","content":"bad parameter"}]}`, 400)
	if _, err := b.pool.Exec(t.Context(), "UPDATE channels SET key_ciphertext = $1 WHERE id = $2", b.cipher.Seal("1300000000|AKIDrelay|wrong"), chID); err != nil {
		t.Fatal(err)
	}
	b.reload()
	keyRejected(t, b, key, chID, `{"model":"hunyuan-turbo","messages":[{"role":"user","content":"hi"}]}`)
}
