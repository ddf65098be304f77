import { readFileSync } from 'node:fs';
import { join } from 'node:path';

// Issue 11, item 13: every setting the service reads is in the README's configuration table.
describe('README configuration table', () => {
  const root = join(__dirname, '../../../..');
  const source = readFileSync(join(__dirname, 'app-config.ts'), 'utf8');
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const table = readme.slice(readme.indexOf('## Configuration'), readme.indexOf('\n## ', readme.indexOf('## Configuration') + 5));

  it('lists every environment variable loadConfig reads', () => {
    const names = new Set([...source.matchAll(/\(env, '([A-Z][A-Z0-9_]+)'/g)].map((m) => m[1]));
    expect(names.size).toBeGreaterThan(30);
    const missing = [...names].filter((n) => !table.includes(`\`${n}\``));
    expect(missing).toEqual([]);
  });

  it('points at no file outside the repository', () => {
    expect(readme).not.toMatch(/\]\(\.\.\//);
    expect(readme).not.toMatch(/\.\.\/shared|\.\.\/\.library/);
  });
});
