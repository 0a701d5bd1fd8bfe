package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// etcd is reached through its v3 JSON gateway (POST /v3/kv/..., on by default on the client
// port), so the harness links no etcd client and a test can do the same with plain HTTP.
var etcdHTTP = &http.Client{Timeout: 10 * time.Second}

func etcdPost(ctx context.Context, etcdURL, path string, req, resp any) error {
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, etcdURL+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	r.Header.Set("Content-Type", "application/json")
	res, err := etcdHTTP.Do(r)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("etcd %s: %s: %s", path, res.Status, bytes.TrimSpace(b))
	}
	return json.Unmarshal(b, resp)
}

// markerKey lies outside the API server's /registry prefix: no resource sees it.
var markerKey = base64.StdEncoding.EncodeToString([]byte("/kube-harness/compaction-marker"))

// etcdPut writes the marker key and returns the revision of that write.
func etcdPut(ctx context.Context, etcdURL string) (int64, error) {
	var resp struct {
		Header struct {
			Revision string `json:"revision"` // int64 fields are strings in the JSON gateway
		} `json:"header"`
	}
	req := map[string]any{"key": markerKey, "value": base64.StdEncoding.EncodeToString([]byte("x"))}
	if err := etcdPost(ctx, etcdURL, "/v3/kv/put", req, &resp); err != nil {
		return 0, err
	}
	return strconv.ParseInt(resp.Header.Revision, 10, 64)
}

// compactEtcd makes every resourceVersion that the API server handed out before the call too
// old for a watch: a watch from resourceVersion R reads etcd from revision R+1, and etcd refuses
// revisions below the compaction's. So the harness writes its marker twice (the newest revision
// R seen by any client is then at most C-2) and compacts at C, the second write's revision,
// physically (the call returns once the old revisions are gone). With --watch-cache=false the
// API server answers such a watch with 410 Gone (an ERROR event whose Status has code 410).
func compactEtcd(ctx context.Context, etcdURL string) (int64, error) {
	var rev int64
	for range 2 {
		var err error
		if rev, err = etcdPut(ctx, etcdURL); err != nil {
			return 0, err
		}
	}
	var resp map[string]any
	req := map[string]any{"revision": strconv.FormatInt(rev, 10), "physical": true}
	if err := etcdPost(ctx, etcdURL, "/v3/kv/compaction", req, &resp); err != nil {
		return 0, err
	}
	return rev, nil
}

func etcdHealthy(etcdURL string) error {
	res, err := etcdHTTP.Get(etcdURL + "/health")
	if err != nil {
		return err
	}
	defer res.Body.Close()
	var h struct {
		Health string `json:"health"`
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<16)).Decode(&h); err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK || h.Health != "true" {
		return fmt.Errorf("/health: %s, health=%q", res.Status, h.Health)
	}
	return nil
}
