/**
 * Summarises V8 CPU profiles (BENCH_PROFILE=1 npm run bench): for each file, the
 * busy time, the top functions by self time and the time per package.
 *   npx tsx bench/profile-summary.ts [files…] (default: each role's busiest thread in bench/results/profiles/)
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const dir = path.resolve(import.meta.dirname, 'results/profiles');
/** Per role directory, the largest profile: the main thread (the loader's thread writes a small one). */
const busiest = (roleDir: string) =>
  readdirSync(roleDir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => path.join(roleDir, f))
    .sort((a, b) => statSync(b).size - statSync(a).size)[0];
const files = process.argv.slice(2).length
  ? process.argv.slice(2)
  : readdirSync(dir)
      .map((role) => busiest(path.join(dir, role)))
      .filter((f): f is string => f !== undefined);
const TOP = Number(process.env.TOP ?? 25);

/** node_modules/<pkg>, our own src/…, or node's internals. */
function ownerOf(url: string): string {
  const mod = /node_modules\/((@[^/]+\/)?[^/]+)/.exec(url);
  if (mod) return mod[1]!;
  if (url.includes('/src/')) return `src/${url.split('/src/')[1]!.split('/')[0]}`;
  if (url.startsWith('node:')) return 'node';
  return url ? 'other' : '(native/gc/idle)';
}

for (const file of files) {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  let total = 0;
  let idle = 0;
  const fns = new Map<string, number>();
  const owners = new Map<string, number>();
  for (const [id, us] of self) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    total += us;
    if (functionName === '(idle)') {
      idle += us;
      continue;
    }
    const key = `${functionName || '(anonymous)'} ${url.replace(/^.*node_modules\//, '').replace(/^.*\/src\//, 'src/')}:${lineNumber + 1}`;
    fns.set(key, (fns.get(key) ?? 0) + us);
    const owner = functionName === '(garbage collector)' ? 'gc' : ownerOf(url);
    owners.set(owner, (owners.get(owner) ?? 0) + us);
  }
  const busy = total - idle;
  const ms = (us: number) => `${(us / 1000).toFixed(0)} ms`;
  const pctOf = (us: number) => `${((100 * us) / busy).toFixed(1)}%`;
  console.log(`\n## ${path.relative(dir, file)}: ${ms(busy)} busy of ${ms(total)}`);
  console.log('by package:');
  for (const [owner, us] of [...owners].sort((a, b) => b[1] - a[1]).slice(0, 15))
    console.log(`  ${pctOf(us).padStart(6)}  ${owner}`);
  console.log(`top ${TOP} functions by self time:`);
  for (const [fn, us] of [...fns].sort((a, b) => b[1] - a[1]).slice(0, TOP))
    console.log(`  ${pctOf(us).padStart(6)}  ${fn}`);
}
