/** The bus listener's counters in Prometheus' text exposition format, on a small HTTP server. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Metric {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge';
  readonly samples: readonly { readonly labels?: Readonly<Record<string, string>>; readonly value: number }[];
}

export function renderMetrics(metrics: readonly Metric[]): string {
  const lines: string[] = [];
  for (const metric of metrics) {
    lines.push(`# HELP ${metric.name} ${metric.help}`, `# TYPE ${metric.name} ${metric.type}`);
    for (const sample of metric.samples) {
      const labels = Object.entries(sample.labels ?? {})
        .map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
        .join(',');
      lines.push(`${metric.name}${labels ? `{${labels}}` : ''} ${sample.value}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

export async function serveMetrics(listen: string, collect: () => Promise<readonly Metric[]>): Promise<{ port: number; close(): Promise<void> }> {
  const [host = '127.0.0.1', port = '0'] = listen.split(':');
  const server: Server = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end('see /metrics\n');
      return;
    }
    collect().then(
      (metrics) => res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(renderMetrics(metrics)),
      (err: Error) => res.writeHead(500).end(`${err.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(port), host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
