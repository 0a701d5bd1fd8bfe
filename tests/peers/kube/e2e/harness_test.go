// Package e2e checks kube-harness against the real binaries: what the discovery tests will do
// with the API server (namespaces, Pods without a node whose status a test writes, lists,
// watches, 410 Gone after an etcd compaction, a CRD and its objects, an API server restart),
// and that the control plane goes away with the harness.
//
//	KUBE_BIN_DIR=/path/to/build.sh-output go test ./e2e/
//
// Without KUBE_BIN_DIR the tests are skipped (the binaries take minutes to build).
package e2e

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

type ready struct {
	Server       string `json:"server"`
	Kubeconfig   string `json:"kubeconfig"`
	Token        string `json:"token"`
	Etcd         string `json:"etcd"`
	CA           string `json:"ca"`
	Version      string `json:"version"`
	HarnessPID   int    `json:"harness_pid"`
	EtcdPID      int    `json:"etcd_pid"`
	APIServerPID int    `json:"apiserver_pid"`
	EtcdMs       int64  `json:"etcd_startup_ms"`
	APIServerMs  int64  `json:"apiserver_startup_ms"`
}

func binDir(t *testing.T) string {
	d := os.Getenv("KUBE_BIN_DIR")
	if d == "" {
		t.Skip("KUBE_BIN_DIR is not set (tests/peers/kube/build.sh OUTDIR builds the binaries)")
	}
	return d
}

// harness is a running kube-harness with --stdin-control.
type harness struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	info   ready
	client *http.Client
}

func startHarness(t *testing.T) *harness {
	bin := binDir(t)
	h := &harness{t: t, lines: make(chan string, 16)}
	h.cmd = exec.Command(filepath.Join(bin, "kube-harness"), "--dir", t.TempDir(), "--stdin-control")
	h.cmd.Stderr = os.Stderr
	var err error
	if h.stdin, err = h.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := h.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			h.lines <- sc.Text()
		}
		close(h.lines)
	}()
	t.Cleanup(h.stop)
	h.expect("READY", &h.info, 180*time.Second)
	t.Logf("READY: server %s, etcd %s, %s; etcd up in %d ms, kube-apiserver ready in %d ms",
		h.info.Server, h.info.Etcd, h.info.Version, h.info.EtcdMs, h.info.APIServerMs)
	ca, err := os.ReadFile(h.info.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	h.client = &http.Client{Timeout: 30 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	return h
}

// expect reads the next event line, which must start with word, into v.
func (h *harness) expect(word string, v any, timeout time.Duration) {
	h.t.Helper()
	select {
	case line, ok := <-h.lines:
		if !ok {
			h.t.Fatalf("harness stdout closed while waiting for %s", word)
		}
		rest, found := strings.CutPrefix(line, word+" ")
		if !found {
			h.t.Fatalf("want %s, got %q", word, line)
		}
		if err := json.Unmarshal([]byte(rest), v); err != nil {
			h.t.Fatalf("%s line %q: %v", word, line, err)
		}
	case <-time.After(timeout):
		h.t.Fatalf("no %s line within %v", word, timeout)
	}
}

func (h *harness) send(cmd string) {
	h.t.Helper()
	if _, err := fmt.Fprintln(h.stdin, cmd); err != nil {
		h.t.Fatal(err)
	}
}

// stop closes stdin (the harness's cue that its parent is done) and waits, bounded.
func (h *harness) stop() {
	h.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- h.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			h.t.Errorf("kube-harness exited with %v", err)
		}
	case <-time.After(60 * time.Second):
		h.cmd.Process.Kill()
		h.t.Errorf("kube-harness did not exit within 60s of the end of its stdin")
	}
}

// do sends one API request with the admin token and returns status and body.
func (h *harness) do(method, path, contentType string, body any) (int, []byte) {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, h.info.Server+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+h.info.Token)
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := h.client.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return res.StatusCode, b
}

func (h *harness) must(want int, method, path, contentType string, body any) map[string]any {
	h.t.Helper()
	code, b := h.do(method, path, contentType, body)
	if code != want {
		h.t.Fatalf("%s %s: HTTP %d (want %d): %s", method, path, code, want, b)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		h.t.Fatalf("%s %s: %v: %s", method, path, err, b)
	}
	return v
}

// watch opens a watch and returns its first event line (type and object), bounded.
func (h *harness) watch(path string, afterOpen func()) (int, map[string]any) {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodGet, h.info.Server+path, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+h.info.Token)
	res, err := h.client.Do(req)
	if err != nil {
		h.t.Fatalf("watch %s: %v", path, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		var v map[string]any
		_ = json.Unmarshal(b, &v)
		return res.StatusCode, v
	}
	if afterOpen != nil {
		afterOpen()
	}
	line, err := bufio.NewReader(res.Body).ReadBytes('\n')
	if err != nil {
		h.t.Fatalf("watch %s: no event: %v", path, err)
	}
	var ev map[string]any
	if err := json.Unmarshal(line, &ev); err != nil {
		h.t.Fatalf("watch event %q: %v", line, err)
	}
	return res.StatusCode, ev
}

