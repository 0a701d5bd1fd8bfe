package main

// validate-envoy: no Envoy binary can be installed here, so the bootstrap is
// checked with go-control-plane's generated validators (the same rules
// Envoy's config loading enforces with protoc-gen-validate), then against the
// facts the picker relies on (docs/extproc.md).

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	extprocfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"sigs.k8s.io/yaml"
)

const (
	eppCluster        = "infergate-epp"
	originalDstName   = "original_destination_cluster"
	extProcService    = "envoy.service.ext_proc.v3.ExternalProcessor"
	httpOptionsKey    = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
	minMessageTimeout = 10 * time.Second
)

// Importing these packages registers their types, so protojson resolves the
// typed_config Anys; the blank uses keep the imports honest.
var _ = []proto.Message{&routerv3.Router{}, &upstreamhttpv3.HttpProtocolOptions{}, &tlsv3.UpstreamTlsContext{}}

func runValidateEnvoy(e *env) error {
	raw, err := os.ReadFile(e.opts.file)
	if err != nil {
		return err
	}
	bs, err := parseBootstrap(raw)
	if err != nil {
		return fmt.Errorf("%s: %w", e.opts.file, err)
	}
	if err := checkBootstrap(bs); err != nil {
		return fmt.Errorf("%s: %w", e.opts.file, err)
	}
	return nil
}

func parseBootstrap(raw []byte) (*bootstrapv3.Bootstrap, error) {
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return nil, fmt.Errorf("YAML: %w", err)
	}
	bs := &bootstrapv3.Bootstrap{}
	if err := protojson.Unmarshal(js, bs); err != nil {
		return nil, fmt.Errorf("not an Envoy v3 Bootstrap: %w", err)
	}
	if err := bs.ValidateAll(); err != nil {
		return nil, fmt.Errorf("Bootstrap.ValidateAll: %w", err)
	}
	return bs, nil
}

// validatable is what protoc-gen-validate generates on every message.
type validatable interface {
	proto.Message
	ValidateAll() error
}

// unpack opens a typed_config and validates it: ValidateAll does not look
// inside an Any.
func unpack(where string, a *anypb.Any, into validatable) error {
	if a == nil {
		return fmt.Errorf("%s: no typed_config", where)
	}
	if err := a.UnmarshalTo(into); err != nil {
		return fmt.Errorf("%s: typed_config %s is not %s: %w", where, a.TypeUrl, into.ProtoReflect().Descriptor().FullName(), err)
	}
	if err := into.ValidateAll(); err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	return nil
}

func checkBootstrap(bs *bootstrapv3.Bootstrap) error {
	sa := bs.GetAdmin().GetAddress().GetSocketAddress()
	if sa.GetAddress() != "127.0.0.1" || sa.GetPortValue() != 9901 {
		return fmt.Errorf("admin: expected 127.0.0.1:9901, got %s:%d", sa.GetAddress(), sa.GetPortValue())
	}
	hcm, err := findHCM(bs.GetStaticResources().GetListeners(), 8081)
	if err != nil {
		return err
	}
	if err := checkHTTPFilters(hcm); err != nil {
		return err
	}
	if err := checkRoute(hcm); err != nil {
		return err
	}
	clusters := map[string]*clusterv3.Cluster{}
	for _, c := range bs.GetStaticResources().GetClusters() {
		clusters[c.Name] = c
	}
	if err := checkOriginalDst(clusters[originalDstName]); err != nil {
		return err
	}
	return checkEPPCluster(clusters[eppCluster])
}

func findHCM(listeners []*listenerv3.Listener, port uint32) (*hcmv3.HttpConnectionManager, error) {
	for _, l := range listeners {
		if l.GetAddress().GetSocketAddress().GetPortValue() != port {
			continue
		}
		for _, fc := range l.GetFilterChains() {
			for _, f := range fc.GetFilters() {
				if f.Name != "envoy.filters.network.http_connection_manager" {
					continue
				}
				hcm := &hcmv3.HttpConnectionManager{}
				if err := unpack("listener "+l.Name+" http_connection_manager", f.GetTypedConfig(), hcm); err != nil {
					return nil, err
				}
				return hcm, nil
			}
		}
		return nil, fmt.Errorf("listener %s on %d has no http_connection_manager", l.Name, port)
	}
	return nil, fmt.Errorf("no listener on port %d", port)
}

func checkHTTPFilters(hcm *hcmv3.HttpConnectionManager) error {
	filters := hcm.GetHttpFilters()
	extProcAt := slices.IndexFunc(filters, func(f *hcmv3.HttpFilter) bool { return f.Name == "envoy.filters.http.ext_proc" })
	if extProcAt < 0 {
		return errors.New("no envoy.filters.http.ext_proc http filter")
	}
	if len(filters) == 0 || filters[len(filters)-1].Name != "envoy.filters.http.router" || extProcAt == len(filters)-1 {
		return errors.New("http filters: envoy.filters.http.router must be last, after ext_proc")
	}
	router := &routerv3.Router{}
	if err := unpack("router filter", filters[len(filters)-1].GetTypedConfig(), router); err != nil {
		return err
	}
	ep := &extprocfilterv3.ExternalProcessor{}
	if err := unpack("ext_proc filter", filters[extProcAt].GetTypedConfig(), ep); err != nil {
		return err
	}
	return checkExtProc(ep)
}

