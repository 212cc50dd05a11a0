// Package embeddedpg runs a private PostgreSQL server from the machine's own
// PostgreSQL binaries, so the gateway (and its tests) work with no
// configuration. The server listens on a Unix socket inside its data directory
// only, never on TCP, and is stopped when the gateway stops.
package embeddedpg

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Superuser is the role initdb creates; the socket is private, so trust auth is safe.
const Superuser = "postgres"

// Options tune a server. The zero value is the production setting.
type Options struct {
	// Ephemeral trades durability for speed (fsync off): for tests only.
	Ephemeral bool
	// Log receives the server's own output; nil discards it.
	Log io.Writer
}

// Server is a running private PostgreSQL.
type Server struct {
	Dir  string // data directory; also holds the socket
	cmd  *exec.Cmd
	done chan error // receives the postmaster's exit status
}

// ErrNoBinaries means no PostgreSQL server binaries were found on the machine.
var ErrNoBinaries = errors.New("PostgreSQL server binaries (initdb, postgres) not found: " +
	"install PostgreSQL (Debian/Ubuntu: apt-get install postgresql) " +
	"or set DATABASE_URL (alias SQL_DSN) to an external database")

// Start initialises dir on first use and starts the server on a socket in dir.
func Start(ctx context.Context, dir string, opt Options) (*Server, error) {
	bin, err := findBinaries(debianBinGlob)
	if err != nil {
		return nil, err
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	// The socket path must fit in sun_path (107 bytes on Linux).
	if n := len(dir) + len("/.s.PGSQL.5432"); n > 107 {
		return nil, fmt.Errorf("data directory path %q is too long for a Unix socket (%d > 107 bytes): choose a shorter DATA_DIR", dir, n)
	}
	// Parents stay traversable: when we are root, postgres runs as another user.
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, fmt.Errorf("create postgres data directory: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create postgres data directory: %w", err)
	}
	cred, err := serverCredential(dir)
	if err != nil {
		return nil, err
	}
	if pid := livePostmaster(dir); pid > 0 {
		return nil, fmt.Errorf("another PostgreSQL (pid %d) is already running on %s: stop it or choose another DATA_DIR", pid, dir)
	}
	logw := opt.Log
	if logw == nil {
		logw = io.Discard
	}

	if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		args := []string{"-D", dir, "-U", Superuser, "--auth=trust", "-E", "UTF8", "--locale=C"}
		if opt.Ephemeral {
			args = append(args, "--no-sync")
		}
		cmd := exec.CommandContext(ctx, bin["initdb"], args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("initdb %s: %w\n%s", dir, err, out)
		}
	}

	args := []string{"-D", dir, "-k", dir,
		"-c", "listen_addresses=",
		"-c", "unix_socket_permissions=0700",
	}
	if opt.Ephemeral {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	s := &Server{Dir: dir, done: make(chan error, 1)}
	started := make(chan error, 1)
	// The goroutine that starts postgres keeps its OS thread until postgres
	// exits: Pdeathsig is tied to that thread, and it is what stops postgres
	// (fast shutdown) if this process is killed without a chance to clean up.
	go func() {
		runtime.LockOSThread()
		cmd := exec.Command(bin["postgres"], args...)
		cmd.Stdout, cmd.Stderr = logw, logw
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Credential: cred,
			Setpgid:    true, // a terminal's Ctrl-C reaches us, and we drain before stopping postgres
			Pdeathsig:  syscall.SIGINT,
		}
		if err := cmd.Start(); err != nil {
			started <- fmt.Errorf("start postgres: %w", err)
			return
		}
		s.cmd = cmd
		started <- nil
		s.done <- cmd.Wait()
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	if err := s.waitReady(ctx); err != nil {
		_ = s.Stop()
		return nil, err
	}
	return s, nil
}

// DSN returns a connection string for database db over the private socket.
func (s *Server) DSN(db string) string {
	return fmt.Sprintf("host=%s user=%s dbname=%s sslmode=disable", s.Dir, Superuser, db)
}

// CreateDatabase creates db unless it exists.
func (s *Server) CreateDatabase(ctx context.Context, db string) error {
	conn, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", db).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize())
	return err
}

// Stop asks postgres for a fast shutdown and waits for it to exit.
func (s *Server) Stop() error {
	if s == nil || s.cmd == nil || s.cmd.Process == nil {
		return nil
	}
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.done:
		return nil
	case <-time.After(60 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
		return errors.New("postgres did not stop within 60s; killed")
	}
}

func (s *Server) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-s.done:
			s.done <- err
			return fmt.Errorf("postgres exited during start-up (%v); run it by hand to see why: postgres -D %s", err, s.Dir)
		default:
		}
		conn, err := pgx.Connect(ctx, s.DSN("postgres"))
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres did not accept connections within 60s: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// debianBinGlob is where Debian installs each PostgreSQL version's server.
const debianBinGlob = "/usr/lib/postgresql/*/bin"

// findBinaries looks on PATH first, then in the versioned directories of glob.
func findBinaries(glob string) (map[string]string, error) {
	names := []string{"initdb", "postgres"}
	found := map[string]string{}
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			found[n] = p
		}
	}
	if len(found) == len(names) {
		return found, nil
	}
	dirs, _ := filepath.Glob(glob)
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		ok := true
		for _, n := range names {
			if _, err := os.Stat(filepath.Join(d, n)); err != nil {
				ok = false
			}
		}
		if ok {
			for _, n := range names {
				found[n] = filepath.Join(d, n)
			}
			return found, nil
		}
	}
	return nil, ErrNoBinaries
}

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// serverCredential picks who runs postgres. PostgreSQL refuses to run as root,
// so a root process hands the data directory to an unprivileged account.
func serverCredential(dir string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	var u *user.User
	var err error
	for _, name := range []string{"postgres", "nobody"} {
		if u, err = user.Lookup(name); err == nil {
			break
		}
	}
	if err != nil {
		return nil, errors.New("running as root, but no unprivileged user (postgres or nobody) exists to run PostgreSQL: create one or run as a normal user")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	}); err != nil {
		return nil, fmt.Errorf("hand %s to user %s: %w", dir, u.Username, err)
	}
	// Every parent directory must be traversable by that user.
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode().Perm()&0o001 == 0 && int(st.Uid) != uid {
			return nil, fmt.Errorf("PostgreSQL runs as user %s, which cannot enter %s (mode %v): choose a DATA_DIR outside it or run as a normal user", u.Username, p, fi.Mode().Perm())
		}
		if p == "/" {
			break
		}
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// livePostmaster returns the pid recorded in postmaster.pid if that process is alive.
func livePostmaster(dir string) int {
	b, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	if err != nil {
		return 0
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 0 {
		return 0
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return 0
	}
	return pid
}
