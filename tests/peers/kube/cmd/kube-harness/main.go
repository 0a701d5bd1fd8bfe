// kube-harness starts a real control plane for tests: etcd and kube-apiserver (both built from
// Go modules by ../../build.sh) on loopback ports chosen at run time, with a fresh CA, serving
// certificate, service-account key and admin token, and hands a test what it needs to connect.
//
//	kube-harness --dir WORKDIR [--bin-dir DIR] [--stdin-control]
//	kube-harness compact --etcd http://127.0.0.1:PORT
//
// On stdout it prints one line per event, a word and a JSON object (its own log goes to
// stderr, etcd's and the API server's to WORKDIR/etcd.log and WORKDIR/kube-apiserver.log):
//
//	READY {"server":"https://127.0.0.1:N","kubeconfig":"WORKDIR/kubeconfig","token":"...","etcd":"http://127.0.0.1:M",...}
//	COMPACTED {"revision":N}   (every resourceVersion handed out before is now too old for a watch)
//	STOPPED {"process":"kube-apiserver"}
//	ERROR {"message":"..."}
//	EXITED {"process":"etcd","error":"..."}   (a child died on its own; the harness then stops)
//
// With --stdin-control it reads one command per line on stdin: compact, stop-apiserver,
// start-apiserver, restart-apiserver (same port, same credentials), stop. End of stdin means
// the parent is gone: the harness stops. It also stops on SIGTERM, SIGINT or SIGHUP, or when
// its parent process exits (polled); it stops the API server first, then etcd, each with a
// bounded wait, and the kernel kills both children if the harness itself is killed.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	dir              string
	binDir           string
	etcdTimeout      time.Duration
	apiserverTimeout time.Duration
	stopTimeout      time.Duration
	stdinControl     bool
	extraArgs        []string
}

type cluster struct {
	opt      options
	creds    *credentials
	etcdURL  string
	peerURL  string
	apiPort  int
	server   string
	etcd     *child
	api      *child
	etcdMs   int64
	apiMs    int64
	version  string
	kubeconf string
	tlsHTTP  *http.Client
}

// readyInfo is the JSON of a READY line (and of WORKDIR/cluster.json).
type readyInfo struct {
	Server       string `json:"server"`
	Kubeconfig   string `json:"kubeconfig"`
	Token        string `json:"token"`
	Etcd         string `json:"etcd"`
	CA           string `json:"ca"`
	ClientCert   string `json:"client_cert"`
	ClientKey    string `json:"client_key"`
	Dir          string `json:"dir"`
	Version      string `json:"version"`
	HarnessPID   int    `json:"harness_pid"`
	EtcdPID      int    `json:"etcd_pid"`
	APIServerPID int    `json:"apiserver_pid"`
	EtcdMs       int64  `json:"etcd_startup_ms"`
	APIServerMs  int64  `json:"apiserver_startup_ms"`
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "kube-harness: "+format+"\n", args...)
}

func emit(word string, v any) {
	b, _ := json.Marshal(v)
	fmt.Fprintf(os.Stdout, "%s %s\n", word, b)
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, " ") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func main() {
	if len(os.Args) > 1 && os.Args[1] == "compact" {
		os.Exit(compactMain(os.Args[2:]))
	}
	// Children are started from this goroutine only; locked to the main thread, their
	// Pdeathsig fires when the harness process dies, not when some runtime thread exits.
	runtime.LockOSThread()

	var opt options
	var extra stringList
	fs := flag.NewFlagSet("kube-harness", flag.ExitOnError)
	fs.StringVar(&opt.dir, "dir", "", "work directory (created; certificates, data, logs, kubeconfig)")
	fs.StringVar(&opt.binDir, "bin-dir", "", "directory with etcd and kube-apiserver (default: this program's)")
	fs.DurationVar(&opt.etcdTimeout, "etcd-timeout", 30*time.Second, "bound on etcd's start-up")
	fs.DurationVar(&opt.apiserverTimeout, "apiserver-timeout", 120*time.Second, "bound on kube-apiserver's start-up (until /readyz)")
	fs.DurationVar(&opt.stopTimeout, "stop-timeout", 15*time.Second, "grace after SIGTERM before SIGKILL, per child")
	fs.BoolVar(&opt.stdinControl, "stdin-control", false, "read commands on stdin; end of stdin stops the cluster")
	fs.Var(&extra, "apiserver-arg", "one more kube-apiserver flag (repeatable), e.g. --apiserver-arg=--v=4")
	_ = fs.Parse(os.Args[1:])
	opt.extraArgs = extra
	if opt.dir == "" || fs.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: kube-harness --dir WORKDIR [--bin-dir DIR] [--stdin-control]")
		os.Exit(2)
	}
	if opt.binDir == "" {
		self, err := os.Executable()
		if err != nil {
			logf("cannot find own path: %v", err)
			os.Exit(1)
		}
		opt.binDir = filepath.Dir(self)
	}
	os.Exit(run(opt))
}