func checkExtProc(ep *extprocfilterv3.ExternalProcessor) error {
	if c := ep.GetGrpcService().GetEnvoyGrpc().GetClusterName(); c != eppCluster {
		return fmt.Errorf("ext_proc: grpc_service.envoy_grpc.cluster_name is %q, expected %q", c, eppCluster)
	}
	pm := ep.GetProcessingMode()
	send := extprocfilterv3.ProcessingMode_SEND
	fds := extprocfilterv3.ProcessingMode_FULL_DUPLEX_STREAMED
	if pm.GetRequestHeaderMode() != send || pm.GetResponseHeaderMode() != send {
		return fmt.Errorf("ext_proc: header modes are %s/%s, expected SEND/SEND", pm.GetRequestHeaderMode(), pm.GetResponseHeaderMode())
	}
	if pm.GetRequestBodyMode() != fds || pm.GetResponseBodyMode() != fds {
		return fmt.Errorf("ext_proc: body modes are %s/%s, expected FULL_DUPLEX_STREAMED for both", pm.GetRequestBodyMode(), pm.GetResponseBodyMode())
	}
	if pm.GetRequestTrailerMode() != send || pm.GetResponseTrailerMode() != send {
		return fmt.Errorf("ext_proc: trailer modes are %s/%s; Envoy rejects FULL_DUPLEX_STREAMED unless both are SEND",
			pm.GetRequestTrailerMode(), pm.GetResponseTrailerMode())
	}
	if ep.GetFailureModeAllow() {
		return errors.New("ext_proc: failure_mode_allow must be false (without the picker a request has no destination)")
	}
	if ep.GetAllowModeOverride() {
		return errors.New("ext_proc: allow_mode_override must be false (mode_override is ignored with FULL_DUPLEX_STREAMED)")
	}
	if mt := ep.GetMessageTimeout(); mt == nil || mt.AsDuration() < minMessageTimeout {
		return fmt.Errorf("ext_proc: message_timeout %v is not generous (at least %v; the default is 200ms)", mt.AsDuration(), minMessageTimeout)
	}
	mo := ep.GetMetadataOptions()
	if !slices.Contains(mo.GetForwardingNamespaces().GetUntyped(), subsetHintNamespace) {
		return fmt.Errorf("ext_proc: metadata_options.forwarding_namespaces.untyped %q lacks %q",
			mo.GetForwardingNamespaces().GetUntyped(), subsetHintNamespace)
	}
	if !slices.Contains(mo.GetReceivingNamespaces().GetUntyped(), lbNamespace) {
		return fmt.Errorf("ext_proc: metadata_options.receiving_namespaces.untyped %q lacks %q (Envoy drops the picker's dynamic_metadata otherwise)",
			mo.GetReceivingNamespaces().GetUntyped(), lbNamespace)
	}
	return nil
}

func checkRoute(hcm *hcmv3.HttpConnectionManager) error {
	for _, vh := range hcm.GetRouteConfig().GetVirtualHosts() {
		for _, r := range vh.GetRoutes() {
			ra := r.GetRoute()
			if ra.GetCluster() != originalDstName {
				continue
			}
			if ra.GetTimeout().AsDuration() != 86400*time.Second {
				return fmt.Errorf("route to %s: timeout %v, expected 86400s", originalDstName, ra.GetTimeout().AsDuration())
			}
			return nil
		}
	}
	return fmt.Errorf("no inline route to cluster %s", originalDstName)
}

func checkOriginalDst(c *clusterv3.Cluster) error {
	if c == nil {
		return fmt.Errorf("no cluster %s", originalDstName)
	}
	if c.GetType() != clusterv3.Cluster_ORIGINAL_DST || c.GetLbPolicy() != clusterv3.Cluster_CLUSTER_PROVIDED {
		return fmt.Errorf("cluster %s: type %s, lb_policy %s; expected ORIGINAL_DST, CLUSTER_PROVIDED", c.Name, c.GetType(), c.GetLbPolicy())
	}
	od := c.GetOriginalDstLbConfig()
	if !od.GetUseHttpHeader() || od.GetHttpHeaderName() != destinationHeader {
		return fmt.Errorf("cluster %s: original_dst_lb_config must have use_http_header: true and http_header_name: %s, got %v",
			c.Name, destinationHeader, od)
	}
	return nil
}

func checkEPPCluster(c *clusterv3.Cluster) error {
	if c == nil {
		return fmt.Errorf("no cluster %s", eppCluster)
	}
	opts := &upstreamhttpv3.HttpProtocolOptions{}
	if err := unpack("cluster "+eppCluster+" "+httpOptionsKey, c.GetTypedExtensionProtocolOptions()[httpOptionsKey], opts); err != nil {
		return err
	}
	if opts.GetExplicitHttpConfig().GetHttp2ProtocolOptions() == nil {
		return fmt.Errorf("cluster %s: gRPC needs HTTP/2 (explicit_http_config.http2_protocol_options)", eppCluster)
	}
	ts := c.GetTransportSocket()
	tlsCtx := &tlsv3.UpstreamTlsContext{}
	if ts == nil {
		return fmt.Errorf("cluster %s: no transport_socket; the picker serves TLS by default", eppCluster)
	}
	if err := unpack("cluster "+eppCluster+" transport_socket", ts.GetTypedConfig(), tlsCtx); err != nil {
		return err
	}
	healthChecked := slices.ContainsFunc(c.GetHealthChecks(), func(hc *corev3.HealthCheck) bool {
		return hc.GetGrpcHealthCheck().GetServiceName() == extProcService
	})
	if !healthChecked {
		return fmt.Errorf("cluster %s: no grpc_health_check with service_name %q", eppCluster, extProcService)
	}
	for _, le := range c.GetLoadAssignment().GetEndpoints() {
		for _, ep := range le.GetLbEndpoints() {
			sa := ep.GetEndpoint().GetAddress().GetSocketAddress()
			if sa.GetAddress() == "infergate" && sa.GetPortValue() == 9002 {
				return nil
			}
		}
	}
	return fmt.Errorf("cluster %s: no endpoint infergate:9002", eppCluster)
}
