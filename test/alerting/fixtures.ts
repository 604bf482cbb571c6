// The watch both the exact-text tests and promtool's run on: every rule kind against baseline before:, an SLO on errors.
const BEFORE_RULES = `
- name: users
  query: shop_users{instance="{host}:9100"}
  min: 10
- name: error rate
  query: sum(rate(errors_total[1m]))
  max: 0.05
  no-data: pass
  severity: ticket
  runbook: https://runbooks.example.com/error-rate
- name: latency p99
  query: histogram_quantile(0.99, sum by (le) (rate(latency_bucket[1m])))
  min: 0
  max: 2.5
  max-rise: 50%
  for: 3
  no-data: inconclusive
- name: revenue
  query: sum(rate(revenue_total[5m])) * 60
  max-drop: 20
  max-rise: 1000
- name: checkout conversion
  query: sum(rate(orders_total[5m])) / sum(rate(visits_total[5m]))
  max-drop: 25%
  for: 2
- name: checkout errors
  slo: 99.9%
  errors: sum(rate(http_requests_total{code=~"5..",instance="{host}"}[{window}]))
  total: sum(rate(http_requests_total{instance="{host}"}[{window}]))
`;

export const BEFORE_SETTINGS = {
  hosts: 'web1\nweb2.example.com',
  'canary-hosts': 'web3',
  baseline: 'before:30m',
  duration: '5m',
  interval: '30s',
  environment: 'production',
  rules: BEFORE_RULES,
};
