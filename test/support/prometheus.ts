import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

// prom-client writes the text format but has no parser (prometheus/client_js#497), and the npm
// parser its users point to (parse-prometheus-text-format 1.1.1) drops the labels, _sum and _count
// of labelled histograms, which all of ours are. So this reads the text exposition format 0.0.4
// strictly, by its specification, and checks names with prom-client's own rules.
const { validateMetricName, validateLabelName } = require('prom-client/lib/validation.js') as {
  validateMetricName(name: string): boolean;
  validateLabelName(names: string[]): boolean;
};

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  /** The sample's own name: a histogram's are `<family>_bucket`, `_sum` and `_count`. */
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface MetricFamily {
  name: string;
  help: string;
  type: MetricType;
  samples: Sample[];
}

const TYPES = new Set<MetricType>(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+(-?\d+))?$/;
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)/y;
const SUFFIXES: Record<MetricType, string[]> = {
  counter: [''],
  gauge: [''],
  untyped: [''],
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['', '_sum', '_count'],
};

/** Parses a /metrics reply; throws on anything Prometheus would refuse. */
export function parseMetrics(text: string): Metrics {
  const families = new Map<string, MetricFamily>();
  const familyOf = (name: string): MetricFamily => {
    let family = families.get(name);
    if (!family) families.set(name, (family = { name, help: '', type: 'untyped', samples: [] }));
    return family;
  };
  const lines = text.split('\n');
  if (lines.pop() !== '') throw new Error('the exposition must end with a newline');
  lines.forEach((line, index) => {
    const where = `line ${index + 1} (${JSON.stringify(line)})`;
    if (line.trim() === '') return;
    if (line.startsWith('#')) {
      const comment = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) ?(.*)$/.exec(line);
      if (!comment) return; // any other comment is allowed
      const [, keyword, name, rest] = comment as unknown as [string, string, string, string];
      const family = familyOf(name);
      if (keyword === 'HELP') family.help = rest.replace(/\\n/g, '\n').replace(/\\\\/g, '\\');
      else if (TYPES.has(rest as MetricType) && family.samples.length === 0) family.type = rest as MetricType;
      else throw new Error(`${where}: bad TYPE, or TYPE after samples`);
      return;
    }
    const match = SAMPLE.exec(line);
    if (!match) throw new Error(`${where}: not a sample`);
    const [, name, labelText = '', rawValue] = match as unknown as [string, string, string | undefined, string];
    const value = rawValue === '+Inf' ? Infinity : rawValue === '-Inf' ? -Infinity : Number(rawValue);
    // Prometheus reads values with Go's strconv.ParseFloat, which takes NaN in any case: prom-client
    // writes `Nan` for a gauge without samples yet (the event-loop lag just after start).
    if (Number.isNaN(value) && rawValue.toLowerCase() !== 'nan') throw new Error(`${where}: ${rawValue} is no number`);
    const family = [...families.values()].find((candidate) => SUFFIXES[candidate.type].some((suffix) => candidate.name + suffix === name));
    if (!family) throw new Error(`${where}: sample of no declared family`);
    family.samples.push({ name, labels: parseLabels(labelText, where), value });
  });
  for (const family of families.values()) {
    if (!validateMetricName(family.name)) throw new Error(`invalid metric name ${family.name}`);
    if (!family.help) throw new Error(`${family.name} has no HELP`);
    for (const sample of family.samples) {
      if (!validateLabelName(Object.keys(sample.labels))) throw new Error(`invalid label names on ${sample.name}`);
    }
  }
  return new Metrics([...families.values()]);
}

function parseLabels(text: string, where: string): Record<string, string> {
  const labels: Record<string, string> = {};
  LABEL.lastIndex = 0;
  while (LABEL.lastIndex < text.length) {
    const match = LABEL.exec(text);
    if (!match) throw new Error(`${where}: bad labels`);
    const [, name, escaped] = match as unknown as [string, string, string];
    if (name in labels) throw new Error(`${where}: label ${name} twice`);
    labels[name] = escaped.replace(/\\(.)/g, (_, char: string) => (char === 'n' ? '\n' : char));
  }
  return labels;
}

export class Metrics {
  constructor(readonly families: MetricFamily[]) {}

  family(name: string): MetricFamily {
    const family = this.families.find((candidate) => candidate.name === name);
    if (!family) throw new Error(`no metric ${name}`);
    return family;
  }

  private sample(family: string, sampleName: string, labels: Record<string, string>): Sample | undefined {
    return this.family(family).samples.find(
      (sample) => sample.name === sampleName && Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
    );
  }

  /** A counter's or gauge's value for the sample with these labels; 0 when there is none yet. */
  value(name: string, labels: Record<string, string> = {}): number {
    return this.sample(name, name, labels)?.value ?? 0;
  }

  /** A histogram's count and sum for these labels (zeros when nothing was observed). */
  histogram(name: string, labels: Record<string, string> = {}): { count: number; sum: number } {
    return { count: this.sample(name, `${name}_count`, labels)?.value ?? 0, sum: this.sample(name, `${name}_sum`, labels)?.value ?? 0 };
  }
}
