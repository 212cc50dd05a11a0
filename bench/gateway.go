package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// gateway is the One API gateway under test (c), either started by the bench
// or an already-running one (-gateway).
type gateway struct {
	base        string // http://127.0.0.1:port
	accessToken string // management API token (may be empty in external mode)
	key         string // relay key (sk-...)
	limitedKey  string // relay key with rate limits (chat-limited scenarios)
	pid         int    // gateway process (0: unknown)
	pgPid       int    // postmaster (0: unknown)
	dataDir     string
	dsn         string
	logPath     string

	cmd  *exec.Cmd
	done chan error
}

var apiClient = &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{Proxy: nil}}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func freeLoopbackPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// findRepoRoot walks up from the working directory to the go.mod of module oneapi.
func findRepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if f := strings.Fields(line); len(f) == 2 && f[0] == "module" && f[1] == "oneapi" {
					return dir, nil
				}
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod of module oneapi not found above the working directory")
		}
		dir = parent
	}
}

func buildGateway(out string) error {
	root, err := findRepoRoot()
	if err != nil {
		return err
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("go toolchain not in PATH: %w", err)
	}
	cmd := exec.Command(goBin, "build", "-o", out, ".")
	cmd.Dir = root
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	return cmd.Run()
}

// startGateway launches bin with its embedded database under tmp/data and
// waits for /readyz.
func startGateway(bin, tmp string) (*gateway, error) {
	port, err := freeLoopbackPort()
	if err != nil {
		return nil, err
	}
	g := &gateway{
		base:        fmt.Sprintf("http://127.0.0.1:%d", port),
		accessToken: randomHex(16),
		dataDir:     filepath.Join(tmp, "data"),
		logPath:     filepath.Join(tmp, "gateway.log"),
		done:        make(chan error, 1),
	}
	if err := os.MkdirAll(g.dataDir, 0o755); err != nil {
		return nil, err
	}
	logf, err := os.Create(g.logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin)
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(),
		"DATA_DIR="+g.dataDir,
		"PORT="+strconv.Itoa(port),
		"INITIAL_ROOT_ACCESS_TOKEN="+g.accessToken,
		"SESSION_SECRET="+randomHex(16),
	)
	cmd.Stdout = logf
	cmd.Stderr = logf
	// If the bench dies, the gateway gets SIGTERM and shuts its database down.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	g.cmd = cmd
	g.pid = cmd.Process.Pid
	go func() { g.done <- cmd.Wait(); logf.Close() }()

	deadline := time.Now().Add(90 * time.Second)
	for {
		select {
		case err := <-g.done:
			g.done <- err
			return g, fmt.Errorf("gateway exited before ready (%v); log: %s\n%s", err, g.logPath, tailFile(g.logPath, 30))
		default:
		}
		resp, err := apiClient.Get(g.base + "/readyz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			return g, fmt.Errorf("gateway not ready after 90 s; log: %s\n%s", g.logPath, tailFile(g.logPath, 30))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if pm, sockDir, port, err := findPostmaster(g.dataDir); err == nil {
		g.pgPid = pm
		if sockDir == "" {
			sockDir = filepath.Join(g.dataDir, "postgres")
		}
		g.dsn = fmt.Sprintf("host=%s user=postgres dbname=oneapi sslmode=disable", sockDir)
		if port != "" {
			g.dsn += " port=" + port
		}
	} else {
		warnf("postmaster.pid not found under %s (%v): PostgreSQL CPU not measured", g.dataDir, err)
		g.dsn = fmt.Sprintf("host=%s user=postgres dbname=oneapi sslmode=disable", filepath.Join(g.dataDir, "postgres"))
	}
	return g, nil
}

