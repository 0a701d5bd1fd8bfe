package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// child is one process the harness started (etcd or kube-apiserver), its output in a log file.
type child struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited and been reaped
	err     error         // Wait's result, set before done closes
	stopped bool          // the harness asked it to stop
}

// startChild starts bin with args, its stdout and stderr appended to logPath. The child is in
// its own process group (a terminal's Ctrl-C reaches the harness only, which then stops the
// children in order) and gets SIGKILL from the kernel if the harness dies without stopping it
// (Pdeathsig; the harness starts every child from its main goroutine, locked to the main
// thread, so the signal does not fire on the exit of some other thread).
func startChild(name, bin string, args []string, logPath string) (*child, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(f, "\n=== kube-harness %s: %s %q\n", time.Now().UTC().Format(time.RFC3339Nano), bin, args)
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		f.Close()
		close(c.done)
	}()
	return c, nil
}

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, waits up to grace, then SIGKILL and waits again (bounded).
func (c *child) stop(grace time.Duration) error {
	if c == nil {
		return nil
	}
	c.stopped = true
	if c.exited() {
		return nil
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
		return nil
	case <-time.After(grace):
	}
	_ = c.cmd.Process.Kill()
	select {
	case <-c.done:
		return fmt.Errorf("%s did not stop within %v of SIGTERM; killed", c.name, grace)
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s (pid %d) still not reaped 10s after SIGKILL", c.name, c.cmd.Process.Pid)
	}
}

// logTail is the end of the child's log, for error messages.
func (c *child) logTail(n int) string {
	b, err := os.ReadFile(c.logPath)
	if err != nil {
		return ""
	}
	if len(b) > n {
		b = b[len(b)-n:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(b)
}

func (c *child) addressInUse() bool {
	return bytes.Contains([]byte(c.logTail(64<<10)), []byte("address already in use"))
}

// errExited says a child exited while the harness waited for it to become ready.
var errExited = errors.New("exited before it was ready")

// waitReady polls probe every 100ms until it returns nil, the child exits or timeout passes.
func waitReady(c *child, timeout time.Duration, probe func() error) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		if c.exited() {
			return fmt.Errorf("%s %w (%v); end of %s:\n%s", c.name, errExited, c.err, c.logPath, c.logTail(4000))
		}
		if last = probe(); last == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready within %v (last probe: %v); end of %s:\n%s",
				c.name, timeout, last, c.logPath, c.logTail(4000))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// freePorts returns n distinct loopback ports that were free a moment ago (all held open
// together, then closed). A port can still be taken before the child binds it: the callers
// retry with new ports when a child reports "address already in use".
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
