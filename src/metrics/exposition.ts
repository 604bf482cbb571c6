// Prometheus / OpenMetrics text exposition: parse, select series, turn counters into per-minute rates.
// Pure, so the openmetrics source is a thin HTTP shell around it.

export type MetricType =
  'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped' | 'unknown' | 'info' | 'stateset' | 'gaugehistogram';

export interface ExpositionSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Exposition {
  /** Family name → declared type. */
  types: Map<string, MetricType>;
  samples: ExpositionSample[];
}

function unescapeLabel(v: string): string {
  return v.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
}

function parseValue(text: string): number {
  if (text === '+Inf' || text === 'Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  const n = Number(text);
  if (text === '' || Number.isNaN(n)) throw new Error(`'${text}' is not a sample value`);
  return n;
}

/** Parses both the Prometheus 0.0.4 text format and OpenMetrics 1.0 (exemplars are dropped). */
export function parseExposition(text: string): Exposition {
  const types = new Map<string, MetricType>();
  const samples: ExpositionSample[] = [];
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n].trim();
    if (line === '' || line === '# EOF') continue;
    if (line.startsWith('#')) {
      const m = /^#\s+TYPE\s+(\S+)\s+(\S+)/.exec(line);
      if (m) types.set(m[1], m[2].toLowerCase() as MetricType);
      continue;
    }
    const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
    if (!nameMatch) throw new Error(`line ${n + 1}: '${line.slice(0, 80)}' is not a sample`);
    const name = nameMatch[0];
    let rest = line.slice(name.length);
    const labels: Record<string, string> = {};
    if (rest.startsWith('{')) {
      const re = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?/y;
      let i = 1;
      for (;;) {
        while (rest[i] === ' ') i++;
        if (rest[i] === '}') break;
        re.lastIndex = i;
        const lm = re.exec(rest);
        if (!lm) throw new Error(`line ${n + 1}: bad labels in '${line.slice(0, 80)}'`);
        labels[lm[1]] = unescapeLabel(lm[2]);
        i = re.lastIndex;
      }
      rest = rest.slice(i + 1);
    }
    // Value, then an optional timestamp, then an optional OpenMetrics exemplar after ' # '.
    const fields = rest.split(' # ')[0].trim().split(/\s+/);
    samples.push({ name, labels, value: parseValue(fields[0] ?? '') });
  }
  return { types, samples };
}

const SUFFIXES = ['_total', '_count', '_sum', '_bucket', '_created'];

/** The declared type of a sample's family (`foo_total` belongs to counter `foo` in OpenMetrics). */
export function sampleType(name: string, types: Map<string, MetricType>): MetricType {
  const direct = types.get(name);
  if (direct) return direct;
  for (const s of SUFFIXES) {
    if (name.endsWith(s)) {
      const t = types.get(name.slice(0, -s.length));
      if (t) return t;
    }
  }
  return 'untyped';
}

/** Whether a sample only ever goes up, so its per-minute rate is what matters. */
export function isCumulative(name: string, types: Map<string, MetricType>): boolean {
  const t = sampleType(name, types);
  if (name.endsWith('_created')) return false;
  if (t === 'counter') return true;
  if (t === 'histogram' || t === 'summary')
    return name.endsWith('_count') || name.endsWith('_sum') || name.endsWith('_bucket');
  // Untyped `_total` series are counters by convention.
  return t === 'untyped' && name.endsWith('_total');
}

export type Aggregation = 'sum' | 'avg' | 'min' | 'max';

export interface Matcher {
  label: string;
  op: '=' | '!=' | '=~' | '!~';
  value: string;
}

/** `name`, `name{label="v",other=~"re"}`, optionally wrapped in sum( ) / avg( ) / min( ) / max( ). */
export interface Selector {
  aggregation?: Aggregation;
  name: string;
  matchers: Matcher[];
}

