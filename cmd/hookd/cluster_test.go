package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookd/hookd"
	"github.com/hookd/hookd/client"
	"github.com/hookd/hookd/internal/pgtest"
	"github.com/hookd/hookd/vault"
)

// The cluster tests run several `hookd serve` processes on one PostgreSQL
// database. Without PostgreSQL they are skipped, unless CI=true: CI must
// not pass by skipping.

// pgServer is a PostgreSQL server of the test's own (initdb in a temp
// directory), so the test may restart it without disturbing anyone else.
type pgServer struct {
	bin, data, sock string
	port            int
	runAs           string // "postgres" when the test runs as root (initdb refuses root)
}

// startPostgres initializes and starts a private PostgreSQL server.
func startPostgres(t *testing.T) *pgServer {
	t.Helper()
	bin := postgresBin()
	if bin == "" {
		pgtest.Unavailable(t, "PostgreSQL server binaries (initdb, pg_ctl) not found")
	}
	dir, err := os.MkdirTemp("", "hookd-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	p := &pgServer{bin: bin, data: filepath.Join(dir, "data"), sock: dir}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			pgtest.Unavailable(t, "running as root and there is no postgres user to run PostgreSQL as")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		p.runAs = "postgres"
	}
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(addr)
	p.port, _ = strconv.Atoi(port)
	if out, err := p.run("initdb", "-D", p.data, "-A", "trust", "-U", "postgres", "--no-sync"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	p.ctl(t, "start")
	t.Cleanup(func() { _, _ = p.run("pg_ctl", "-D", p.data, "-m", "immediate", "-w", "stop") })
	return p
}

// postgresBin returns the directory of initdb and pg_ctl, or "".
func postgresBin() string {
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dir := string(out[:len(out)-1])
		if _, err := os.Stat(filepath.Join(dir, "initdb")); err == nil {
			return dir
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Strings(dirs)
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i]
		}
	}
	return ""
}

func (p *pgServer) run(tool string, args ...string) ([]byte, error) {
	path := filepath.Join(p.bin, tool)
	cmd := exec.Command(path, args...)
	if p.runAs != "" {
		cmd = exec.Command("runuser", append([]string{"-u", p.runAs, "--", path}, args...)...)
	}
	return cmd.CombinedOutput()
}

// ctl runs pg_ctl start|stop|restart and waits for it to finish.
func (p *pgServer) ctl(t *testing.T, action string) {
	t.Helper()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", p.port, p.sock)
	out, err := p.run("pg_ctl", "-D", p.data, "-l", filepath.Join(p.sock, "server.log"), "-m", "fast", "-o", opts, "-w", action)
	if err != nil {
		t.Fatalf("pg_ctl %s: %v\n%s", action, err, out)
	}
}

func (p *pgServer) dsn() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.port)
}

// cluster is a set of hookd nodes sharing one database, and a receiver.
type cluster struct {
	dsn   string
	key   string
	env   []string
	nodes []*proc
	rc    *countingReceiver
	recv  *httptest.Server
}

func startCluster(t *testing.T, dsn string, n int) *cluster {
	t.Helper()
	c := &cluster{dsn: dsn, key: hookd.NewAPIKeySecret()}
	c.env = []string{"HOOKD_ADMIN_KEY=" + c.key, "HOOKD_MASTER_KEY=" + vault.NewKey()}
	c.rc = &countingReceiver{delay: time.Millisecond, seen: map[string]int{}}
	c.recv = httptest.NewServer(c.rc)
	t.Cleanup(c.recv.Close)
	for i := range n {
		// A short lease, so the work of a killed node is taken over soon.
		c.nodes = append(c.nodes, startHookd(t, c.env, "--dev", "--db", dsn, "--lease", "3s",
			"--node-id", fmt.Sprintf("node%d", i+1)))
	}
	_, secret, err := c.client(0).CreateEndpoint(context.Background(), "default",
		&hookd.Endpoint{URL: c.recv.URL + "/hook", Events: []string{"*"}, MaxInFlight: 16})
	if err != nil {
		t.Fatal(err)
	}
	c.rc.mu.Lock()
	c.rc.secret = secret
	c.rc.mu.Unlock()
	return c
}

func (c *cluster) client(i int) *client.Client { return client.New(c.nodes[i].url, c.key) }

// publisher publishes batches round-robin to the nodes that are up until
// stopped, and keeps the ids of acknowledged events. Like a real producer
// it sends a batch that got no answer again, with the same idempotency
// keys, to the next node: a batch the database committed before its answer
// was lost is then acknowledged once and stored once.
type publisher struct {
	mu     sync.Mutex
	acked  []string
	failed int // requests refused or unanswered
	down   map[int]bool
	stop   chan struct{}
	done   chan struct{}
}