func run(opt options) int {
	parent := os.Getppid()
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)

	c := &cluster{opt: opt}
	if err := c.start(); err != nil {
		emit("ERROR", map[string]string{"message": err.Error()})
		logf("%v", err)
		c.shutdown()
		return 1
	}
	emit("READY", c.info())

	commands := make(chan string)
	if opt.stdinControl {
		go func() {
			sc := bufio.NewScanner(os.Stdin)
			for sc.Scan() {
				commands <- strings.TrimSpace(sc.Text())
			}
			close(commands)
		}()
	}
	parentCheck := time.NewTicker(250 * time.Millisecond)
	defer parentCheck.Stop()

	for {
		var apiDone <-chan struct{}
		if c.api != nil && !c.api.stopped {
			apiDone = c.api.done
		}
		select {
		case s := <-signals:
			logf("%v: stopping", s)
			return c.shutdown()
		case <-parentCheck.C:
			if parent != 1 && os.Getppid() != parent {
				logf("parent process %d is gone: stopping", parent)
				return c.shutdown()
			}
		case <-c.etcd.done:
			emit("EXITED", map[string]string{"process": "etcd", "error": fmt.Sprint(c.etcd.err)})
			c.shutdown()
			return 1
		case <-apiDone:
			emit("EXITED", map[string]string{"process": "kube-apiserver", "error": fmt.Sprint(c.api.err)})
			c.shutdown()
			return 1
		case cmd, ok := <-commands:
			if !ok {
				logf("end of stdin: stopping")
				return c.shutdown()
			}
			if cmd == "stop" || cmd == "quit" {
				return c.shutdown()
			}
			c.command(cmd)
		}
	}
}

func (c *cluster) command(cmd string) {
	fail := func(err error) { emit("ERROR", map[string]string{"message": cmd + ": " + err.Error()}) }
	switch cmd {
	case "":
	case "compact":
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		rev, err := compactEtcd(ctx, c.etcdURL)
		if err != nil {
			fail(err)
			return
		}
		emit("COMPACTED", map[string]int64{"revision": rev})
	case "stop-apiserver":
		if err := c.api.stop(c.opt.stopTimeout); err != nil {
			fail(err)
			return
		}
		emit("STOPPED", map[string]string{"process": "kube-apiserver"})
	case "start-apiserver", "restart-apiserver":
		if cmd == "restart-apiserver" || !c.api.exited() {
			if err := c.api.stop(c.opt.stopTimeout); err != nil {
				fail(err)
				return
			}
		}
		if err := c.startAPIServer(); err != nil {
			fail(err)
			return
		}
		emit("READY", c.info())
	default:
		fail(errors.New("unknown command (compact, stop-apiserver, start-apiserver, restart-apiserver, stop)"))
	}
}