// findPostmaster reads postmaster.pid (first <dataDir>/postgres, else anywhere
// below dataDir): line 1 pid, line 4 port, line 5 socket directory.
func findPostmaster(dataDir string) (pid int, sockDir, port string, err error) {
	path := filepath.Join(dataDir, "postgres", "postmaster.pid")
	if _, err := os.Stat(path); err != nil {
		path = ""
		_ = filepath.WalkDir(dataDir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if !d.IsDir() && d.Name() == "postmaster.pid" {
				path = p
				return fs.SkipAll
			}
			return nil
		})
		if path == "" {
			return 0, "", "", errors.New("no postmaster.pid")
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, "", "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var lines []string
	for sc.Scan() {
		lines = append(lines, strings.TrimSpace(sc.Text()))
	}
	if len(lines) == 0 {
		return 0, "", "", errors.New("empty postmaster.pid")
	}
	pid, err = strconv.Atoi(lines[0])
	if err != nil {
		return 0, "", "", err
	}
	if len(lines) >= 4 {
		port = lines[3]
	}
	if len(lines) >= 5 {
		sockDir = lines[4]
	}
	return pid, sockDir, port, nil
}

// stop sends SIGTERM and waits (30 s, then SIGKILL). If the postmaster the
// gateway started outlives it, it gets a fast shutdown (SIGINT).
func (g *gateway) stop() {
	if g.cmd == nil {
		return
	}
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.done:
	case <-time.After(30 * time.Second):
		warnf("gateway did not exit 30 s after SIGTERM; killing pid %d", g.pid)
		_ = g.cmd.Process.Kill()
		<-g.done
	}
	g.cmd = nil
	if g.pgPid > 0 {
		for i := 0; i < 50 && processAlive(g.pgPid); i++ {
			time.Sleep(100 * time.Millisecond)
		}
		if processAlive(g.pgPid) && isPostgres(g.pgPid) {
			warnf("postmaster %d still running after gateway exit; sending SIGINT", g.pgPid)
			_ = syscall.Kill(g.pgPid, syscall.SIGINT)
			for i := 0; i < 100 && processAlive(g.pgPid); i++ {
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
}

func isPostgres(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && bytes.Contains(b, []byte("postgres"))
}

func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  | " + strings.Join(lines, "\n  | ")
}

type apiReply struct {
	Success bool            `json:"success"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

// api calls the One API-compatible management API.
func (g *gateway) api(method, path string, body any) (json.RawMessage, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, g.base+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+g.accessToken)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := apiClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	var r apiReply
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("%s %s: HTTP %d, not an API reply: %.200s", method, path, resp.StatusCode, raw)
	}
	if !r.Success {
		return nil, fmt.Errorf("%s %s: HTTP %d, success=false: %s", method, path, resp.StatusCode, r.Message)
	}
	return r.Data, nil
}

// provision creates the mock channel and the bench token.
func (g *gateway) provision(mockBase string) error {
	_, err := g.api(http.MethodPost, "/api/channel/", map[string]any{
		"type":     1,
		"name":     "mock",
		"key":      "sk-upstream-fake",
		"base_url": mockBase,
		"models":   benchModel,
		"group":    "default",
		"priority": 0,
		"weight":   1,
	})
	if err != nil {
		return fmt.Errorf("create channel: %w", err)
	}
	if err := g.provisionTGI(mockBase); err != nil {
		return err
	}
	data, err := g.api(http.MethodPost, "/api/token/", map[string]any{
		"name":            "bench",
		"remain_quota":    0,
		"unlimited_quota": true,
		"expired_time":    -1,
	})
	if err != nil {
		return fmt.Errorf("create token: %w", err)
	}
	var tok struct {
		Key string `json:"key"`
	}
	if err := json.Unmarshal(data, &tok); err != nil || tok.Key == "" {
		return fmt.Errorf("create token: no data.key in reply %.200s", data)
	}
	if !strings.HasPrefix(tok.Key, "sk-") {
		tok.Key = "sk-" + tok.Key
	}
	g.key = tok.Key
	if err := g.provisionLimitedKey(); err != nil {
		return err
	}
	return g.provisionPrompt()
}

// provisionPrompt stores benchPrompt (once: a second run finds it).
func (g *gateway) provisionPrompt() error {
	if _, err := g.api(http.MethodGet, "/api/prompt/"+benchPrompt, nil); err == nil {
		return nil
	}
	if _, err := g.api(http.MethodPost, "/api/prompt/", benchPromptVersion); err != nil {
		return fmt.Errorf("create prompt: %w", err)
	}
	return nil
}

// ratios are the billing ratios read from GET /api/option/.
type ratios struct {
	model, completion, group float64
	modelFound               bool
}

func (g *gateway) readRatios() (ratios, error) {
	r := ratios{completion: 1, group: 1}
	data, err := g.api(http.MethodGet, "/api/option/", nil)
	if err != nil {
		return r, err
	}
	var opts []struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	}
	if err := json.Unmarshal(data, &opts); err != nil {
		return r, fmt.Errorf("options: %w", err)
	}
	get := func(name, key string) (float64, bool, error) {
		for _, o := range opts {
			if o.Key != name {
				continue
			}
			m := map[string]float64{}
			if strings.TrimSpace(o.Value) != "" {
				if err := json.Unmarshal([]byte(o.Value), &m); err != nil {
					return 0, false, fmt.Errorf("option %s: %w", name, err)
				}
			}
			v, ok := m[key]
			return v, ok, nil
		}
		return 0, false, nil
	}
	if v, ok, err := get("ModelRatio", benchModel); err != nil {
		return r, err
	} else if ok {
		r.model, r.modelFound = v, true
	}
	if v, ok, err := get("CompletionRatio", benchModel); err != nil {
		return r, err
	} else if ok {
		r.completion = v
	}
	if v, ok, err := get("GroupRatio", "default"); err != nil {
		return r, err
	} else if ok {
		r.group = v
	}
	return r, nil
}

// expectedQuota is One API's formula:
// ceil((prompt + completion × completionRatio) × (modelRatio × groupRatio)),
// at least 1 when the ratio is non-zero.
func expectedQuota(prompt, completion int, modelRatio, completionRatio, groupRatio float64) int64 {
	ratio := modelRatio * groupRatio
	q := int64(math.Ceil((float64(prompt) + float64(completion)*completionRatio) * ratio))
	if ratio != 0 && q <= 0 {
		q = 1
	}
	return q
}