export function parseSelector(query: string): Selector {
  let q = query.trim();
  let aggregation: Aggregation | undefined;
  const agg = /^(sum|avg|min|max)\s*\((.*)\)$/s.exec(q);
  if (agg) {
    aggregation = agg[1] as Aggregation;
    q = agg[2].trim();
  }
  const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?:\{(.*)\})?$/s.exec(q);
  if (!m)
    throw new Error(`'${query}' is not a metric selector (name{label="value"}, optionally inside sum/avg/min/max)`);
  const matchers: Matcher[] = [];
  const body = (m[2] ?? '').trim();
  const re = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(,|$)/y;
  let i = 0;
  while (i < body.length) {
    re.lastIndex = i;
    const lm = re.exec(body);
    if (!lm) throw new Error(`'${query}': bad label matcher near '${body.slice(i, i + 30)}'`);
    matchers.push({ label: lm[1], op: lm[2] as Matcher['op'], value: unescapeLabel(lm[3]) });
    i = re.lastIndex;
  }
  return { aggregation, name: m[1], matchers };
}

function matches(sample: ExpositionSample, sel: Selector): boolean {
  if (sample.name !== sel.name) return false;
  return sel.matchers.every((mt) => {
    const v = sample.labels[mt.label] ?? '';
    switch (mt.op) {
      case '=':
        return v === mt.value;
      case '!=':
        return v !== mt.value;
      case '=~':
        return new RegExp(`^(?:${mt.value})$`).test(v);
      case '!~':
        return !new RegExp(`^(?:${mt.value})$`).test(v);
    }
  });
}

export function seriesKey(s: ExpositionSample): string {
  return `${s.name}{${Object.keys(s.labels)
    .sort()
    .map((k) => `${k}="${s.labels[k]}"`)
    .join(',')}}`;
}

export interface Scrape {
  /** When the scrape completed (ms since epoch). */
  at: number;
  exposition: Exposition;
}

export type Evaluation =
  { kind: 'value'; value: number } | { kind: 'no-data'; reason: string } | { kind: 'many-series'; series: string[] };

/**
 * The selector's value in `current`; cumulative series become a per-minute rate against `previous`
 * (a counter that went down was reset: its whole value counts as the increase, as Prometheus' rate() does).
 */
export function evaluateSelector(sel: Selector, current: Scrape, previous?: Scrape): Evaluation {
  const picked = current.exposition.samples.filter((s) => matches(s, sel));
  if (picked.length === 0) return { kind: 'no-data', reason: `no series ${sel.name} in the exposition` };
  if (picked.length > 1 && !sel.aggregation) return { kind: 'many-series', series: picked.map(seriesKey) };
  const values: number[] = [];
  for (const s of picked) {
    if (!isCumulative(s.name, current.exposition.types)) {
      values.push(s.value);
      continue;
    }
    if (!previous) return { kind: 'no-data', reason: `${sel.name} is a counter: its rate needs a second scrape` };
    const minutes = (current.at - previous.at) / 60_000;
    if (minutes <= 0) return { kind: 'no-data', reason: 'two scrapes at the same instant' };
    const key = seriesKey(s);
    const before = previous.exposition.samples.find((p) => seriesKey(p) === key);
    // A series that appeared since the last scrape started from zero.
    const increase = before === undefined || s.value < before.value ? s.value : s.value - before.value;
    values.push(increase / minutes);
  }
  const finite = values.filter((v) => !Number.isNaN(v));
  if (finite.length === 0) return { kind: 'no-data', reason: `${sel.name} is NaN` };
  switch (sel.aggregation ?? 'sum') {
    case 'sum':
      return { kind: 'value', value: finite.reduce((a, b) => a + b, 0) };
    case 'avg':
      return { kind: 'value', value: finite.reduce((a, b) => a + b, 0) / finite.length };
    case 'min':
      return { kind: 'value', value: Math.min(...finite) };
    case 'max':
      return { kind: 'value', value: Math.max(...finite) };
  }
}