func (c *cluster) info() readyInfo {
	return readyInfo{
		Server: c.server, Kubeconfig: c.kubeconf, Token: c.creds.Token, Etcd: c.etcdURL,
		CA: c.creds.CA, ClientCert: c.creds.ClientCert, ClientKey: c.creds.ClientKey,
		Dir: c.opt.dir, Version: c.version, HarnessPID: os.Getpid(),
		EtcdPID: c.etcd.cmd.Process.Pid, APIServerPID: c.api.cmd.Process.Pid,
		EtcdMs: c.etcdMs, APIServerMs: c.apiMs,
	}
}

func (c *cluster) shutdown() int {
	code := 0
	if c.api != nil {
		if err := c.api.stop(c.opt.stopTimeout); err != nil {
			logf("%v", err)
			code = 1
		}
	}
	if c.etcd != nil {
		if err := c.etcd.stop(c.opt.stopTimeout); err != nil {
			logf("%v", err)
			code = 1
		}
	}
	return code
}

func (c *cluster) start() error {
	dir, err := filepath.Abs(c.opt.dir)
	if err != nil {
		return err
	}
	c.opt.dir = dir
	for _, sub := range []string{"", "pki", "apiserver-cert-dir"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return err
		}
	}
	for _, bin := range []string{"etcd", "kube-apiserver"} {
		if _, err := os.Stat(filepath.Join(c.opt.binDir, bin)); err != nil {
			return fmt.Errorf("%s not found in %s (build it with tests/peers/kube/build.sh %s): %v",
				bin, c.opt.binDir, c.opt.binDir, err)
		}
	}
	if c.creds, err = makeCredentials(filepath.Join(dir, "pki")); err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.creds.CAPEM)
	c.tlsHTTP = &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
	}

	// A fresh etcd per start: data from an earlier run in the same directory is removed.
	if err := os.RemoveAll(filepath.Join(dir, "etcd-data")); err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		err := c.startEtcd()
		if err == nil {
			break
		}
		if attempt < 3 && c.etcd != nil && c.etcd.addressInUse() {
			logf("etcd: a port was taken meanwhile; new ports (attempt %d)", attempt+1)
			continue
		}
		return err
	}
	for attempt := 1; ; attempt++ {
		ports, err := freePorts(1)
		if err != nil {
			return err
		}
		c.apiPort = ports[0]
		c.server = "https://127.0.0.1:" + strconv.Itoa(c.apiPort)
		err = c.startAPIServer()
		if err == nil {
			break
		}
		if attempt < 3 && c.api != nil && c.api.addressInUse() {
			logf("kube-apiserver: port %d was taken meanwhile; a new one (attempt %d)", c.apiPort, attempt+1)
			continue
		}
		return err
	}
	if err := c.writeKubeconfig(); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(c.info(), "", "  ")
	return os.WriteFile(filepath.Join(dir, "cluster.json"), append(b, '\n'), 0o600)
}

func (c *cluster) startEtcd() error {
	if c.etcd != nil {
		_ = c.etcd.stop(c.opt.stopTimeout)
	}
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	c.etcdURL = fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	c.peerURL = fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	args := []string{
		"--name=harness",
		"--data-dir=" + filepath.Join(c.opt.dir, "etcd-data"),
		"--listen-client-urls=" + c.etcdURL,
		"--advertise-client-urls=" + c.etcdURL,
		"--listen-peer-urls=" + c.peerURL,
		"--initial-advertise-peer-urls=" + c.peerURL,
		"--initial-cluster=harness=" + c.peerURL,
		"--initial-cluster-state=new",
		// Test data: no fsync per write (as envtest runs it), much faster on a busy disk.
		"--unsafe-no-fsync=true",
		"--log-level=warn",
	}
	t0 := time.Now()
	if c.etcd, err = startChild("etcd", filepath.Join(c.opt.binDir, "etcd"), args,
		filepath.Join(c.opt.dir, "etcd.log")); err != nil {
		return err
	}
	if err := waitReady(c.etcd, c.opt.etcdTimeout, func() error { return etcdHealthy(c.etcdURL) }); err != nil {
		return err
	}
	c.etcdMs = time.Since(t0).Milliseconds()
	logf("etcd ready at %s in %d ms", c.etcdURL, c.etcdMs)
	return nil
}

