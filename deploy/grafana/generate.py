#!/usr/bin/env python3
"""Writes deploy/grafana/infergate.json, InferGate's Grafana dashboard: pools, endpoints, models,
the picker and flow control, from the families the gateway exports (docs/observability.md).

Run it after changing a panel: python3 deploy/grafana/generate.py. The observability test checks
that every metric its queries name is exported."""
import json
import pathlib

DS = {"type": "prometheus", "uid": "${datasource}"}
POOL = 'name=~"$pool"'
EP_POOL = 'pool=~"$pool"'


def panel(title, exprs, unit="short", kind="timeseries", legend=None):
    targets = []
    for i, expr in enumerate(exprs):
        e, fmt = expr if isinstance(expr, tuple) else (expr, legend)
        targets.append({"datasource": DS, "expr": e, "legendFormat": fmt or "__auto",
                        "refId": chr(ord("A") + i)})
    return {"type": kind, "title": title, "datasource": DS, "targets": targets,
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []}}


def quantile(q, metric, by):
    return (f"histogram_quantile({q}, sum by (le, {by}) "
            f"(rate({metric}_bucket[$__rate_interval])))")


ROWS = [
    ("Pools", [
        panel("Ready endpoints", [f"llm_d_epp_ready_endpoints{{{POOL}}}"], legend="{{name}}"),
        panel("Mean KV-cache use", [f"llm_d_epp_average_kv_cache_utilization{{{POOL}}}"],
              unit="percentunit", legend="{{name}}"),
        panel("Mean engine queue", [f"llm_d_epp_average_queue_size{{{POOL}}}"], legend="{{name}}"),
        panel("Queue spread (standard deviation)", [f"llm_d_epp_std_dev_queue_size{{{POOL}}}"],
              legend="{{name}}"),
    ]),
    ("Endpoints", [
        panel("In-flight requests (gateway)",
              [f"infergate_endpoint_in_flight_requests{{{EP_POOL}}}"], legend="{{endpoint}}"),
        panel("Engine queue", [f"infergate_endpoint_queue_size{{{EP_POOL}}}"],
              legend="{{endpoint}}"),
        panel("KV-cache use", [f"infergate_endpoint_kv_cache_utilization{{{EP_POOL}}}"],
              unit="percentunit", legend="{{endpoint}}"),
        panel("Health: scraping and ejection", [
            (f"infergate_endpoint_scrape_healthy{{{EP_POOL}}}", "healthy {{endpoint}}"),
            (f"infergate_endpoint_ejected{{{EP_POOL}}}", "ejected {{endpoint}}"),
        ]),
        panel("Scrape failures /s", [
            f"rate(infergate_endpoint_scrape_failures_total{{{EP_POOL}}}[$__rate_interval])"],
            legend="{{endpoint}}"),
        panel("Scrape age", [f"infergate_endpoint_scrape_age_seconds{{{EP_POOL}}}"], unit="s",
              legend="{{endpoint}}"),
    ]),
    ("Models", [
        panel("Requests /s by model",
              ["sum by (model_name) (rate(llm_d_epp_request_total[$__rate_interval]))"],
              unit="reqps", legend="{{model_name}}"),
        panel("Errors /s by code",
              ["sum by (model_name, error_code) "
               "(rate(llm_d_epp_request_error_total[$__rate_interval]))"],
              unit="reqps", legend="{{model_name}} {{error_code}}"),
        panel("TTFT p50 / p90 / p99 by model", [
            (quantile(0.5, "llm_d_epp_request_ttft_seconds", "model_name"), "p50 {{model_name}}"),
            (quantile(0.9, "llm_d_epp_request_ttft_seconds", "model_name"), "p90 {{model_name}}"),
            (quantile(0.99, "llm_d_epp_request_ttft_seconds", "model_name"), "p99 {{model_name}}"),
        ], unit="s"),
        panel("Inter-token latency p50 / p99", [
            (quantile(0.5, "llm_d_epp_request_streaming_itl_seconds", "model_name"),
             "p50 {{model_name}}"),
            (quantile(0.99, "llm_d_epp_request_streaming_itl_seconds", "model_name"),
             "p99 {{model_name}}"),
        ], unit="s"),
        panel("Output tokens /s", [
            "sum by (model_name) (rate(llm_d_epp_request_output_tokens_sum[$__rate_interval]))"],
            legend="{{model_name}}"),
        panel("Running requests", ["sum by (model_name) (llm_d_epp_request_running)"],
              legend="{{model_name}}"),
    ]),
    ("Picker", [
        panel("Decision latency p50 / p99", [
            (quantile(0.5, "infergate_scheduler_e2e_duration_seconds", "instance"), "p50"),
            (quantile(0.99, "infergate_scheduler_e2e_duration_seconds", "instance"), "p99"),
        ], unit="s"),
        panel("Plugin latency p99", [
            quantile(0.99, "infergate_scheduler_plugin_duration_seconds", "plugin_name")],
            unit="s", legend="{{plugin_name}}"),
        panel("Prefix cache hit ratio (mean)", [
            "sum(rate(llm_d_epp_prefix_indexer_hit_ratio_sum[$__rate_interval])) / "
            "sum(rate(llm_d_epp_prefix_indexer_hit_ratio_count[$__rate_interval]))"],
            unit="percentunit", legend="hit ratio"),
        panel("Picks /s by endpoint", [
            "sum by (endpoint_name, status) "
            "(rate(llm_d_epp_scheduler_attempts_total[$__rate_interval]))"],
            legend="{{endpoint_name}} {{status}}"),
    ]),
    ("Flow control", [
        panel("Saturation", ["llm_d_epp_flow_control_pool_saturation"],
              legend="{{inference_pool}}"),
        panel("Queued requests by priority",
              ["sum by (inference_pool, priority) (llm_d_epp_flow_control_queue_size)"],
              legend="{{inference_pool}} priority {{priority}}"),
        panel("Shed /s by reason",
              ["sum by (priority, reason) (rate(infergate_flow_control_shed_total[$__rate_interval]))"],
              unit="reqps", legend="priority {{priority}} {{reason}}"),
        panel("Queue wait p99 by outcome", [
            quantile(0.99, "llm_d_epp_flow_control_request_queue_duration_seconds", "outcome")],
            unit="s", legend="{{outcome}}"),
    ]),
]


