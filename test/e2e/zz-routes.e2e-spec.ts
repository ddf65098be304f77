import { writeFileSync } from 'fs';
import { TestHarness } from '../support/harness';
it('routes', async () => {
  const h = await TestHarness.start();
  const doc = (await fetch(`${h.url}/docs-json`).then((r) => r.json())) as any;
  const out: string[] = [];
  for (const [p, ops] of Object.entries<any>(doc.paths)) for (const [m, op] of Object.entries<any>(ops)) {
    const ok = Object.entries<any>(op.responses ?? {}).filter(([s]) => s.startsWith('2')).map(([s, r]) => `${s}:${r.content ? Object.keys(r.content).join(',') + (JSON.stringify(r.content).includes('schema') ? '+schema' : '') : 'nocontent'}`);
    out.push(`${m.toUpperCase()} ${p} ${ok.join(' ')}`);
  }
  writeFileSync('/tmp/routes.txt', out.join('\n'));
  await h.stop();
});