func str(v any, path ...string) string {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[p]
	}
	s, _ := v.(string)
	if f, ok := v.(float64); ok {
		s = fmt.Sprint(f)
	}
	return s
}

func pod(name string) map[string]any {
	return map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": name, "labels": map[string]any{"app": "model"}},
		"spec":     map[string]any{"containers": []any{map[string]any{"name": "c", "image": "x"}}},
	}
}

// A CRD of InferencePool's shape (group, kind, v1, status subresource), short.
func inferencePoolCRD() map[string]any {
	return map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		// *.k8s.io groups are protected: a CRD in one needs this annotation (GIE's carry it).
		"metadata": map[string]any{"name": "inferencepools.inference.networking.k8s.io",
			"annotations": map[string]any{"api-approved.kubernetes.io": "unapproved, test only"}},
		"spec": map[string]any{
			"group": "inference.networking.k8s.io", "scope": "Namespaced",
			"names": map[string]any{"plural": "inferencepools", "singular": "inferencepool",
				"kind": "InferencePool", "listKind": "InferencePoolList"},
			"versions": []any{map[string]any{
				"name": "v1", "served": true, "storage": true,
				"subresources": map[string]any{"status": map[string]any{}},
				"schema": map[string]any{"openAPIV3Schema": map[string]any{
					"type": "object",
					"properties": map[string]any{
						"spec": map[string]any{
							"type": "object", "required": []any{"selector", "targetPorts"},
							"properties": map[string]any{
								"selector": map[string]any{"type": "object", "properties": map[string]any{
									"matchLabels": map[string]any{"type": "object",
										"additionalProperties": map[string]any{"type": "string"}}}},
								"targetPorts": map[string]any{"type": "array", "minItems": 1, "items": map[string]any{
									"type": "object", "required": []any{"number"},
									"properties": map[string]any{"number": map[string]any{
										"type": "integer", "minimum": 1, "maximum": 65535}}}},
							},
						},
						"status": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true},
					},
				}},
			}},
		},
	}
}