func (c *cluster) startAPIServer() error {
	d := c.opt.dir
	args := []string{
		"--etcd-servers=" + c.etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(c.apiPort),
		"--cert-dir=" + filepath.Join(d, "apiserver-cert-dir"),
		"--tls-cert-file=" + c.creds.ServerCert,
		"--tls-private-key-file=" + c.creds.ServerKey,
		"--client-ca-file=" + c.creds.CA,
		"--token-auth-file=" + c.creds.TokenFile,
		"--authorization-mode=RBAC",
		"--service-account-issuer=" + c.server,
		"--service-account-key-file=" + c.creds.SAPub,
		"--service-account-signing-key-file=" + c.creds.SAKey,
		"--service-cluster-ip-range=10.0.0.0/24",
		// Pods need no ServiceAccount (no controller-manager runs to make the default one).
		"--disable-admission-plugins=ServiceAccount",
		// Every watch reads etcd: a resourceVersion that etcd compacted away gives 410 Gone.
		"--watch-cache=false",
		// No kubelet, no nodes: the kubernetes Service gets no Endpoints for 127.0.0.1.
		"--endpoint-reconciler-type=none",
		"--profiling=false",
		// On SIGTERM, end the open watches (their clients resume elsewhere) instead of waiting
		// out their timeouts: a restart with watches open then takes seconds, not a minute.
		"--shutdown-watch-termination-grace-period=2s",
	}
	args = append(args, c.opt.extraArgs...)
	t0 := time.Now()
	var err error
	if c.api, err = startChild("kube-apiserver", filepath.Join(c.opt.binDir, "kube-apiserver"), args,
		filepath.Join(d, "kube-apiserver.log")); err != nil {
		return err
	}
	if err := waitReady(c.api, c.opt.apiserverTimeout, c.probeReadyz); err != nil {
		return err
	}
	c.apiMs = time.Since(t0).Milliseconds()
	if err := c.readVersion(); err != nil {
		return err
	}
	logf("kube-apiserver %s ready at %s in %d ms", c.version, c.server, c.apiMs)
	return nil
}

func (c *cluster) get(path string) ([]byte, error) {
	req, err := http.NewRequest(http.MethodGet, c.server+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.creds.Token)
	res, err := c.tlsHTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s: %s", path, res.Status, strings.TrimSpace(string(b)))
	}
	return b, nil
}

func (c *cluster) probeReadyz() error {
	_, err := c.get("/readyz")
	return err
}

func (c *cluster) readVersion() error {
	b, err := c.get("/version")
	if err != nil {
		return err
	}
	var v struct {
		GitVersion string `json:"gitVersion"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("/version: %w", err)
	}
	c.version = v.GitVersion
	return nil
}

func (c *cluster) writeKubeconfig() error {
	c.kubeconf = filepath.Join(c.opt.dir, "kubeconfig")
	conf := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: harness
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: %s
  user:
    token: %s
contexts:
- name: harness
  context:
    cluster: harness
    user: %s
    namespace: default
current-context: harness
`, c.server, base64.StdEncoding.EncodeToString(c.creds.CAPEM), adminUser, c.creds.Token, adminUser)
	return os.WriteFile(c.kubeconf, []byte(conf), 0o600)
}

func compactMain(args []string) int {
	fs := flag.NewFlagSet("kube-harness compact", flag.ExitOnError)
	etcdURL := fs.String("etcd", "", "etcd client URL (the READY line's etcd)")
	_ = fs.Parse(args)
	if *etcdURL == "" {
		fmt.Fprintln(os.Stderr, "usage: kube-harness compact --etcd http://127.0.0.1:PORT")
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rev, err := compactEtcd(ctx, *etcdURL)
	if err != nil {
		emit("ERROR", map[string]string{"message": "compact: " + err.Error()})
		return 1
	}
	emit("COMPACTED", map[string]int64{"revision": rev})
	return 0
}
