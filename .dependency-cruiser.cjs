/**
 * Folders depend inward only. From the inside out:
 *   domain   purchase/, catalog/, errors, ids, keys, config, logger, telemetry — what a purchase is
 *   infra    stores/, queues/, adapters/, metrics/, http/, redis — how it is kept and carried
 *   engine   saga/, audit — what happens to it
 *   edges    workers/ (runs the engine), auth/, api/ (serve HTTP; api may use auth's algorithms)
 *   roots    system, roles/ (one starter per role), main, audit-cli, local-redis — wire everything,
 *            imported by nothing but each other
 * Outside src/: harness/ (real redis-servers, free ports, the poller) is shared by test/, bench/ and
 * scripts/; bench/ and scripts/ never reach into test/.
 * A rule below forbids each import that points outward, and every cycle.
 */
const DOMAIN = '^src/(purchase/|catalog/|errors\\.ts|ids\\.ts|keys\\.ts|config\\.ts|logger\\.ts|telemetry\\.ts)';
const INFRA = '^src/(stores/|queues/|adapters/|metrics/|http/|redis\\.ts)';
const ENGINE = '^src/(saga/|audit\\.ts)';
const ROOTS = '^src/((system|main|audit-cli|local-redis)\\.ts$|roles/)';

const outward = (name, from, to) => ({ name, severity: 'error', from: { path: from }, to: { path: to } });

module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
    outward('domain-is-innermost', DOMAIN, `${INFRA}|${ENGINE}|^src/(workers|auth|api)/|${ROOTS}`),
    outward('infra-below-engine', INFRA, `${ENGINE}|^src/(workers|auth|api)/|${ROOTS}`),
    outward('engine-below-edges', ENGINE, `^src/(workers|auth|api)/|${ROOTS}`),
    outward('workers-serve-no-http', '^src/workers/', `^src/(auth|api)/|${ROOTS}`),
    outward('auth-below-api', '^src/auth/', `^src/(workers|api|saga)/|${ROOTS}`),
    outward('api-does-not-run-workers', '^src/api/', `^src/workers/|${ROOTS}`),
    { ...outward('roots-are-not-imported', '^src/', ROOTS), from: { path: '^src/', pathNot: ROOTS } },
    outward('src-stands-alone', '^src/', '^(test|bench|scripts|client|harness)/'),
    outward('harness-is-shared', '^harness/', '^(test|bench|scripts)/'),
    outward('bench-and-scripts-do-not-use-tests', '^(bench|scripts)/', '^test/'),
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '\\.lua$' },
  },
};