func (c *cluster) publish(t *testing.T) *publisher {
	p := &publisher{down: map[int]bool{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		ctx := context.Background()
		var evs []client.BatchEvent // the batch in hand, until acknowledged
		for b, try := 0, 0; ; try++ {
			if evs == nil {
				select {
				case <-p.stop:
					return
				default:
				}
				b++
				evs = make([]client.BatchEvent, 20)
				for j := range evs {
					evs[j] = client.BatchEvent{Type: "cluster.test", Data: []byte(fmt.Sprintf(`{"batch":%d,"n":%d}`, b, j)),
						IdempotencyKey: fmt.Sprintf("b%d-%d", b, j)}
				}
			}
			i := try % len(c.nodes)
			p.mu.Lock()
			skip := p.down[i]
			p.mu.Unlock()
			if skip {
				continue
			}
			res, err := c.client(i).PublishBatch(ctx, "default", evs)
			if err != nil {
				p.mu.Lock()
				p.failed++
				p.mu.Unlock()
				// Not acknowledged: try again elsewhere. The database may be
				// restarting; do not spin.
				time.Sleep(20 * time.Millisecond)
				continue
			}
			p.mu.Lock()
			for _, r := range res {
				p.acked = append(p.acked, r.ID)
			}
			p.mu.Unlock()
			evs = nil
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return p
}

func (p *publisher) markDown(i int) {
	p.mu.Lock()
	p.down[i] = true
	p.mu.Unlock()
}

func (p *publisher) finish() []string {
	close(p.stop)
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.acked...)
}

func (c *cluster) delivered() int {
	c.rc.mu.Lock()
	defer c.rc.mu.Unlock()
	return len(c.rc.seen)
}

// verify waits until every acknowledged event reached the receiver, then
// checks the database: each delivery succeeded, and none has two
// successful attempts recorded (a node that lost its lease records nothing).
func (c *cluster) verify(t *testing.T, ids []string) {
	t.Helper()
	if len(ids) == 0 {
		t.Fatal("no event was acknowledged")
	}
	waitFor(t, 90*time.Second, func() bool {
		m, _ := c.rc.missing(ids)
		return len(m) == 0
	})
	missing, dups := c.rc.missing(ids)
	t.Logf("acknowledged=%d lost=%d redelivered=%d bad_signatures=%d", len(ids), len(missing), dups, c.rc.bad)
	if len(missing) != 0 {
		t.Fatalf("lost %d acknowledged events", len(missing))
	}
	if c.rc.bad != 0 {
		t.Fatalf("%d requests had bad signatures", c.rc.bad)
	}

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, c.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// Results are recorded shortly after the receiver answers.
	var unfinished int
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM deliveries WHERE state <> 'succeeded'`).Scan(&unfinished); err != nil {
			t.Fatal(err)
		}
		if unfinished == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if unfinished != 0 {
		t.Fatalf("%d deliveries not succeeded", unfinished)
	}
	var twice, deliveries int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM (SELECT delivery_id FROM attempts
		WHERE status_code BETWEEN 200 AND 299 GROUP BY delivery_id HAVING count(*) > 1) x`).Scan(&twice); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM deliveries`).Scan(&deliveries); err != nil {
		t.Fatal(err)
	}
	if deliveries != len(ids) {
		t.Fatalf("%d deliveries stored for %d acknowledged events", deliveries, len(ids))
	}
	if twice != 0 {
		t.Fatalf("%d deliveries were recorded as succeeded twice", twice)
	}
}

// TestClusterNodeKilled runs three nodes on one database, publishes to all
// of them, SIGKILLs the maintenance leader while it is delivering, and
// checks that every acknowledged event still reaches the receiver, by the
// surviving nodes, and that another node takes over the leadership.
func TestClusterNodeKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	c := startCluster(t, pgSchemaDSN(t), 3)
	pub := c.publish(t)
	waitFor(t, 60*time.Second, func() bool { return c.delivered() >= 600 })

	leader := -1
	waitFor(t, 30*time.Second, func() bool {
		for i, n := range c.nodes {
			if strings.Contains(n.log.String(), "leader elected") {
				leader = i
				return true
			}
		}
		return false
	})
	victim := c.nodes[leader]
	pub.markDown(leader)
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = victim.cmd.Wait()
	killed := time.Now()
	waitFor(t, 30*time.Second, func() bool {
		for i, n := range c.nodes {
			if i != leader && strings.Contains(n.log.String(), "leader elected") {
				return true
			}
		}
		return false
	})
	t.Logf("a new leader took over %s after the old one was killed", time.Since(killed).Round(100*time.Millisecond))
	before := c.delivered()
	waitFor(t, 60*time.Second, func() bool { return c.delivered() >= before+600 })
	ids := pub.finish()
	c.verify(t, ids)
	for i := range c.nodes {
		if i == leader {
			continue
		}
		if resp, err := http.Get(c.nodes[i].url + "/readyz"); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("node %d not ready after the kill: %v", i+1, err)
		}
	}
}

// TestClusterPostgresRestart restarts PostgreSQL while two nodes deliver:
// they reconnect and carry on, and nothing acknowledged is lost.
func TestClusterPostgresRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	pg := startPostgres(t)
	c := startCluster(t, pg.dsn(), 2)
	pub := c.publish(t)
	waitFor(t, 60*time.Second, func() bool { return c.delivered() >= 400 })

	// Down for two seconds while attempts are in flight: claims, results
	// and publishes fail until it is back.
	pg.ctl(t, "stop")
	time.Sleep(2 * time.Second)
	pg.ctl(t, "start")
	before := c.delivered()
	waitFor(t, 60*time.Second, func() bool { return c.delivered() >= before+400 })
	ids := pub.finish()
	t.Logf("%d batches failed while the database was down", pub.failed)
	c.verify(t, ids)
	for i, n := range c.nodes {
		if n.cmd.ProcessState != nil {
			t.Fatalf("node %d exited: %s", i+1, n.log.String())
		}
	}
}

// pgSchemaDSN returns the URL of a new, empty schema (see pgtest).
func pgSchemaDSN(t *testing.T) string {
	dsn, _ := pgtest.Schema(t)
	return dsn
}
