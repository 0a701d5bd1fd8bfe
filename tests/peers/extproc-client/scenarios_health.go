package main

import (
	"context"
	"fmt"

	"google.golang.org/grpc/health/grpc_health_v1"
)

// healthServices are what a default Check and Envoy's cluster health check
// (grpc_health_check.service_name) ask about.
var healthServices = []string{"", "envoy.service.ext_proc.v3.ExternalProcessor"}

// runHealth checks grpc.health.v1 on --addr; the picker's health port is
// plaintext, so pass --plaintext for it.
func runHealth(e *env) error {
	hc := grpc_health_v1.NewHealthClient(e.conn)
	for _, svc := range healthServices {
		ctx, cancel := context.WithTimeout(context.Background(), e.opts.timeout)
		resp, err := hc.Check(ctx, &grpc_health_v1.HealthCheckRequest{Service: svc})
		cancel()
		if err != nil {
			return fmt.Errorf("Check(service=%q) on %s: %v", svc, e.opts.addr, err)
		}
		if resp.Status != grpc_health_v1.HealthCheckResponse_SERVING {
			return fmt.Errorf("Check(service=%q): expected SERVING, got %s", svc, resp.Status)
		}
	}
	return nil
}