def dashboard():
    # Each row's header, then its panels two to a line.
    panels, y = [], 0
    for title, row in ROWS:
        panels.append({"type": "row", "title": title, "id": len(panels) + 1, "collapsed": False,
                       "gridPos": {"x": 0, "y": y, "w": 24, "h": 1}})
        y += 1
        for i, p in enumerate(row):
            panels.append(dict(p, id=len(panels) + 1,
                               gridPos={"x": (i % 2) * 12, "y": y + (i // 2) * 8, "w": 12,
                                        "h": 8}))
        y += (len(row) + 1) // 2 * 8
    return {
        "title": "InferGate", "uid": "infergate", "schemaVersion": 39, "version": 1,
        "editable": True, "refresh": "10s", "time": {"from": "now-1h", "to": "now"},
        "tags": ["infergate", "inference-gateway"],
        "templating": {"list": [
            {"name": "datasource", "type": "datasource", "query": "prometheus",
             "label": "Data source"},
            {"name": "pool", "type": "query", "datasource": DS, "label": "Pool",
             "query": "label_values(llm_d_epp_ready_endpoints, name)", "includeAll": True,
             "multi": True, "current": {"text": "All", "value": "$__all"}, "refresh": 2},
        ]},
        "panels": panels,
    }


if __name__ == "__main__":
    path = pathlib.Path(__file__).with_name("infergate.json")
    path.write_text(json.dumps(dashboard(), indent=2) + "\n")
    print(f"wrote {path}")
