/**
 * The architecture, checked (`npm run lint`, and test/architecture.test.ts in the suite):
 * - no import cycles, type-only imports included;
 * - workflow code is deterministic: files under workflows/ import only @temporalio/workflow, each
 *   other, activity *types*, and the pure modules (a feature's definitions.ts and rules.ts, the
 *   shared search attribute keys, the organisation hierarchy, channel names); those pure modules
 *   import nothing with I/O either;
 * - src/ never reaches into workflows/ or activities/ except the process wiring in src/runtime/;
 * - routes parse and authorise: they never hold a transaction or a feature's SQL;
 * - the console's browser code (src/console/web/) imports no server code, and no server code
 *   imports it: the two meet only over HTTP.
 *
 * @type {import('dependency-cruiser').IConfiguration}
 */
const PURE = [
  '^src/[^/]+/definitions\\.ts$',
  '^src/[^/]+/rules\\.ts$',
  '^src/[^/]+/rules/',
  '^src/directory/hierarchy\\.ts$',
  '^src/policies/resolution\\.ts$',
  '^src/callbacks/business-hours\\.ts$',
  '^src/temporal/search-attribute-keys\\.ts$',
  '^src/temporal/durability\\.ts$',
  '^src/channels/types\\.ts$',
];
const PURE_PACKAGES = ['^node_modules/@temporalio/(workflow|common)/', '^node_modules/luxon/'];

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'An import cycle (type-only imports count): a layer reaches back into one that depends on it.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'workflows-are-deterministic',
      severity: 'error',
      comment:
        'Workflow code may import only @temporalio/workflow, other workflow files, activity types and the pure modules (definitions.ts, rules.ts, hierarchy, search attribute keys, channel names).',
      from: { path: '^workflows/' },
      to: {
        dependencyTypesNot: ['type-only'],
        pathNot: ['^workflows/', ...PURE, ...PURE_PACKAGES],
      },
    },
    {
      name: 'workflows-import-activity-types-only',
      severity: 'error',
      comment: 'A workflow calls activities through proxyActivities; it imports their types, never their code.',
      from: { path: '^workflows/' },
      to: { path: '^activities/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'pure-modules-stay-pure',
      severity: 'error',
      comment: 'Modules the workflow bundle includes must not pull in I/O (pg, express, fs, the network, the clock).',
      from: { path: PURE },
      to: {
        dependencyTypesNot: ['type-only'],
        pathNot: [...PURE, ...PURE_PACKAGES],
      },
    },
    {
      name: 'src-does-not-reach-into-workflows-or-activities',
      severity: 'error',
      comment: 'Only the process wiring (src/runtime) composes activities; services start workflows by name.',
      from: { path: '^src/', pathNot: '^src/runtime/' },
      to: { path: '^(workflows|activities)/' },
    },
    {
      name: 'routes-stay-thin',
      severity: 'error',
      comment: 'Routes parse, authorise and call a service; transactions and SQL belong to services and stores.',
      from: { path: '^src/[^/]+/routes\\.ts$' },
      to: { path: ['^src/db/transaction\\.ts$', '^src/[^/]+/store\\.ts$', '^node_modules/pg/'], dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'console-web-imports-no-server-code',
      severity: 'error',
      comment: 'The console runs in the browser and talks to the API over HTTP: it imports npm packages and its own files only.',
      from: { path: '^src/console/web/' },
      to: { path: '^(src|workflows|activities)/', pathNot: '^src/console/web/' },
    },
    {
      name: 'server-code-does-not-import-the-console-web',
      severity: 'error',
      comment: 'The API serves the built console (dist/console) as files; it never imports its source.',
      from: { path: '^(src|workflows|activities)/', pathNot: '^src/console/web/' },
      to: { path: '^src/console/web/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    preserveSymlinks: true,
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    includeOnly: ['^src/', '^workflows/', '^activities/', '^node_modules/'],
    exclude: { path: ['\\.d\\.ts$'] },
    enhancedResolveOptions: { extensions: ['.ts', '.tsx', '.js', '.mjs', '.json'] },
  },
};
