package handlers

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// oauthStandIn is one loopback server playing GitHub (github.com and
// api.github.com), Lark (open.feishu.cn) and an OpenID Connect issuer.
type oauthStandIn struct {
	srv   *httptest.Server
	mu    sync.Mutex
	codes map[string]map[string]any // code -> the user it signs in
}

func startOAuthStandIn(t *testing.T) *oauthStandIn {
	t.Helper()
	s := &oauthStandIn{codes: map[string]map[string]any{}}
	mux := http.NewServeMux()
	tokenFor := func(code string) (map[string]any, bool) {
		s.mu.Lock()
		defer s.mu.Unlock()
		u, ok := s.codes[code]
		delete(s.codes, code) // codes are single use
		return u, ok
	}
	userOf := func(r *http.Request) map[string]any {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.codes["at:"+strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
	}
	issue := func(u map[string]any) string {
		s.mu.Lock()
		defer s.mu.Unlock()
		at := "at-" + u["sub"].(string)
		s.codes["at:"+at] = u
		return at
	}

	// GitHub.
	mux.HandleFunc("POST github.com/login/oauth/access_token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		id, secret, basic := r.BasicAuth()
		if !basic {
			id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		}
		u, ok := tokenFor(r.PostForm.Get("code"))
		if !ok || id != "gh-id" || secret != "gh-secret" {
			http.Error(w, `{"error":"bad_verification_code"}`, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": issue(u), "token_type": "bearer", "scope": "read:user,user:email"})
	})
	mux.HandleFunc("GET api.github.com/user", func(w http.ResponseWriter, r *http.Request) {
		u := userOf(r)
		if u == nil {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"id": u["github_id"], "login": u["nickname"], "name": u["name"], "email": u["email"]})
	})

	mux.HandleFunc("GET api.github.com/user/emails", func(w http.ResponseWriter, r *http.Request) {
		u := userOf(r)
		var out []map[string]any
		if e, _ := u["email"].(string); e != "" {
			out = append(out, map[string]any{"email": e, "primary": true, "verified": true})
		}
		_ = json.NewEncoder(w).Encode(out)
	})

	// Lark.
	mux.HandleFunc("POST open.feishu.cn/open-apis/auth/v3/app_access_token/internal/", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"code": 0, "app_access_token": "app-token", "expire": 7200})
	})
	mux.HandleFunc("POST open.feishu.cn/open-apis/authen/v1/oidc/access_token", func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Code string }
		_ = json.NewDecoder(r.Body).Decode(&body)
		u, ok := tokenFor(body.Code)
		if !ok || r.Header.Get("Authorization") != "Bearer app-token" {
			_ = json.NewEncoder(w).Encode(map[string]any{"code": 20003, "msg": "bad code"})
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"code": 0, "data": map[string]any{"access_token": issue(u), "expires_in": 3600}})
	})
	mux.HandleFunc("GET open.feishu.cn/open-apis/authen/v1/user_info", func(w http.ResponseWriter, r *http.Request) {
		u := userOf(r)
		_ = json.NewEncoder(w).Encode(map[string]any{"code": 0, "data": map[string]any{"user_id": u["sub"], "name": u["name"], "enterprise_email": u["email"]}})
	})

	// OpenID Connect, on the server's own address.
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer": s.srv.URL, "authorization_endpoint": s.srv.URL + "/authorize", "token_endpoint": s.srv.URL + "/token",
			"userinfo_endpoint": s.srv.URL + "/userinfo",
		})
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		id, secret, _ := r.BasicAuth()
		if id == "" {
			id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		}
		u, ok := tokenFor(r.PostForm.Get("code"))
		if !ok || id != "oidc-id" || secret != "oidc-secret" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"invalid_grant"}`))
			return
		}
		claims := map[string]any{"iss": s.srv.URL, "aud": "oidc-id", "sub": u["sub"], "exp": time.Now().Add(time.Hour).Unix(),
			"iat": time.Now().Unix(), "email": u["email"], "name": u["name"], "preferred_username": u["nickname"]}
		payload, _ := json.Marshal(claims)
		idToken := "eyJhbGciOiJub25lIn0." + base64.RawURLEncoding.EncodeToString(payload) + ".sig"
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": issue(u), "token_type": "Bearer", "expires_in": 3600, "id_token": idToken})
	})
	mux.HandleFunc("GET /userinfo", func(w http.ResponseWriter, r *http.Request) {
		u := userOf(r)
		_ = json.NewEncoder(w).Encode(map[string]any{"sub": u["sub"], "email": u["email"], "name": u["name"]})
	})
	s.srv = httptest.NewServer(mux)
	t.Cleanup(s.srv.Close)
	return s
}

// grant registers a one-time authorization code for a provider user.
func (s *oauthStandIn) grant(code string, user map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.codes[code] = user
}

// client sends GitHub's and Lark's hosts to the stand-in, keeping the Host
// header so its mux can tell them apart.
func (s *oauthStandIn) client() *http.Client {
	target, _ := url.Parse(s.srv.URL)
	return &http.Client{Timeout: 5 * time.Second, Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.Host = r.URL.Host
		r.URL.Scheme, r.URL.Host = "http", target.Host
		return http.DefaultTransport.RoundTrip(r)
	})}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestOAuthSignIn(t *testing.T) {
	idp := startOAuthStandIn(t)
	a := newAccountApp(t, func(d *Deps) { d.OAuthClient = idp.client() })
	for k, v := range map[string]string{
		"GitHubOAuthEnabled": "true", "GitHubClientId": "gh-id", "GitHubClientSecret": "gh-secret",
		"OidcEnabled": "true", "OidcClientId": "oidc-id", "OidcClientSecret": "oidc-secret", "OidcWellKnown": idp.srv.URL,
		"LarkAuthEnabled": "true", "LarkClientId": "lark-id", "LarkClientSecret": "lark-secret",
	} {
		a.setOption(t, k, v)
	}
	existing := a.createUser(t, userOpts{Username: "taken-email", Email: "shared@example.com"})

	// flow starts at /oauth/:provider and follows the provider back to the
	// callback with the state it was given.
	flow := func(t *testing.T, c *client, provider, code string) *httptest.ResponseRecorder {
		t.Helper()
		rec := c.get("/oauth/" + provider)
		if rec.Code != http.StatusFound {
			t.Fatalf("start %s = %d %s", provider, rec.Code, rec.Body)
		}
		auth := mustParse(t, rec.Header().Get("Location"))
		if !strings.Contains(auth.Query().Get("redirect_uri"), "/oauth/"+provider+"/callback") {
			t.Errorf("redirect_uri = %q", auth.Query().Get("redirect_uri"))
		}
		return c.get("/oauth/" + provider + "/callback?" + url.Values{"code": {code}, "state": {auth.Query().Get("state")}}.Encode())
	}

	for _, p := range []struct{ name, sub, nick string }{{"github", "1001", "octo"}, {"oidc", "oidc-sub-1", "olivia"}, {"lark", "ou_77", "larry"}} {
		t.Run(p.name, func(t *testing.T) {
			user := map[string]any{"sub": p.sub, "github_id": 1001, "nickname": p.nick, "name": "Person " + p.nick, "email": "shared@example.com"}
			idp.grant("code-"+p.name, user)
			c := a.client(t)
			rec := flow(t, c, p.name, "code-"+p.name)
			if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/" {
				t.Fatalf("callback = %d %s", rec.Code, rec.Body)
			}
			_, res := c.api(http.MethodGet, "/api/user/self", nil)
			var me apiUser
			_ = json.Unmarshal(res.Data, &me)
			if me.ID == 0 || me.ID == existing.ID {
				t.Fatalf("signed in as %+v", me)
			}
			// The address belongs to someone else: not copied.
			if me.Email != "" {
				t.Errorf("new user took an address in use: %q", me.Email)
			}
			// Second sign-in finds the same user.
			idp.grant("again-"+p.name, user)
			c2 := a.client(t)
			flow(t, c2, p.name, "again-"+p.name)
			_, res = c2.api(http.MethodGet, "/api/user/self", nil)
			var again apiUser
			_ = json.Unmarshal(res.Data, &again)
			if again.ID != me.ID {
				t.Errorf("second sign-in = user %d, first %d", again.ID, me.ID)
			}
		})
	}

	t.Run("bad state", func(t *testing.T) {
		idp.grant("code-x", map[string]any{"sub": "x", "github_id": 5, "nickname": "x"})
		c := a.client(t)
		c.get("/oauth/github")
		if rec := c.get("/oauth/github/callback?code=code-x&state=forged"); rec.Code != http.StatusForbidden {
			t.Errorf("forged state = %d", rec.Code)
		}
	})

	t.Run("link", func(t *testing.T) {
		u := a.createUser(t, userOpts{})
		c := a.client(t)
		c.login(u.Username, "correct-horse")
		idp.grant("link-code", map[string]any{"sub": "link-sub", "github_id": 4242, "nickname": "linker"})
		rec := flow(t, c, "github", "link-code")
		if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/account" {
			t.Fatalf("link = %d", rec.Code)
		}
		if got := a.user(t, u.ID); got.GitHubID.String != "4242" {
			t.Errorf("github_id = %+v", got.GitHubID)
		}
		// Someone else cannot link the same GitHub account.
		other := a.client(t)
		other.login(a.createUser(t, userOpts{}).Username, "correct-horse")
		idp.grant("link-again", map[string]any{"sub": "link-sub", "github_id": 4242, "nickname": "linker"})
		if rec := flow(t, other, "github", "link-again"); rec.Code != http.StatusConflict {
			t.Errorf("second link = %d", rec.Code)
		}
	})

	t.Run("api state", func(t *testing.T) {
		c := a.client(t)
		_, res := c.api(http.MethodGet, "/api/oauth/state", nil)
		var state string
		_ = json.Unmarshal(res.Data, &state)
		idp.grant("api-code", map[string]any{"sub": "api-sub", "github_id": 777, "nickname": "apiuser"})
		rec, res := c.api(http.MethodGet, "/api/oauth/github?"+url.Values{"code": {"api-code"}, "state": {state}}.Encode(), nil)
		if rec.Code != http.StatusOK || !res.Success {
			t.Fatalf("api oauth = %d %s", rec.Code, rec.Body)
		}
		if rec, _ := c.api(http.MethodGet, "/api/user/self", nil); rec.Code != http.StatusOK {
			t.Errorf("self after api oauth = %d", rec.Code)
		}
	})

	t.Run("disabled provider", func(t *testing.T) {
		a.setOption(t, "GitHubOAuthEnabled", "false")
		defer a.setOption(t, "GitHubOAuthEnabled", "true")
		if rec := a.client(t).get("/oauth/github"); rec.Code != http.StatusNotFound {
			t.Errorf("disabled = %d", rec.Code)
		}
		if body := a.client(t).get("/login").Body.String(); strings.Contains(body, "oauth-github") || !strings.Contains(body, "oauth-oidc") {
			t.Error("login page buttons do not follow the settings")
		}
	})

	t.Run("registration closed", func(t *testing.T) {
		a.setOption(t, "RegisterEnabled", "false")
		defer a.setOption(t, "RegisterEnabled", "true")
		idp.grant("closed", map[string]any{"sub": "brand-new", "github_id": 9999, "nickname": "late"})
		if rec := flow(t, a.client(t), "github", "closed"); rec.Code != http.StatusForbidden {
			t.Errorf("new user with registration closed = %d", rec.Code)
		}
	})
}
