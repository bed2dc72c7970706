/**
 * The few metrics `/metrics` exposes, in Prometheus' text format (version 0.0.4): counters, gauges read when
 * scraped, and cumulative histograms.
 */

type Labels = Readonly<Record<string, string>>;

const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const labelText = (labels: Labels) => {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
};
const num = (x: number) => (Number.isFinite(x) ? String(x) : x > 0 ? '+Inf' : x < 0 ? '-Inf' : 'NaN');

interface Metric {
  render(): string[];
}

class Counter implements Metric {
  private readonly values = new Map<string, number>();
  constructor(readonly name: string, readonly help: string) {}
  inc(labels: Labels = {}, by = 1): void {
    const key = labelText(labels);
    this.values.set(key, (this.values.get(key) ?? 0) + by);
  }
  get(labels: Labels = {}): number {
    return this.values.get(labelText(labels)) ?? 0;
  }
  render(): string[] {
    const rows = this.values.size ? [...this.values].map(([k, v]) => `${this.name}${k} ${num(v)}`) : [`${this.name} 0`];
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`, ...rows];
  }
}

class Gauge implements Metric {
  constructor(readonly name: string, readonly help: string, private readonly read: () => number) {}
  render(): string[] {
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`, `${this.name} ${num(this.read())}`];
  }
}

class Histogram implements Metric {
  private readonly series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  constructor(readonly name: string, readonly help: string, private readonly buckets: readonly number[]) {}
  observe(value: number, labels: Labels = {}): void {
    const key = labelText(labels);
    let s = this.series.get(key);
    if (!s) this.series.set(key, (s = { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 }));
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) s.counts[i]!++;
    s.sum += value;
    s.count++;
  }
  render(): string[] {
    const rows: string[] = [];
    for (const { labels, counts, sum, count } of this.series.values()) {
      this.buckets.forEach((le, i) => rows.push(`${this.name}_bucket${labelText({ ...labels, le: num(le) })} ${counts[i]}`));
      rows.push(`${this.name}_bucket${labelText({ ...labels, le: '+Inf' })} ${count}`);
      rows.push(`${this.name}_sum${labelText(labels)} ${num(sum)}`, `${this.name}_count${labelText(labels)} ${count}`);
    }
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`, ...rows];
  }
}

/** A counter kept elsewhere (by the worker pools), read when scraped: one series per label value. */
class ReadCounter implements Metric {
  constructor(readonly name: string, readonly help: string, private readonly label: string, private readonly read: () => Readonly<Record<string, number>>) {}
  render(): string[] {
    const rows = Object.entries(this.read()).map(([value, n]) => `${this.name}${labelText({ [this.label]: value })} ${num(n)}`);
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`, ...rows];
  }
}

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256];

export class Metrics {
  readonly requests = new Counter('tagbooru_http_requests_total', 'HTTP requests answered, by route, method and status.');
  readonly latency = new Histogram('tagbooru_http_request_duration_seconds', 'Time from request to response, by route.', LATENCY_BUCKETS);
  readonly imagesTagged = new Counter('tagbooru_images_tagged_total', 'Images tagged.');
  readonly imagesRejected = new Counter('tagbooru_images_rejected_total', 'Uploads refused as images (not an image, corrupt, over the pixel limit).');
  readonly batchSize = new Histogram('tagbooru_batch_size', 'Images per inference call (micro-batching).', BATCH_BUCKETS);
  readonly inference = new Histogram('tagbooru_inference_duration_seconds', 'Time of one inference call.', LATENCY_BUCKETS);
  readonly imagesExplained = new Counter('tagbooru_images_explained_total', 'Images explained (tag maps), by method.');
  readonly explaining = new Histogram('tagbooru_explain_duration_seconds', 'Time to explain one image, queueing included, by method.', LATENCY_BUCKETS);
  private readonly gauges: Gauge[];
  private readonly respawns: ReadCounter;

  constructor(read: {
    queueDepth: () => number;
    running: () => number;
    inFlight: () => number;
    explainQueueDepth: () => number;
    explainInFlight: () => number;
    respawns: () => Readonly<Record<string, number>>;
  }) {
    this.respawns = new ReadCounter('tagbooru_worker_respawns_total', 'Worker threads started to replace one that died, by pool.', 'pool', read.respawns);
    this.gauges = [
      new Gauge('tagbooru_queue_depth', 'Images waiting for an inference worker.', read.queueDepth),
      new Gauge('tagbooru_images_running', 'Images inside a running inference call.', read.running),
      new Gauge('tagbooru_requests_in_flight', 'Tagging requests admitted and not yet answered.', read.inFlight),
      new Gauge('tagbooru_explain_queue_depth', 'Images waiting for the explain worker.', read.explainQueueDepth),
      new Gauge('tagbooru_explain_requests_in_flight', 'Explain requests admitted and not yet answered.', read.explainInFlight),
    ];
  }

  render(): string {
    const all: Metric[] = [this.requests, this.latency, this.imagesTagged, this.imagesRejected, this.batchSize, this.inference, this.imagesExplained, this.explaining, this.respawns, ...this.gauges];
    return `${all.flatMap((m) => m.render()).join('\n')}\n`;
  }
}
