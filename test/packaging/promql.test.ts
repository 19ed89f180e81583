// The PromQL metric-name extractor the monitoring test relies on: it must
// find every metric and nothing else (labels, functions, keywords, strings,
// durations, Grafana variables).
import { describe, expect, it } from '@jest/globals';
import { grafanaQueryMetricNames, metricNames } from './support/promql.js';

const names = (e: string): string[] => [...metricNames(e)].sort();

describe('metricNames', () => {
  it('finds bare and selected metrics, and none of the labels in matchers', () => {
    expect(names('up{job="kvring"} == 0')).toEqual(['up']);
    expect(names('kvring_cache_bytes{namespace=~"$namespace", pod=~"$cluster-[0-9]+"}')).toEqual([
      'kvring_cache_bytes',
    ]);
    expect(names('a:recorded:rate5m + b')).toEqual(['a:recorded:rate5m', 'b']);
  });

  it('skips functions, aggregations and their grouping labels, ranges and Grafana intervals', () => {
    expect(
      names(
        'histogram_quantile(0.99, sum by (namespace, pod, le) (rate(kvring_postgres_query_duration_seconds_bucket{op="write"}[5m]))) > 0.25',
      ),
    ).toEqual(['kvring_postgres_query_duration_seconds_bucket']);
    expect(
      names(
        'sum without (instance) (rate(x_total[$__rate_interval])) / ignoring (source) group_left () sum(y)',
      ),
    ).toEqual(['x_total', 'y']);
    expect(names('count by (member) (kvring_member_up) and on () (sum(z) > 0) unless absent(w)')).toEqual([
      'kvring_member_up',
      'w',
      'z',
    ]);
    expect(names('max_over_time(m[10m:1m] offset 5m) or vector(1) bool')).toEqual(['m']);
  });

  it('skips strings, numbers with exponents and durations', () => {
    expect(names('label_replace(v, "dst_label", "$1", "src", "(.*)") * 1e3')).toEqual(['v']);
    expect(names("topk(5, q) + count_values('version', r)")).toEqual(['q', 'r']);
  });
});

describe('grafanaQueryMetricNames', () => {
  it('reads the metric of label_values(selector, label) and none of label_values(label)', () => {
    expect([
      ...grafanaQueryMetricNames('label_values(kvring_members{namespace=~"$namespace"}, pod)'),
    ]).toEqual(['kvring_members']);
    expect([...grafanaQueryMetricNames('label_values(namespace)')]).toEqual([]);
    expect([...grafanaQueryMetricNames('query_result(sum by (pod) (kvring_cache_entries))')]).toEqual([
      'kvring_cache_entries',
    ]);
  });
});