func TestAPIServerForDiscovery(t *testing.T) {
	h := startHarness(t)
	if !strings.HasPrefix(h.info.Version, "v1.") || strings.HasPrefix(h.info.Version, "v0.0.0") {
		t.Errorf("kube-apiserver reports version %q", h.info.Version)
	}
	const ns = "/api/v1/namespaces/infergate-test"
	h.must(201, "POST", "/api/v1/namespaces", "application/json",
		map[string]any{"metadata": map[string]any{"name": "infergate-test"}})

	// A Pod without nodeName (no scheduler or kubelet runs); its status written by the test.
	h.must(201, "POST", ns+"/pods", "application/json", pod("m-0"))
	p := h.must(200, "PATCH", ns+"/pods/m-0/status", "application/merge-patch+json", map[string]any{
		"status": map[string]any{
			"phase": "Running", "podIP": "127.0.0.2", "podIPs": []any{map[string]any{"ip": "127.0.0.2"}},
			"conditions": []any{map[string]any{"type": "Ready", "status": "True"}},
		}})
	if got := str(p, "status", "podIP"); got != "127.0.0.2" {
		t.Fatalf("status.podIP after the patch: %q", got)
	}

	list := h.must(200, "GET", ns+"/pods", "", nil)
	items, _ := list["items"].([]any)
	if len(items) != 1 || str(items[0], "status", "podIP") != "127.0.0.2" {
		t.Fatalf("pod list: %v", list)
	}
	oldRV := str(list, "metadata", "resourceVersion")
	t.Logf("pods listed at resourceVersion %s", oldRV)

	// A watch from the list's resourceVersion sees the next change.
	_, ev := h.watch(ns+"/pods?watch=1&resourceVersion="+oldRV, func() {
		h.must(201, "POST", ns+"/pods", "application/json", pod("m-1"))
	})
	if str(ev, "type") != "ADDED" || str(ev, "object", "metadata", "name") != "m-1" {
		t.Fatalf("first watch event: %v", ev)
	}

	// Compact etcd past oldRV: a watch from it is 410 Gone (an ERROR event with a 410 Status).
	var compacted struct{ Revision int64 }
	h.send("compact")
	h.expect("COMPACTED", &compacted, 30*time.Second)
	code, ev := h.watch(ns+"/pods?watch=1&resourceVersion="+oldRV, nil)
	gone := code == http.StatusGone ||
		(str(ev, "type") == "ERROR" && str(ev, "object", "code") == "410")
	if !gone {
		t.Fatalf("watch from compacted resourceVersion %s: HTTP %d, %v", oldRV, code, ev)
	}
	t.Logf("etcd compacted at %d; watch from %s: HTTP %d, %s %s: %s", compacted.Revision, oldRV, code,
		str(ev, "type"), str(ev, "object", "reason"), str(ev, "object", "message"))

	// A CRD of InferencePool's shape: established, then an object created and listed.
	h.must(201, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", "application/json",
		inferencePoolCRD())
	const poolsPath = "/apis/inference.networking.k8s.io/v1/namespaces/infergate-test/inferencepools"
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, b := h.do("POST", poolsPath, "application/json", map[string]any{
			"apiVersion": "inference.networking.k8s.io/v1", "kind": "InferencePool",
			"metadata": map[string]any{"name": "pool-a"},
			"spec": map[string]any{"selector": map[string]any{"matchLabels": map[string]any{"app": "model"}},
				"targetPorts": []any{map[string]any{"number": 8000}}},
		})
		if code == 201 {
			break
		}
		if code != 404 || time.Now().After(deadline) {
			t.Fatalf("create InferencePool: HTTP %d: %s", code, b)
		}
		time.Sleep(200 * time.Millisecond) // the CRD is not served yet
	}
	pl := h.must(200, "GET", poolsPath, "", nil)
	if items, _ := pl["items"].([]any); len(items) != 1 || str(items[0], "metadata", "name") != "pool-a" {
		t.Fatalf("InferencePool list: %v", pl)
	}
	// Validation from the schema is real: a port out of range is refused.
	if code, b := h.do("POST", poolsPath, "application/json", map[string]any{
		"apiVersion": "inference.networking.k8s.io/v1", "kind": "InferencePool",
		"metadata": map[string]any{"name": "pool-bad"},
		"spec":     map[string]any{"selector": map[string]any{}, "targetPorts": []any{map[string]any{"number": 70000}}},
	}); code != 422 {
		t.Fatalf("invalid InferencePool: HTTP %d (want 422): %s", code, b)
	}

	// The API server restarts on the same port with the same credentials; the data stays.
	var again ready
	h.send("restart-apiserver")
	h.expect("READY", &again, 180*time.Second)
	if again.Server != h.info.Server || again.APIServerPID == h.info.APIServerPID {
		t.Fatalf("after restart: %+v (before: %+v)", again, h.info)
	}
	t.Logf("kube-apiserver restarted: ready again in %d ms", again.APIServerMs)
	list = h.must(200, "GET", ns+"/pods", "", nil)
	if items, _ := list["items"].([]any); len(items) != 2 {
		t.Fatalf("pods after restart: %v", list)
	}
	h.must(200, "GET", poolsPath, "", nil)

	// A token the API server does not know is refused; RBAC is on (an unknown user can't list).
	req, _ := http.NewRequest("GET", h.info.Server+ns+"/pods", nil)
	req.Header.Set("Authorization", "Bearer not-the-token")
	if res, err := h.client.Do(req); err != nil || res.StatusCode != 401 {
		t.Fatalf("wrong token: %v %v", res, err)
	}
}

func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	// A zombie is gone for our purposes (its parent just has not reaped it yet).
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	return err == nil && !strings.Contains(string(b), ") Z ")
}

func waitGone(t *testing.T, what string, pids ...int) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for _, pid := range pids {
		for alive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: pid %d still alive", what, pid)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// The harness's parent dies (SIGKILL): the harness notices and stops both children.
func TestParentDeathStopsCluster(t *testing.T) {
	bin := binDir(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "harness.out")
	sh := exec.Command("bash", "-c", fmt.Sprintf("%q --dir %q >%q 2>%q & wait",
		filepath.Join(bin, "kube-harness"), filepath.Join(dir, "work"), out, out+".err"))
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	defer sh.Process.Kill()
	info := waitReadyFile(t, out)
	if err := sh.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	sh.Wait()
	waitGone(t, "after the harness's parent died", info.HarnessPID, info.APIServerPID, info.EtcdPID)
}

// The harness itself is killed (SIGKILL, no chance to clean up): the kernel kills the children.
func TestHarnessKilledStopsChildren(t *testing.T) {
	bin := binDir(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "harness.out")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(filepath.Join(bin, "kube-harness"), "--dir", filepath.Join(dir, "work"))
	cmd.Stdout = f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	info := waitReadyFile(t, out)
	cmd.Process.Kill()
	cmd.Wait()
	waitGone(t, "after the harness was killed", info.APIServerPID, info.EtcdPID)
}

func waitReadyFile(t *testing.T, path string) ready {
	t.Helper()
	deadline := time.Now().Add(180 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(path)
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "READY "); ok {
				var r ready
				if err := json.Unmarshal([]byte(rest), &r); err != nil {
					t.Fatal(err)
				}
				return r
			}
			if strings.HasPrefix(line, "ERROR ") {
				t.Fatal(line)
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("no READY line in %s within 180s", path)
	return ready{}
}
